"""Crafted submissions for the grader's tests and load test, made from a solution notebook, never by hand.

`fresh` is the student copy as `coursekit release` hands it out; `answered` is that copy with the
solution's code put back into the answer cells (all of them, or only some); `with_cell` and `add_cell`
change one cell, the way a student would.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterable

import nbformat
from nbformat import v4

from coursekit.grading.release import BEGIN, END, student_copy

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"
ASSIGNMENT = "01_pixel_similarity_questionnaire"
SOLUTION = SOLUTIONS / f"{ASSIGNMENT}.ipynb"


def solution(path: Path = SOLUTION) -> nbformat.NotebookNode:
    """Return the solution notebook."""
    return nbformat.read(path, as_version=4)


def fresh(path: Path = SOLUTION) -> nbformat.NotebookNode:
    """Return the student copy of the solution at `path`, as released."""
    return student_copy(solution(path), where=str(path))


def _without_markers(source: str) -> str:
    """Return a solution cell's source without its BEGIN/END SOLUTION lines: the worked answer."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def answer_cells(path: Path = SOLUTION) -> dict[str, str]:
    """Return the worked source of each answer cell of the solution, by cell id."""
    return {c.id: _without_markers(c.source) for c in solution(path).cells
            if c.cell_type == "code" and BEGIN in c.source}


def answered(only: Iterable[str] | None = None, path: Path = SOLUTION) -> nbformat.NotebookNode:
    """Return the student copy with the solution's answers filled in: all, or only the cells with ids in `only`."""
    nb, worked = fresh(path), answer_cells(path)
    keep = set(worked if only is None else only)
    for cell in nb.cells:
        if cell.id in worked and cell.id in keep:
            cell.source = worked[cell.id]
    return nb


def with_cell(nb: nbformat.NotebookNode, cell_id: str, source: str) -> nbformat.NotebookNode:
    """Return a copy of `nb` whose cell `cell_id` holds `source`."""
    nb = copy.deepcopy(nb)
    next(c for c in nb.cells if c.id == cell_id).source = source
    return nb


def add_cell(nb: nbformat.NotebookNode, source: str, after: str | None = None) -> nbformat.NotebookNode:
    """Return a copy of `nb` with a new code cell holding `source`, after cell `after` (default: at the end)."""
    nb = copy.deepcopy(nb)
    at = len(nb.cells) if after is None else [c.id for c in nb.cells].index(after) + 1
    nb.cells.insert(at, v4.new_code_cell(source))
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Write `nb` to `path` (making its folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
