"""The statuses a graded submission can get, in one place: their names, what each means, which one wins.

A submission that ran gets the first status of `PRECEDENCE` that its run earned (a tampered notebook is
`tampered` whatever else it did); one that could not run gets one of `FAILED`, with nothing graded.
"""
from __future__ import annotations

GRADED, ERROR, MEMORY, TIMEOUT, KERNEL_DIED, TAMPERED = "graded", "error", "memory", "timeout", "kernel-died", "tampered"
INVALID, EMPTY, MISSING, GRADER_ERROR = "invalid-notebook", "empty", "missing", "grader-error"

MEANINGS = {
    GRADED: "Every cell ran; the answers were graded.",
    ERROR: "Some cells raised errors; the notebook ran on, and every answer it defined was graded.",
    MEMORY: "A cell ran past the memory limit and failed; the notebook ran on, and the answers were graded.",
    TIMEOUT: "A cell ran past its time limit and was interrupted, or the notebook ran out of time; "
             "the answers defined by then were graded.",
    KERNEL_DIED: "The notebook stopped its Python kernel (exit, crash, kill, or its folder past the disk limit); "
                 "the answers defined by the cells before that one were graded.",
    TAMPERED: "The notebook reached for the grading machinery or the grader's files; it is flagged for review "
              "and its total is 0 until then (the question columns show what its answers earned).",
    INVALID: "The file is not a readable Jupyter notebook (nbformat 4); nothing was run.",
    EMPTY: "The file is empty; nothing was run.",
    MISSING: "No notebook was found for this student.",
    GRADER_ERROR: "The grader itself failed on this submission; re-run to retry it.",
}
NOT_GRADED = {MISSING: "no notebook was found", EMPTY: "the notebook is empty",
              INVALID: "the notebook could not be read", GRADER_ERROR: "the grader failed"}
PRECEDENCE = (TAMPERED, KERNEL_DIED, TIMEOUT, MEMORY, ERROR, GRADED)
FAILED = (INVALID, EMPTY, MISSING, GRADER_ERROR)
RAN = (GRADED, ERROR, MEMORY)  # the statuses the summary counts as graded


def run_status(kinds: set[str]) -> str:
    """Return the status of a run whose events were of `kinds`: the first of `PRECEDENCE` among them."""
    return next((s for s in PRECEDENCE if s in kinds), GRADED)


def why_not_graded(status: str) -> str:
    """Return the feedback of a question that was not graded because the submission got `status`."""
    return f"Not graded: {NOT_GRADED.get(status, status)}."
