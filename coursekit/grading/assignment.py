"""An assignment as the grader reads it from the instructor's solution notebook: key, answers' names, hidden checks.

The solution notebook is the single source (see `release.py`). From it the grader takes
- the answer key: the `Quiz` its `answer-key` cell builds, answers in plain sight; it stays in the grader's
  process and never enters a student's kernel;
- where each answer lives: the expression of each check, `quiz.check("q1b", photo_shape)` -> `photo_shape`,
  so a student's answers are found by name, wherever their cells are;
- the hidden checks: cells tagged `hidden`, which `release` leaves out of the student copy. A hidden check
  guards the questions whose answers it reads (`odd_doubled` in a hidden cell guards q4); one that reads
  none guards the questions of the check cell just before it. It runs in the grader's process, on the
  student's values rebuilt from plain JSON, and a student's function it calls runs in the student's kernel
  (see `judge.py`). A question counts as right only when its check and all its hidden checks pass.
  Names a hidden check needs besides the student's are those the solution imports (`torch`, `tensor`);
- the checking cells: visible cells that define a function a check calls, such as the test of a `Trial`,
  `quiz.check("q18", test_learner(MyLearner))`. A student could rewrite `test_learner` to find no problem,
  so the grader runs the released version of those cells again before it reads the answers;
- the released student copy, cell by cell: a cell a student left as released is the instructor's code, and
  the tamper scan reads only the others.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .quiz import Quiz
from .release import ANSWER_KEY, BEGIN, HIDDEN, load_answer_key, read_solution, student_copy, tags


@dataclass
class HiddenCheck:
    """A `hidden` cell of the solution: its source, the student's names it reads, the questions it guards."""
    cell: int
    source: str
    names: list[str]
    qids: list[str]


@dataclass
class Assignment:
    """What the grader knows of one questionnaire (see the module docstring)."""
    name: str
    path: Path
    digest: str
    quiz: Quiz
    quiz_name: str
    expressions: dict[str, str]
    hidden: list[HiddenCheck] = field(default_factory=list)
    prelude: str = ""
    key_ids: set[str] = field(default_factory=set)
    released: dict[str, str] = field(default_factory=dict)
    checking: list[str] = field(default_factory=list)

    @property
    def max_points(self) -> float:
        """Return the points there are to earn."""
        return sum(spec["points"] for spec in self.quiz.specs.values())


def loaded_names(tree: ast.AST) -> set[str]:
    """Return the names that code reads: every `Name` loaded, whether or not the code also binds it."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def bound_names(tree: ast.AST) -> set[str]:
    """Return the names that code binds: assignments, loop targets, imports, functions and classes."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def check_calls(source: str, quiz_name: str) -> list[tuple[str, str]]:
    """Return (question id, answer expression) for each `quiz.check("qid", expression)` in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == quiz_name
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            expr = ast.get_source_segment(source, node.args[1]) or ast.unparse(node.args[1])
            found.append((node.args[0].value, expr))
    return found


def _prelude(nb: nbformat.NotebookNode) -> str:
    """Return the solution's import statements, each once, in order: the names a hidden check may use."""
    lines: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or HIDDEN in tags(cell):
            continue
        for node in ast.parse(cell.source).body:
            line = ast.unparse(node) if isinstance(node, (ast.Import, ast.ImportFrom)) else None
            if line and line not in lines:
                lines.append(line)
    return "\n".join(lines)


def _prelude_names(prelude: str) -> set[str]:
    """Return the names the solution's imports bind, star imports included (they are run to find out)."""
    namespace: dict = {}
    exec(compile(prelude, "<the solution's imports>", "exec"), namespace)
    return set(namespace)


def _checking_cells(nb: nbformat.NotebookNode, released: dict[str, str], expressions: dict[str, str]) -> list[str]:
    """Return the released source of each visible cell, not an answer cell, that defines a function a check calls."""
    called = {n.func.id for expr in expressions.values() for n in ast.walk(ast.parse(expr, mode="eval"))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or {ANSWER_KEY, HIDDEN} & set(tags(cell)) or BEGIN in cell.source:
            continue
        defined = {n.name for n in ast.parse(cell.source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if defined & called and cell.id in released:
            found.append(released[cell.id])
    return found


def _hidden_check(index: int, source: str, answers: dict[str, set[str]], before: list[str],
                  prelude_names: set[str]) -> HiddenCheck:
    """Return the hidden check in cell `index`, with the questions it guards (see the module docstring)."""
    tree = ast.parse(source)
    known = bound_names(tree) | prelude_names | set(dir(builtins))
    names = sorted(loaded_names(tree) - known)
    qids = [qid for qid, used in answers.items() if used & set(names)] or before
    if not qids:
        raise ValueError(f"hidden cell {index} reads no answer and follows no check cell: "
                         "it does not say which question it guards")
    return HiddenCheck(index, source, names, qids)


def _checks(nb: nbformat.NotebookNode, quiz_name: str) -> tuple[dict[str, str], dict[int, list[str]]]:
    """Return each question's answer expression, and each hidden cell with the questions checked just before it."""
    expressions: dict[str, str] = {}
    hidden: dict[int, list[str]] = {}
    last_checked: list[str] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or ANSWER_KEY in tags(cell):
            continue
        if HIDDEN in tags(cell):
            hidden[i] = list(last_checked)
            continue
        calls = check_calls(cell.source, quiz_name)
        for qid, expr in calls:
            expressions.setdefault(qid, expr)
        last_checked = [qid for qid, _ in calls] or last_checked
    return expressions, hidden


def load_assignment(path: str | Path) -> Assignment:
    """Return the assignment of the solution notebook at `path`; raise ValueError when the grader cannot use it."""
    path = Path(path)
    data = path.read_bytes()
    nb = read_solution(data.decode())
    quiz_name, quiz = load_answer_key(nb, where=str(path))
    expressions, hidden_cells = _checks(nb, quiz_name)
    unchecked = [qid for qid in quiz.specs if qid not in expressions]
    if unchecked:
        raise ValueError(f"{path}: no check cell calls {quiz_name}.check for {', '.join(unchecked)}; the grader "
                         "reads from those calls which variable holds each answer")
    expressions = {qid: expressions[qid] for qid in quiz.specs}
    answers = {qid: loaded_names(ast.parse(expr, mode="eval")) for qid, expr in expressions.items()}
    prelude = _prelude(nb)
    known = _prelude_names(prelude)
    hidden = [_hidden_check(i, nb.cells[i].source, answers, before, known) for i, before in hidden_cells.items()]
    released = {c.id: c.source for c in student_copy(nb, where=str(path), key=(quiz_name, quiz)).cells}
    return Assignment(name=path.stem, path=path, digest=hashlib.sha256(data).hexdigest(), quiz=quiz,
                      quiz_name=quiz_name, expressions=expressions, hidden=hidden, prelude=prelude,
                      key_ids={c.id for c in nb.cells if ANSWER_KEY in tags(c)},
                      released=released, checking=_checking_cells(nb, released, expressions))
