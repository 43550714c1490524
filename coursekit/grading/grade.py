"""Classroom grading: `coursekit grade SUBMISSIONS --assignment NAME` turns a folder of notebooks into a gradebook.

Submissions are `SUBMISSIONS/<student>/<assignment>.ipynb` (a student's folder holding one notebook of
another name counts too: it was renamed) or `SUBMISSIONS/<student>.ipynb`; the instructor's notebook is
`solutions/<assignment>.ipynb`. Each submission, in parallel (one worker process per core by default):
1. is read, never changed: a symbolic link, a file that is not JSON or not nbformat 4, or an empty file
   gets its status and no run;
2. is scanned for tampering (`tamper.py`);
3. runs top to bottom, errors and all, in a fresh kernel inside its own sandbox (`sandbox.py`), from a copy
   in a private folder, with a time limit per cell, one for the whole notebook, and a memory limit;
4. is judged in the grader's own process (`judge.py`): the questionnaire's own test cells are run again as
   released, then the answers are found by name, checked against the key of the solution notebook, and
   put through the hidden checks. A kernel that dies (or gets stuck) at some cell is started again and
   runs only the cells before that one: the answers given before the failure count.
Results go to the gradebook (`gradebook.py`), each student's as soon as it is ready into the cache there,
the gradebook files at the end. nbgrader (`nbgrader autograde`) and otter-grader (`otter grade`) do the
same job with more setup: a course database, or a Docker image per assignment; this grader needs only the
solution notebook. Like them it re-runs the checks itself instead of trusting the student's notebook, and,
like nbgrader, it runs hidden tests that the student copy never held.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

from .assignment import Assignment, load_assignment
from .gradebook import ResultCache, summarise, summary_line, write_gradebook
from .quiz import Result
from .release import ANSWER_KEY
from .sandbox import Limits, Sandbox, font_cache

if TYPE_CHECKING:
    from .kernel import Kernel

GRADER_VERSION = "1"
MAX_NOTEBOOK_BYTES = 50 * 2**20
MAX_ATTEMPTS = 3  # a first run, then re-runs stopping before the cell that killed the kernel
FLOOD = 2**20  # a cell printing more characters than this gets a note
MAX_NOTES = 25
FONTS = "matplotlib-fonts"  # the folder of the scratch folder that holds the font list sandboxes copy
MEMORY_ERRORS = ("MemoryError", "_ArrayMemoryError")
STATUS_ORDER = ["tampered", "kernel-died", "timeout", "memory", "error", "graded"]


@dataclass(frozen=True)
class Submission:
    """One student's submission: who, which notebook (None when there is none), and a note on how it was found."""
    student: str
    path: Path | None
    note: str = ""


class Cell(NamedTuple):
    """A code cell of a submission: its number in the notebook (from 1), source, id, and whether it holds the key."""
    number: int
    source: str
    id: str | None
    is_key: bool


@dataclass
class Attempt:
    """One run of a submission in a fresh kernel: what its cells did, where the kernel stopped, the verdicts."""
    events: list[tuple[str, str]] = field(default_factory=list)
    stopped_at: int | None = None
    results: dict[str, Result] | None = None
    stuck: bool = False


# ---------------------------------------------------------------- finding the notebooks

def find_solution(solutions: str | Path, assignment: str) -> Path:
    """Return the instructor's notebook of `assignment`: `solutions` itself, or `solutions/<assignment>.ipynb`."""
    solutions = Path(solutions)
    path = solutions if solutions.suffix == ".ipynb" else solutions / f"{assignment}.ipynb"
    if not path.is_file():
        found = sorted(p.stem for p in solutions.glob("*.ipynb")) if solutions.is_dir() else []
        hint = f"; the notebooks there are {', '.join(found)}" if found else ""
        raise ValueError(f"no solution notebook {path} for the assignment {assignment!r}{hint}")
    return path.resolve()


def _pick_notebook(folder: Path, assignment: str) -> tuple[Path | None, str]:
    """Return the notebook of a student's folder and a note when it is not `<assignment>.ipynb` (renamed)."""
    found = sorted((p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts),
                   key=lambda p: (len(p.parts), p.name))
    exact = [p for p in found if p.name == f"{assignment}.ipynb"]
    if exact:
        return exact[0], ""
    if not found:
        return None, ""
    best = max(found, key=lambda p: difflib.SequenceMatcher(None, p.stem, assignment).ratio())
    why = "the only notebook in the folder" if len(found) == 1 else f"the closest name of {len(found)} notebooks"
    return best, f"graded `{best.relative_to(folder)}` ({why}): `{assignment}.ipynb` was not there"


def find_submissions(folder: Path, assignment: str, skip: tuple[Path, ...] = ()) -> list[Submission]:
    """Return the submissions in `folder`: one per student folder, one per notebook lying at the top."""
    subs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.resolve() in skip:
            continue
        if entry.is_dir() and not entry.is_symlink():
            path, note = _pick_notebook(entry, assignment)
            subs.append(Submission(entry.name, path, note))
        elif entry.suffix == ".ipynb":
            subs.append(Submission(entry.stem, entry))
    return subs


# ---------------------------------------------------------------- reading a submission

def read_submission(path: Path) -> tuple[bytes, str, str]:
    """Return (the notebook's bytes, "", "") or (b"", status, why) for a file the grader will not open."""
    if path.is_symlink():
        return b"", "invalid-notebook", "the notebook is a symbolic link; the grader reads only plain files"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return b"", "invalid-notebook", f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    data = path.read_bytes()
    return (data, "", "") if data.strip() else (b"", "empty", "the notebook file is empty")


def parse_notebook(data: bytes) -> tuple[dict | None, str]:
    """Return (the notebook as a dict, "") or (None, why it is no nbformat 4 notebook); sources become strings."""
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return None, f"the file is not valid JSON ({str(e)[:80]}); a notebook saved by Jupyter always is"
    if not isinstance(nb, dict) or "nbformat" not in nb:
        return None, "the file is JSON but not a notebook: it has no `nbformat` version"
    if nb["nbformat"] != 4:
        return None, (f"the notebook is in format {nb['nbformat']!r}; the grader reads nbformat 4 "
                      "(open and save it in JupyterLab)")
    if not isinstance(nb.get("cells"), list):
        return None, "the notebook has no list of cells"
    for cell in nb["cells"]:
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            cell["source"] = "".join(source)
        elif not isinstance(source, str):
            return None, "a cell of the notebook has no readable source"
    return nb, ""


def _tags(cell: dict) -> list:
    """Return a cell's tags (a list, whatever the file holds)."""
    tags = cell.get("metadata", {}).get("tags", []) if isinstance(cell.get("metadata"), dict) else []
    return tags if isinstance(tags, list) else []


def code_cells(nb: dict, assignment: Assignment) -> list[Cell]:
    """Return each code cell with code in it."""
    def is_key(cell: dict) -> bool:
        """Return True for the answer-key cell (by tag, or by the id it had when released)."""
        return ANSWER_KEY in _tags(cell) or cell.get("id") in assignment.key_ids
    return [Cell(i + 1, cell["source"], cell.get("id"), is_key(cell))
            for i, cell in enumerate(nb["cells"]) if cell.get("cell_type") == "code" and cell["source"].strip()]


def layout_notes(nb: dict, assignment: Assignment) -> list[str]:
    """Return notes on cells of the handed-out notebook that are missing or moved (answers count by name)."""
    ids, handed_out = [cell.get("id") for cell in nb["cells"]], list(assignment.released)
    missing = [i for i in handed_out if i not in ids]
    notes = []
    if missing:
        listed = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        notes.append(f"{len(missing)} cells of the handed-out notebook are missing ({listed})")
    if [i for i in ids if i in assignment.released] != [i for i in handed_out if i in set(ids)]:
        notes.append("cells were moved; the notebook ran in its own order")
    return notes


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
            attempt.events.append(("timeout", f"the notebook ran out of its {limits.timeout:g} s before cell "
                                              f"{number}; that cell and the ones after it did not run"))
            break
        run = kernel.run(source, min(limits.cell_timeout, left))
        if run.printed > FLOOD:
            attempt.events.append(("flood", f"cell {number} printed {run.printed / 2**20:.1f} MB of output, "
                                            "which the grader does not keep"))
        if run.status == "died":
            attempt.events.append(("kernel-died", f"cell {number} stopped the Python kernel; the cells "
                                                  "before it were run again and their answers graded"))
            attempt.stopped_at = k
            return attempt
        if run.status == "timeout":
            limit = "the cell limit" if left > limits.cell_timeout else "the notebook's time"
            attempt.events.append(("timeout", f"cell {number} ran past {limit} and was interrupted"))
            if not kernel.responsive():
                attempt.events.append(("timeout", f"cell {number} could not be interrupted; the cells before "
                                                  "it were run again and their answers graded"))
                attempt.stopped_at = k
                return attempt
        elif run.status == "error":
            kind = "memory" if _is_memory(run.ename, run.evalue) else "error"
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
                  protected: list[Path], scratch: Path) -> tuple[dict[str, Result], list, list[dict], bool]:
    """Return the verdicts, the events of the run, what the sandbox refused, and whether the kernel got stuck.

    `copy` is the submission's file name and bytes, written into each sandbox.
    """
    from .kernel import KernelDied
    events, refusals, stop = [], [], len(cells)
    for n in range(MAX_ATTEMPTS):
        sandbox = Sandbox(scratch, fonts=scratch / FONTS)
        try:
            attempt = _one_attempt(sandbox, copy, cells[:stop], assignment, limits, protected)
        except KernelDied:
            attempt = Attempt([("kernel-died", "the kernel died while the grader read the answers; the last "
                                               "cell that ran was left out of the next run")], max(stop - 1, 0))
        finally:
            refusals += sandbox.refusals()
            sandbox.cleanup()
        events += attempt.events if n == 0 else [e for e in attempt.events if e[0] == "kernel-died"]
        if attempt.results is not None:
            return attempt.results, events, refusals, attempt.stuck
        stop = min(attempt.stopped_at, stop)
    results = {qid: Result(qid, "error", 0, spec["points"], "The kernel kept dying; no answer could be read.")
               for qid, spec in assignment.quiz.specs.items()}
    return results, events, refusals, False


# ---------------------------------------------------------------- one submission, start to end

def _refusal_notes(refusals: list[dict]) -> tuple[list[str], list[str]]:
    """Return (tamper flags, notes) from what the sandbox refused: reaching protected folders is tampering."""
    flags, notes = [], []
    for entry in refusals:
        line = f"the notebook tried to {entry.get('what', 'do something refused')} (refused)"
        target = flags if entry.get("kind") == "protected" else notes
        if line not in target:
            target.append(line)
    return flags, notes


def _status(events: list[tuple[str, str]], flags: list[str], stuck: bool) -> str:
    """Return the submission's status: the first of `STATUS_ORDER` that its run earned."""
    kinds = {kind for kind, _ in events} | ({"timeout"} if stuck else set()) | ({"tampered"} if flags else set())
    return next((s for s in STATUS_ORDER if s in kinds), "graded")


STATUSES_SHORT = {"missing": "no notebook was found", "empty": "the notebook is empty",
                  "invalid-notebook": "the notebook could not be read", "grader-error": "the grader failed"}


def _row(sub: Submission, assignment: Assignment, status: str, results: dict[str, Result] | None,
         notes: list[str], flags: list[str], refusals: list[dict], seconds: float) -> dict:
    """Return a student's line of the gradebook as a JSON-ready dict."""
    specs = assignment.quiz.specs
    results = results or {qid: Result(qid, "unanswered", 0, spec["points"], "Not graded: " + STATUSES_SHORT.get(
        status, status) + ".") for qid, spec in specs.items()}
    questions = {qid: results[qid].as_dict() for qid in specs}
    earned = sum(q["points"] for q in questions.values())
    return {"student": sub.student, "notebook": str(sub.path.name) if sub.path else None, "status": status,
            "total": 0 if status == "tampered" else earned, "earned": earned, "max": assignment.max_points,
            "questions": questions, "notes": [n[:300] for n in notes[:MAX_NOTES]], "flags": flags[:MAX_NOTES],
            "refusals": refusals[:MAX_NOTES], "seconds": round(seconds, 2)}


def _opened(sub: Submission) -> tuple[bytes, dict | None, str, str]:
    """Return the submission's bytes and notebook, or (b"", None, status, why) when there is nothing to run."""
    if sub.path is None:
        return b"", None, "missing", f"no .ipynb file in the folder of {sub.student}"
    data, status, why = read_submission(sub.path)
    nb, why = parse_notebook(data) if data else (None, why)
    return data, nb, "" if nb else status or "invalid-notebook", why


def unrunnable(sub: Submission, assignment: Assignment) -> dict | None:
    """Return the gradebook line of a submission with nothing to run (missing, empty, not a notebook), else None."""
    _, nb, status, why = _opened(sub)
    return None if nb is not None else _row(sub, assignment, status, None, [why], [], [], 0)


def grade_submission(sub: Submission, solution: Path, limits: Limits, protected: list[Path], scratch: Path) -> dict:
    """Return the gradebook line of one submission (this runs in a worker process)."""
    start = time.monotonic()
    assignment = _assignment(str(solution), solution.stat().st_mtime_ns)
    data, nb, status, why = _opened(sub)
    if nb is None:
        return _row(sub, assignment, status, None, [why], [], [], time.monotonic() - start)
    cells = code_cells(nb, assignment)
    flags = _scan(cells, assignment)
    copy = (sub.path.name, data)
    results, events, refusals, stuck = run_and_judge(copy, cells, assignment, limits, protected, scratch)
    refused_flags, refused_notes = _refusal_notes(refusals)
    notes = [n for n in [sub.note] if n] + layout_notes(nb, assignment) + [text for _, text in events] + refused_notes
    flags += refused_flags
    return _row(sub, assignment, _status(events, flags, stuck), results, notes, flags, refusals,
                time.monotonic() - start)


def _scan(cells: list[Cell], assignment: Assignment) -> list[str]:
    """Return the tamper flags of the cells the student wrote or changed (those left as released are not read)."""
    from .tamper import imported_names, scan
    changed = [(c.number, c.source, c.is_key) for c in cells if assignment.released.get(c.id) != c.source]
    return scan(changed, assignment.quiz_name, imported_names([c.source for c in cells]))


@lru_cache(maxsize=4)
def _assignment(path: str, mtime_ns: int) -> Assignment:
    """Return the assignment of a solution notebook, loaded once per worker process (and per version of it)."""
    return load_assignment(path)


# ---------------------------------------------------------------- a whole folder

def cache_key(sub: Submission, assignment: Assignment, limits: Limits) -> str:
    """Return the key a stored result must have to be reused: the submission, the solution, the settings."""
    h = hashlib.sha256(f"{GRADER_VERSION}|{assignment.digest}|{limits}|{sub.note}|".encode())
    h.update(sub.path.read_bytes() if sub.path and sub.path.is_file() else b"<missing>")
    return h.hexdigest()


def _result(future: Future, sub: Submission, assignment: Assignment) -> dict:
    """Return what a worker returned, or a grader-error line when the worker failed."""
    try:
        return future.result()
    except Exception as e:
        return _row(sub, assignment, "grader-error", None, [f"{type(e).__name__}: {e}"[:300]], [], [], 0)


@dataclass(frozen=True)
class _Job:
    """The work a worker does for one submission (a picklable callable for the process pool)."""
    solution: Path
    limits: Limits
    protected: tuple
    scratch: Path

    def __call__(self, sub: Submission) -> dict:
        """Grade `sub`."""
        return grade_submission(sub, self.solution, self.limits, list(self.protected), self.scratch)


def grade_in_workers(todo: list[Submission], assignment: Assignment, limits: Limits, protected: list[Path],
                     workers: int, on_done: Callable[[Submission, dict], None]) -> None:
    """Grade `todo` in `workers` fresh processes (`spawn`), calling `on_done(sub, row)` as each one ends."""
    scratch = Path(tempfile.mkdtemp(prefix="coursekit-grading-")).resolve()
    job = _Job(assignment.path.resolve(), limits, (*protected, scratch), scratch)
    try:
        font_cache(scratch / FONTS)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(job, sub): sub for sub in todo}
            try:
                for future in as_completed(futures):
                    on_done(futures[future], _result(future, futures[future], assignment))
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _done_at_once(sub: Submission, assignment: Assignment, done: Callable[[Submission, dict], None]) -> bool:
    """Record at once the line of a submission with nothing to run; return whether it had nothing to run."""
    row = unrunnable(sub, assignment)
    if row is not None:
        done(sub, row)
    return row is not None


def _submissions(submissions: Path, assignment: str, out: Path) -> list[Submission]:
    """Return the submissions in the folder `submissions`; raise ValueError when there is none."""
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of submissions")
    subs = find_submissions(submissions, assignment, skip=(out,))
    if not subs:
        raise ValueError(f"{submissions} holds no submission: expected <student>/{assignment}.ipynb or <student>.ipynb")
    return subs


def grade(submissions: str | Path, assignment: str, out: str | Path = "grades", solutions: str | Path = "solutions",
          workers: int | None = None, limits: Limits = Limits(), redo: bool = False,
          progress: bool | None = None, log: Callable[[str], None] | None = print) -> dict:
    """Grade every submission in `submissions`, write the gradebook into `out`, and return it (see the docstring).

    It starts its workers fresh (`spawn`): in a script, call it under `if __name__ == "__main__":`.
    """
    from tqdm.auto import tqdm
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    key = load_assignment(find_solution(solutions, assignment))
    subs = _submissions(submissions, assignment, out)
    out.mkdir(parents=True, exist_ok=True)
    start, cache = time.monotonic(), ResultCache(out / ".results")
    keys = {sub.student: cache_key(sub, key, limits) for sub in subs}
    rows = {} if redo else {s.student: r for s in subs if (r := cache.get(s.student, keys[s.student])) is not None}
    todo, workers = [s for s in subs if s.student not in rows], max(1, workers or os.cpu_count() or 1)
    with tqdm(total=len(subs), initial=len(rows), desc=f"grading {assignment}", unit="notebook",
              disable=None if progress is None else not progress, file=sys.stderr) as bar:
        def done(sub: Submission, row: dict) -> None:
            rows[sub.student] = row
            if row["status"] != "grader-error":
                cache.put(sub.student, keys[sub.student], row)
            bar.update()
        runnable = [sub for sub in todo if not _done_at_once(sub, key, done)]
        if runnable:
            protected = [key.path.resolve().parent, submissions, out]
            grade_in_workers(runnable, key, limits, protected, min(workers, len(runnable)), done)
    book = _book(key, [rows[s.student] for s in subs], limits, time.monotonic() - start, workers, len(todo))
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
