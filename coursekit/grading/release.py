"""Release: make the student copy of a solution questionnaire (`coursekit release solutions exercises`).

The solution notebook is the single source. In it
- one code cell tagged `answer-key` builds the `Quiz`, answers in plain sight;
- solution code sits between a `### BEGIN SOLUTION` line and a `### END SOLUTION` line;
- cells tagged `hidden` hold checks that only the instructor (and later the grader) runs.
The student copy keeps every other cell, with the answer key replaced by `Quiz.load(...)` of the sealed
quiz, each solution replaced by a stub that runs (`name = ...` for each name it assigns, or `...` inside
a function), hidden cells dropped and outputs cleared. It is the same, byte for byte, on every release.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path
from typing import Mapping

import nbformat

from .quiz import Quiz

PATTERN = "*_questionnaire.ipynb"
ANSWER_KEY, HIDDEN = "answer-key", "hidden"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
YOUR_CODE = "# YOUR CODE HERE"


def _names(target: ast.expr) -> list[str]:
    """Return the plain names an assignment target binds: `a`, `a, b`, not `a[0]` or `a.x`."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _names(t)]
    return _names(target.value) if isinstance(target, ast.Starred) else []


def assigned_names(code: str) -> list[str]:
    """Return the names that the top-level statements of `code` assign, in order, each once."""
    names: list[str] = []
    for node in ast.parse(textwrap.dedent(code)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for name in [n for t in targets if t is not None for n in _names(t)]:
            if name not in names:
                names.append(name)
    return names


def _stub(region: list[str], indent: str) -> list[str]:
    """Return the lines that replace a solution region: `...` in a function body, `name = ...` at top level."""
    if indent:
        return [indent + YOUR_CODE, indent + "..."]
    return [YOUR_CODE] + [f"{name} = ..." for name in assigned_names("\n".join(region))]


def stub_solutions(source: str) -> str:
    """Return the cell `source` with each solution region replaced by a stub that runs without error."""
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    for n, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if region is not None:
                raise ValueError(f"line {n}: a second `{BEGIN}` before `{END}` closed the first")
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif marker == END:
            if region is None:
                raise ValueError(f"line {n}: `{END}` without a `{BEGIN}` before it")
            out += _stub(region, indent)
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise ValueError(f"`{BEGIN}` without a matching `{END}`")
    return "\n".join(out)


def tags(cell: Mapping) -> list[str]:
    """Return a cell's tags, for release and grading alike: a list of strings, whatever the file holds.

    `cell` is a cell of an nbformat notebook or of one read as plain JSON (a student's file may hold anything).
    """
    metadata = cell.get("metadata")
    found = metadata.get("tags", []) if isinstance(metadata, dict) else []
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def read_solution(text: str) -> nbformat.NotebookNode:
    """Return the solution notebook whose JSON is `text`, each cell with an id (nbformat < 4.5 has none)."""
    nb = nbformat.reads(text, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{i}")
    return nb


def load_answer_key(nb: nbformat.NotebookNode, where: str = "the notebook") -> tuple[str, Quiz]:
    """Run the `answer-key` cell of the solution notebook `nb`; return the name it gives its `Quiz`, and the quiz."""
    cells = [c for c in nb.cells if ANSWER_KEY in tags(c)]
    if len(cells) != 1:
        raise ValueError(f"{where} has {len(cells)} cells tagged '{ANSWER_KEY}'; "
                         "it needs exactly one, the code cell that builds the Quiz")
    namespace: dict = {"__name__": "__answer_key__"}
    try:
        exec(compile(cells[0].source, f"<answer key of {where}>", "exec"), namespace)
    except Exception as e:
        raise ValueError(f"the answer-key cell of {where} raised {type(e).__name__}: {e}; "
                         "it must run on its own, so import there what it uses") from e
    quizzes = [(name, value) for name, value in namespace.items() if isinstance(value, Quiz)]
    if len(quizzes) != 1:
        raise ValueError(f"the answer-key cell of {where} defines {len(quizzes)} Quiz objects; it must define one")
    return quizzes[0]


def sealed_answer_key(name: str, quiz: Quiz, width: int = 96) -> str:
    """Return the source of the cell that replaces the answer key: `name = Quiz.load(...)` of the sealed quiz."""
    blob = quiz.dump()
    chunks = [f'    "{blob[i:i + width]}"' for i in range(0, len(blob), width)]
    return "\n".join(["# The answer key, sealed: it holds salted fingerprints (SHA-256) of the answers, and the",
                      "# feedback on an answer is encrypted with that answer. Run this cell; reading it won't help.",
                      "from coursekit.grading import Quiz", "", f"{name} = Quiz.load(", *chunks, ")"])


def _student_cell(cell: nbformat.NotebookNode, source: str) -> dict:
    """Return `cell` as the student copy has it: the new source, tags only, no outputs."""
    cell_tags = tags(cell)
    new = {"cell_type": cell.cell_type, "id": cell.id, "metadata": {"tags": cell_tags} if cell_tags else {}, "source": source}
    if cell.cell_type == "code":
        new.update(execution_count=None, outputs=[])
    if ANSWER_KEY in cell_tags:
        new["metadata"]["jupyter"] = {"source_hidden": True}
    if "attachments" in cell:
        new["attachments"] = cell.attachments
    return new


def student_copy(nb: nbformat.NotebookNode, where: str = "the notebook",
                 key: tuple[str, Quiz] | None = None) -> nbformat.NotebookNode:
    """Return the student copy of the solution notebook `nb`: key sealed, solutions stubbed, hidden cells out.

    `key` is what `load_answer_key(nb)` returns, when the caller has it already (else it is loaded here).
    """
    name, quiz = key or load_answer_key(nb, where)
    cells = []
    for i, cell in enumerate(nb.cells):
        cell_tags = tags(cell)
        if HIDDEN in cell_tags:
            continue
        source = cell.source
        if cell.cell_type == "code":
            try:
                source = sealed_answer_key(name, quiz) if ANSWER_KEY in cell_tags else stub_solutions(source)
            except (ValueError, SyntaxError) as e:
                raise ValueError(f"{where}, cell {i}: {e}") from e
        cells.append(_student_cell(cell, source))
    kernelspec = nb.metadata.get("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    return nbformat.from_dict({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                               "metadata": {"kernelspec": kernelspec, "language_info": {"name": "python"}}})


def student_text(path: Path) -> str:
    """Return the student copy of the solution notebook at `path` as the exact text `release` writes."""
    nb = read_solution(path.read_text(encoding="utf-8"))
    copy = student_copy(nb, where=str(path))
    nbformat.validate(copy)
    return nbformat.writes(copy) + "\n"


def _pairs(src: Path, dest: Path) -> list[tuple[Path, Path]]:
    """Return (solution, student copy) paths for `src`, a folder of questionnaires or one notebook."""
    if src.is_dir():
        sources = sorted(src.glob(PATTERN))
        if not sources:
            raise ValueError(f"{src} holds no {PATTERN} notebook to release")
        return [(s, dest / s.name) for s in sources]
    if src.is_file():
        return [(src, dest if dest.suffix == ".ipynb" else dest / src.name)]
    raise ValueError(f"{src} does not exist; give a folder of solution questionnaires or one notebook")


def release(src: str | Path, dest: str | Path, check: bool = False) -> list[Path]:
    """Write the student copy of each questionnaire in `src` (a folder or a notebook) to `dest`; return the changed.

    With `check=True` nothing is written: the list holds the stale copies, those missing, different, or
    (when `src` is a folder) left in `dest` without a solution.
    """
    src, dest = Path(src), Path(dest)
    changed = []
    for solution, copy in _pairs(src, dest):
        text = student_text(solution)
        if copy.is_file() and copy.read_bytes() == text.encode():
            continue
        changed.append(copy)
        if not check:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(text.encode())
    if check and src.is_dir():
        changed += [p for p in sorted(dest.glob(PATTERN)) if not (src / p.name).exists()]
    return changed
