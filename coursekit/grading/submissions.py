"""Finding and reading the submissions: which notebook is whose, and what of a notebook file the grader will run.

Submissions are `SUBMISSIONS/<student>/<assignment>.ipynb` (a student's folder holding one notebook of
another name counts too: it was renamed) or `SUBMISSIONS/<student>.ipynb`; the instructor's notebook is
`solutions/<assignment>.ipynb`. A submission is read, never changed: a symbolic link, a file that is not
JSON or not nbformat 4, or an empty file gets its status and no run.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .assignment import Assignment
from .release import ANSWER_KEY, tags
from .statuses import EMPTY, INVALID, MISSING

MAX_NOTEBOOK_BYTES = 50 * 2**20


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


@dataclass(frozen=True)
class Opened:
    """A submission as read: its bytes and notebook, or (no notebook) the status it gets and why."""
    data: bytes
    nb: dict | None
    status: str = ""
    why: str = ""


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


def submissions_in(folder: Path, assignment: str, out: Path) -> list[Submission]:
    """Return the submissions in the folder `folder` (the gradebook `out` left out); ValueError when there is none."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    subs = find_submissions(folder, assignment, skip=(out,))
    if not subs:
        raise ValueError(f"{folder} holds no submission: expected <student>/{assignment}.ipynb or <student>.ipynb")
    return subs


def read_submission(path: Path) -> tuple[bytes, str, str]:
    """Return (the notebook's bytes, "", "") or (b"", status, why) for a file the grader will not open."""
    if path.is_symlink():
        return b"", INVALID, "the notebook is a symbolic link; the grader reads only plain files"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return b"", INVALID, f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    data = path.read_bytes()
    return (data, "", "") if data.strip() else (b"", EMPTY, "the notebook file is empty")


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


def open_submission(sub: Submission, data: bytes | None = None) -> Opened:
    """Return the submission as read; `data` is its bytes when the grader read them already (on another machine)."""
    if data is None:
        if sub.path is None:
            return Opened(b"", None, MISSING, f"no .ipynb file in the folder of {sub.student}")
        data, status, why = read_submission(sub.path)
        if not data:
            return Opened(b"", None, status, why)
    nb, why = parse_notebook(data)
    return Opened(data, nb) if nb is not None else Opened(b"", None, INVALID, why)


def code_cells(nb: dict, assignment: Assignment) -> list[Cell]:
    """Return each code cell with code in it."""
    def is_key(cell: dict) -> bool:
        """Return True for the answer-key cell (by tag, or by the id it had when released)."""
        return ANSWER_KEY in tags(cell) or cell.get("id") in assignment.key_ids
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
