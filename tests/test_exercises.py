"""The committed student questionnaires: generated from the solutions, and runnable as handed out."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit.grading.release import ANSWER_KEY, PATTERN, release

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = REPO / "solutions", REPO / "exercises"


def test_every_solution_questionnaire_has_a_committed_exercise():
    solutions = sorted(p.name for p in SOLUTIONS.glob(PATTERN))
    assert solutions and solutions == sorted(p.name for p in EXERCISES.glob(PATTERN))


def test_committed_exercises_are_what_release_generates():
    stale = release(SOLUTIONS, EXERCISES, check=True)
    assert not stale, ("the student copies in exercises/ differ from what their solutions generate: "
                       f"{', '.join(p.name for p in stale)}. Run `make exercises` and commit the result.")


def _printed(cell) -> str:
    """Return what a code cell printed or displayed, as text."""
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


@pytest.mark.parametrize("path", sorted(EXERCISES.glob(PATTERN)), ids=lambda p: p.name)
def test_exercise_runs_headless_and_scores_zero(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on any cell error
    namespace: dict = {}
    exec(next(c.source for c in nb.cells if ANSWER_KEY in c.metadata.get("tags", [])), namespace)
    n = len(namespace["quiz"].specs)
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert _printed(nb.cells[-1]).splitlines()[-1] == f"Score: 0/{n}"
