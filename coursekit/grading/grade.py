"""Classroom grading: `coursekit grade SUBMISSIONS --assignment NAME` turns a folder of notebooks into a gradebook.

The submissions are found and read by `submissions.py`. Each one, in parallel (an `Executor`: the local
pool, one worker process per core by default, or a Dask cluster, `--scheduler`):
1. is read, never changed: a symbolic link, a file that is not JSON or not nbformat 4, or an empty file
   gets its status and no run;
2. is scanned for tampering (`tamper.py`);
3. runs top to bottom, errors and all, in a fresh kernel behind its sandbox (`boundary.py`: bwrap, by
   default; `sandbox.py`: the guard and limits inside), from a copy in a private folder, with a time limit
   per cell, one for the whole notebook, a memory limit and a disk limit;
4. is judged in the grader's own process (`judge.py`): the questionnaire's own test cells are run again as
   released, then the answers are found by name, checked against the key of the solution notebook, and
   put through the hidden checks. A kernel that dies (or gets stuck) at some cell is started again and
   runs only the cells before that one: the answers given before the failure count.
What grading one submission found is an `Outcome`; its line of the gradebook (`gradebook.py`) goes, as
soon as it is ready, into the cache there, the gradebook files at the end. nbgrader (`nbgrader autograde`)
and otter-grader (`otter grade`) do the same job with more setup: a course database, or a Docker image per
assignment; this grader needs only the solution notebook. Like them it re-runs the checks itself instead
of trusting the student's notebook, and, like nbgrader, it runs hidden tests that the student copy never held.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .assignment import Assignment, load_assignment
from .gradebook import ResultCache, summarise, summary_line, write_gradebook
from .quiz import Result
from .sandbox import DISK_FULL, Limits, Sandbox, font_cache
from .statuses import ERROR, GRADER_ERROR, KERNEL_DIED, MEMORY, TAMPERED, TIMEOUT, run_status, why_not_graded
from .submissions import Cell, Submission, code_cells, find_solution, layout_notes, open_submission, submissions_in

if TYPE_CHECKING:
    from .kernel import Kernel

GRADER_VERSION = "2"
MAX_ATTEMPTS = 3  # a first run, then re-runs stopping before the cell that killed the kernel
FLOOD = 2**20  # a cell printing more characters than this gets a note
MAX_NOTES = 25
FONTS = "matplotlib-fonts"  # the folder of the scratch folder that holds the font list sandboxes copy
MEMORY_ERRORS = ("MemoryError", "_ArrayMemoryError")


@dataclass
class Attempt:
    """One run of a submission in a fresh kernel: what its cells did, where the kernel stopped, the verdicts."""
    events: list[tuple[str, str]] = field(default_factory=list)
    stopped_at: int | None = None
    results: dict[str, Result] | None = None
    stuck: bool = False


@dataclass
class Run:
    """What running and judging a submission found, over all its attempts."""
    results: dict[str, Result]
    events: list[tuple[str, str]] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    stuck: bool = False


@dataclass
class Outcome:
    """What grading one submission found: its status, verdicts (None: nothing ran), notes, flags, and more."""
    status: str
    results: dict[str, Result] | None = None
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    refusals: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    sandbox: str | None = None

    def row(self, sub: Submission, assignment: Assignment) -> dict:
        """Return the student's line of the gradebook as a JSON-ready dict."""
        specs = assignment.quiz.specs
        results = self.results or {qid: Result(qid, "unanswered", 0, spec["points"], why_not_graded(self.status))
                                   for qid, spec in specs.items()}
        questions = {qid: results[qid].as_dict() for qid in specs}
        earned = sum(q["points"] for q in questions.values())
        return {"student": sub.student, "notebook": str(sub.path.name) if sub.path else None, "status": self.status,
                "total": 0 if self.status == TAMPERED else earned, "earned": earned, "max": assignment.max_points,
                "questions": questions, "notes": [n[:300] for n in self.notes[:MAX_NOTES]],
                "flags": self.flags[:MAX_NOTES], "refusals": self.refusals[:MAX_NOTES],
                "seconds": round(self.seconds, 2), "sandbox": self.sandbox}


# ---------------------------------------------------------------- running and judging

def _is_memory(ename: str, evalue: str) -> bool:
    """Return True for the errors a failed allocation raises (Python's, NumPy's, PyTorch's)."""
    return ename in MEMORY_ERRORS or "can't allocate memory" in evalue or "Cannot allocate memory" in evalue


def run_cells(kernel: "Kernel", cells: list[Cell], limits: Limits) -> Attempt:
    """Run `cells` in order under the time limits; return what happened and where the kernel stopped, if it did."""
    deadline, attempt = time.monotonic() + limits.timeout, Attempt()
    for k, (number, source, _, _) in enumerate(cells):
        left = deadline - time.monotonic()
        if left <= 0:
            attempt.events.append((TIMEOUT, f"the notebook ran out of its {limits.timeout:g} s before cell "
                                              f"{number}; that cell and the ones after it did not run"))
            break
        run = kernel.run(source, min(limits.cell_timeout, left))
        if run.printed > FLOOD:
            attempt.events.append(("flood", f"cell {number} printed {run.printed / 2**20:.1f} MB of output, "
                                            "which the grader does not keep"))
        if run.status == "died":
            why = (f"filled more than the {limits.disk_mb} MB its folder may hold, and the grader stopped the "
                   "kernel" if run.ename == DISK_FULL else "stopped the Python kernel")
            attempt.events.append((KERNEL_DIED, f"cell {number} {why}; the cells "
                                                  "before it were run again and their answers graded"))
            attempt.stopped_at = k
            return attempt
        if run.status == "timeout":
            limit = "the cell limit" if left > limits.cell_timeout else "the notebook's time"
            attempt.events.append((TIMEOUT, f"cell {number} ran past {limit} and was interrupted"))
            if not kernel.responsive():
                attempt.events.append((TIMEOUT, f"cell {number} could not be interrupted; the cells before "
                                                  "it were run again and their answers graded"))
                attempt.stopped_at = k
                return attempt
        elif run.status == "error":
            kind = MEMORY if _is_memory(run.ename, run.evalue) else ERROR
            attempt.events.append((kind, f"cell {number} raised {run.ename}: {run.evalue}".rstrip(": ")))
    return attempt


def _one_attempt(sandbox: Sandbox, copy: tuple[str, bytes], cells: list, assignment: Assignment,
                 limits: Limits, protected: list[Path]) -> Attempt:
    """Run `cells` in a fresh kernel in `sandbox`, then judge the answers unless the kernel stopped first."""
    from .judge import judge
    from .kernel import Kernel
    (sandbox.work / copy[0]).write_bytes(copy[1])
    with Kernel(sandbox, limits, protected) as kernel:
        attempt = run_cells(kernel, cells, limits)
        if attempt.stopped_at is None:
            attempt.events += rerun_checking_cells(kernel, assignment, limits)
            attempt.results, attempt.stuck = judge(assignment, kernel.ask)
            attempt.events += list(dict.fromkeys(kernel.trouble))
    return attempt


def rerun_checking_cells(kernel: "Kernel", assignment: Assignment, limits: Limits) -> list[tuple[str, str]]:
    """Run the released checking cells again (see `assignment.py`); return a note for each that failed."""
    from .kernel import KernelDied
    events = []
    for source in assignment.checking:
        run = kernel.run(source, limits.cell_timeout)
        if run.status == "died":
            raise KernelDied("the kernel died while the grader ran the questionnaire's test code again")
        if run.status != "ok":
            events.append(("note", f"the questionnaire's test code `{source.splitlines()[0][:60]}`, run again by "
                                   f"the grader, failed ({run.ename or run.status})"))
    return events


def run_and_judge(copy: tuple[str, bytes], cells: list, assignment: Assignment, limits: Limits,
                  protected: list[Path], scratch: Path, kind: str = "none") -> Run:
    """Return what running and judging found: verdicts, events, what the guard refused, whether it got stuck.

    `copy` is the submission's file name and bytes, written into each sandbox; `kind` is the sandbox's boundary.
    """
    from .kernel import KernelDied
    events, refusals, stop = [], [], len(cells)
    for n in range(MAX_ATTEMPTS):
        sandbox = Sandbox(scratch, fonts=scratch / FONTS, kind=kind)
        try:
            attempt = _one_attempt(sandbox, copy, cells[:stop], assignment, limits, protected)
        except KernelDied:
            attempt = Attempt([(KERNEL_DIED, "the kernel died while the grader read the answers; the last "
                                               "cell that ran was left out of the next run")], max(stop - 1, 0))
        finally:
            refusals += sandbox.refusals()
            sandbox.cleanup()
        events += attempt.events if n == 0 else [e for e in attempt.events if e[0] == KERNEL_DIED]
        if attempt.results is not None:
            return Run(attempt.results, events, refusals, attempt.stuck)
        stop = min(attempt.stopped_at, stop)
    results = {qid: Result(qid, "error", 0, spec["points"], "The kernel kept dying; no answer could be read.")
               for qid, spec in assignment.quiz.specs.items()}
    return Run(results, events, refusals)


# ---------------------------------------------------------------- one submission, start to end

def _refusal_notes(refusals: list[dict]) -> tuple[list[str], list[str]]:
    """Return (tamper flags, notes) from what the guard refused: reaching protected folders is tampering."""
    flags, notes = [], []
    for entry in refusals:
        line = f"the notebook tried to {entry.get('what', 'do something refused')} (refused)"
        target = flags if entry.get("kind") == "protected" else notes
        if line not in target:
            target.append(line)
    return flags, notes


def sandbox_note(kind: str) -> str:
    """Return the note saying which sandbox graded a submission."""
    from .boundary import describe
    return f"graded in the sandbox {describe(kind)}"


def unrunnable(sub: Submission, assignment: Assignment) -> dict | None:
    """Return the gradebook line of a submission with nothing to run (missing, empty, not a notebook), else None."""
    opened = open_submission(sub)
    return None if opened.nb is not None else Outcome(opened.status, notes=[opened.why]).row(sub, assignment)


def grade_submission(sub: Submission, solution: Path, limits: Limits, protected: list[Path], scratch: Path,
                     data: bytes | None = None, kind: str = "none") -> dict:
    """Return the gradebook line of one submission (this runs in a worker process).

    `data` is the notebook's bytes when the grader read them already (a worker on another machine cannot);
    `kind` is the sandbox the kernel runs behind ("bwrap" or "none").
    """
    start = time.monotonic()
    assignment = _assignment(str(solution), solution.stat().st_mtime_ns)
    opened = open_submission(sub, data)
    if opened.nb is None:
        return Outcome(opened.status, notes=[opened.why], seconds=time.monotonic() - start).row(sub, assignment)
    cells = code_cells(opened.nb, assignment)
    flags = _scan(cells, assignment)
    run = run_and_judge((sub.path.name, opened.data), cells, assignment, limits, protected, scratch, kind)
    refused_flags, refused_notes = _refusal_notes(run.refusals)
    flags += refused_flags
    notes = [n for n in [sub.note] if n] + layout_notes(opened.nb, assignment) + [text for _, text in run.events]
    kinds = {k for k, _ in run.events} | ({TIMEOUT} if run.stuck else set()) | ({TAMPERED} if flags else set())
    return Outcome(run_status(kinds), run.results, notes + refused_notes + [sandbox_note(kind)], flags, run.refusals,
                   time.monotonic() - start, kind).row(sub, assignment)


def _scan(cells: list[Cell], assignment: Assignment) -> list[str]:
    """Return the tamper flags of the cells the student wrote or changed (those left as released are not read)."""
    from .tamper import imported_names, scan
    changed = [(c.number, c.source, c.is_key) for c in cells if assignment.released.get(c.id) != c.source]
    return scan(changed, assignment.quiz_name, imported_names([c.source for c in cells]))


@lru_cache(maxsize=4)
def _assignment(path: str, mtime_ns: int) -> Assignment:
    """Return the assignment of a solution notebook, loaded once per worker process (and per version of it)."""
    return load_assignment(path)


# ---------------------------------------------------------------- a whole folder, on an executor

def cache_key(sub: Submission, assignment: Assignment, limits: Limits, kind: str = "none") -> str:
    """Return the key a stored result must have to be reused: the submission, the solution, the settings."""
    h = hashlib.sha256(f"{GRADER_VERSION}|{assignment.digest}|{limits}|{kind}|{sub.note}|".encode())
    h.update(sub.path.read_bytes() if sub.path and sub.path.is_file() else b"<missing>")
    return h.hexdigest()


def _result(future: Future, sub: Submission, assignment: Assignment) -> dict:
    """Return what a worker returned, or a grader-error line when the worker failed."""
    try:
        return future.result()
    except Exception as e:
        return Outcome(GRADER_ERROR, notes=[f"{type(e).__name__}: {e}"[:300]]).row(sub, assignment)


@dataclass(frozen=True)
class Job:
    """The work a worker does for one submission: a picklable callable, self-contained for another machine.

    It carries the solution notebook's bytes (and each call the submission's), so that a worker needs only
    the course package and bwrap, not the grader's files; its scratch folder (`scratch_name` under the
    worker's temp folder) holds a copy of the solution, the font list, and the sandboxes.
    """
    solution_name: str
    solution: bytes
    limits: Limits
    protected: tuple
    scratch_name: str
    kind: str

    def scratch(self) -> Path:
        """Return the scratch folder on this machine, made (with the solution and font list) on first use."""
        scratch = Path(tempfile.gettempdir()).resolve() / self.scratch_name
        if not (scratch / self.solution_name).is_file():
            scratch.mkdir(mode=0o700, exist_ok=True)
            font_cache(scratch / FONTS)
            part = scratch / f".{self.solution_name}.{os.getpid()}.part"
            part.write_bytes(self.solution)
            os.replace(part, scratch / self.solution_name)
        return scratch

    def __call__(self, sub: Submission, data: bytes) -> dict:
        """Grade `sub`, whose notebook holds `data` (on a cluster's worker, after the sandbox's self-test there)."""
        from .boundary import require
        require(self.kind)  # once per process; a worker without bwrap fails loudly (grader-error, not cached)
        scratch = self.scratch()
        return grade_submission(sub, scratch / self.solution_name, self.limits, [*self.protected, scratch], scratch,
                                data, self.kind)


def local_executor(workers: int) -> Executor:
    """Return the local pool: `workers` fresh processes (`spawn`)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def dask_executor(scheduler: str) -> Executor:
    """Return an executor whose work runs on the Dask cluster at `scheduler` (`Client.get_executor()`).

    Shutting it down closes the connection, not the cluster. A worker that dies takes its submission with
    it; the scheduler gives that submission to another worker (up to `distributed.scheduler.allowed-failures`).
    """
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("grading on a Dask cluster needs `distributed`: pip install 'coursekit[cluster]'") from None
    try:
        client = Client(scheduler, set_as_default=False)  # waits `distributed.comm.timeouts.connect` (30 s)
    except (OSError, TimeoutError) as e:
        raise ValueError(f"no Dask scheduler answers at {scheduler} ({e}); start one with `dask scheduler`") from e
    executor = client.get_executor(pure=False)
    close = executor.shutdown

    def shutdown(wait: bool = True, **kwargs: object) -> None:
        """Shut the executor down, then close the connection to the scheduler."""
        close(wait=wait)
        client.close()
    executor.shutdown = shutdown  # type: ignore[method-assign]
    return executor


def grade_in_workers(todo: list[Submission], assignment: Assignment, limits: Limits, protected: list[Path],
                     executor: Executor, on_done: Callable[[Submission, dict], None], kind: str = "none") -> None:
    """Grade `todo` with `executor` (the local pool or a Dask cluster), calling `on_done(sub, row)` as each ends."""
    scratch_name = f"coursekit-grading-{os.getpid()}-{secrets.token_hex(4)}"
    job = Job(assignment.path.name, assignment.path.read_bytes(), limits, tuple(protected), scratch_name, kind)
    try:
        with executor as pool:
            futures = {pool.submit(job, sub, open_submission(sub).data): sub for sub in todo}
            try:
                for future in as_completed(futures):
                    on_done(futures[future], _result(future, futures[future], assignment))
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        shutil.rmtree(Path(tempfile.gettempdir()).resolve() / scratch_name, ignore_errors=True)


def _done_at_once(sub: Submission, assignment: Assignment, done: Callable[[Submission, dict], None]) -> bool:
    """Record at once the line of a submission with nothing to run; return whether it had nothing to run."""
    row = unrunnable(sub, assignment)
    if row is not None:
        done(sub, row)
    return row is not None


def grade(submissions: str | Path, assignment: str, out: str | Path = "grades", solutions: str | Path = "solutions",
          workers: int | None = None, limits: Limits = Limits(), redo: bool = False,
          progress: bool | None = None, log: Callable[[str], None] | None = print, sandbox: str | None = None,
          scheduler: str | None = None) -> dict:
    """Grade every submission in `submissions`, write the gradebook into `out`, and return it (see the docstring).

    `sandbox` is "bwrap" (the default; ValueError saying what to do where it cannot run) or "none";
    `scheduler` the address of a Dask scheduler to grade on (default: a local pool of `workers` processes).
    It starts its workers fresh (`spawn`): in a script, call it under `if __name__ == "__main__":`.
    """
    from tqdm.auto import tqdm
    from .boundary import default_sandbox, require
    kind = sandbox or default_sandbox()
    require(kind)
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    key = load_assignment(find_solution(solutions, assignment))
    subs = submissions_in(submissions, assignment, out)
    out.mkdir(parents=True, exist_ok=True)
    start, cache = time.monotonic(), ResultCache(out / ".results")
    keys = {sub.student: cache_key(sub, key, limits, kind) for sub in subs}
    rows = {} if redo else {s.student: r for s in subs if (r := cache.get(s.student, keys[s.student])) is not None}
    todo, workers = [s for s in subs if s.student not in rows], max(1, workers or os.cpu_count() or 1)
    with tqdm(total=len(subs), initial=len(rows), desc=f"grading {assignment}", unit="notebook",
              disable=None if progress is None else not progress, file=sys.stderr) as bar:
        def done(sub: Submission, row: dict) -> None:
            rows[sub.student] = row
            if row["status"] != GRADER_ERROR:
                cache.put(sub.student, keys[sub.student], row)
            bar.update()
        runnable = [sub for sub in todo if not _done_at_once(sub, key, done)]
        if runnable:
            protected = [key.path.resolve().parent, submissions, out]
            executor = dask_executor(scheduler) if scheduler else local_executor(min(workers, len(runnable)))
            grade_in_workers(runnable, key, limits, protected, executor, done, kind)
    book = _book(key, [rows[s.student] for s in subs], limits, time.monotonic() - start, workers, len(todo))
    book["run"].update(sandbox=kind, scheduler=scheduler or "local")
    write_gradebook(out, book)
    if log:
        log(summary_line(book))
    return book


def _book(assignment: Assignment, rows: list[dict], limits: Limits, seconds: float, workers: int,
          graded_now: int) -> dict:
    """Return the whole gradebook as one JSON-ready dict."""
    return {"assignment": assignment.name, "max_points": assignment.max_points,
            "questions": [{"id": qid, "points": spec["points"]} for qid, spec in assignment.quiz.specs.items()],
            "limits": asdict(limits),
            "summary": summarise(rows, assignment.max_points),
            "run": {"graded_now": graded_now, "from_cache": len(rows) - graded_now, "workers": workers,
                    "seconds": round(seconds, 2),
                    "seconds_per_submission": round(seconds / graded_now, 3) if graded_now else 0.0},
            "students": rows}
