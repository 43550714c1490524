"""`coursekit grade` end to end: a class of crafted submissions, each a case real classes produce, graded at once.

The submissions are generated from the chapter 1 solution (see `crafted.py`): right, wrong and partial
answers, and every kind of bad input the grader must survive. One `grade` call grades them all in
parallel; each test then reads one fact off the gradebook.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from coursekit.cli import main
from coursekit.grading import CodeTask, Exact, Numeric
from coursekit.grading.answers import canonical, number_text
from coursekit.grading.assignment import load_assignment
from coursekit.grading.grade import grade, run_cells, sandbox_note
from coursekit.grading.gradebook import write_atomic
from coursekit.grading.kernel import CellRun
from coursekit.grading.release import ANSWER_KEY, HIDDEN
from coursekit.grading.sandbox import Limits
from coursekit.grading.submissions import Cell, Submission, find_submissions, parse_notebook

from crafted import ASSIGNMENT, SOLUTION, SOLUTIONS, add_cell, answered, fresh, solution, with_cell, write

N = 23  # questions of the chapter 1 questionnaire, one point each
BEFORE_Q4 = 6  # the points of the answers above question 4: q1a, q1b, q1c, q2a, q2b, q3
LIMITS = Limits(cell_timeout=3, timeout=60, memory_mb=2048)  # short limits: the loops and sleeps end soon
HARD_CODED = '''def odd_doubled(numbers):
    # right on the visible test cases, and only there: only a hidden check sees it
    return {(1, 2, 3, 4, 5, 6, 7): [2, 6, 10, 14], (-3, 0, 9, 10): [-6, 18], (11,): [22]}.get(tuple(numbers), [])
'''
LOOPS = '''def odd_doubled(numbers):
    while len(numbers) > 3:  # never returns on the longer test inputs
        pass
    return [2 * n for n in numbers if n % 2 == 1]
'''
FAKE_CHECK = '''def fake_check(qid, value):
    print(f"{qid}: correct!")
quiz.check = fake_check
Quiz.score = lambda self: "23/23"
'''
PATCH_MODULE = '''import coursekit.grading.questions as questions
questions.Choice.check = staticmethod(lambda spec, value, salt: ("correct", ""))
'''
READ_KEY = f"""import glob
found = glob.glob({str(SOLUTIONS)!r} + "/*.ipynb")  # a student who knows where the instructor keeps the key
key = open({str(SOLUTION)!r}).read()
"""


def _class(root: Path) -> Path:
    """Write the crafted class into `root/submissions` and return that folder."""
    subs = root / "submissions"
    nb = lambda student: subs / student / f"{ASSIGNMENT}.ipynb"  # noqa: E731
    right, blank = answered(), fresh()
    write(right, nb("perfect"))
    write(blank, nb("fresh"))
    write(answered(only=["q1a-answer", "q1bc-answer", "q4-answer"]), nb("partial"))
    write(with_cell(with_cell(right, "q1a-answer", 'q1a = "a"'), "q3-answer", "q3 = 'd'"), nb("wrong"))
    write(with_cell(right, "q4-answer", HARD_CODED), nb("hidden_fails"))
    (subs / "not_json").mkdir(parents=True)
    (subs / "not_json" / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ this is not JSON')
    write_v3 = nbformat.writes(copy.deepcopy(right), version=3)  # converts the notebook it is given
    (subs / "nbformat3").mkdir()
    (subs / "nbformat3" / f"{ASSIGNMENT}.ipynb").write_text(write_v3)
    (subs / "empty").mkdir()
    (subs / "empty" / f"{ASSIGNMENT}.ipynb").write_bytes(b"")
    (subs / "no_notebook").mkdir()
    (subs / "no_notebook" / "notes.txt").write_text("I forgot to upload it")
    (subs / "symlink.ipynb").symlink_to(SOLUTION)
    deleted = copy.deepcopy(right)
    deleted.cells = [c for c in right.cells if c.id not in ("q4-answer", "q4-check")]
    write(deleted, nb("deleted_cells"))
    moved = copy.deepcopy(right)
    ids = [c.id for c in right.cells]
    at = ids.index("q9-answer")
    moved.cells = right.cells[:at] + [right.cells[at + 1], right.cells[at]] + right.cells[at + 2:]
    write(moved, nb("moved_cells"))
    write(right, subs / "renamed" / "Copy of questionnaire (1).ipynb")
    write(add_cell(right, "1 / 0", after="q3-check"), nb("raises"))
    write(add_cell(right, "while True:\n    pass", after="q3-check"), nb("infinite_loop"))
    write(with_cell(right, "q4-answer", LOOPS), nb("loops_in_function"))
    write(add_cell(right, "import time\ntime.sleep(1000)", after="q3-check"), nb("sleeps"))
    write(add_cell(right, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                   after="q3-check"), nb("ignores_interrupt"))
    write(add_cell(right, "hoard = bytearray(10**11)", after="q3-check"), nb("huge_memory"))
    write(add_cell(right, "for i in range(50):\n    print('x' * 100_000)", after="q3-check"), nb("floods_output"))
    write(add_cell(right, "import sys\nsys.exit(1)", after="q3-check"), nb("sys_exit"))
    write(add_cell(right, "import os\nos._exit(1)", after="q3-check"), nb("exits_kernel"))
    write(add_cell(right, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", after="q3-check"),
          nb("kills_kernel"))
    write(add_cell(blank, FAKE_CHECK, after="answer-key"), nb("fake_check"))
    write(add_cell(right, PATCH_MODULE, after="answer-key"), nb("patches_module"))
    write(add_cell(blank, READ_KEY, after="setup"), nb("reads_key"))
    return subs


def _vandal(subs: Path, out: Path) -> None:
    """Add a submission that writes into the gradebook folder and over another student's notebook."""
    nb = add_cell(answered(), f"open({str(out / 'grades.csv')!r}, 'w').write('vandal,graded,23')", after="q3-check")
    classmate = subs / "perfect" / f"{ASSIGNMENT}.ipynb"
    nb = add_cell(nb, f"open({str(classmate)!r}, 'w').write('')", after="q3-check")
    write(nb, subs / "vandal" / f"{ASSIGNMENT}.ipynb")


def _hashes(folder: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under `folder` (links not followed)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the crafted class once; return (submissions folder, gradebook folder, gradebook, hashes before)."""
    root = tmp_path_factory.mktemp("class")
    subs, out = _class(root), root / "grades"
    _vandal(subs, out)
    before = _hashes(subs)
    start = time.monotonic()
    book = grade(subs, ASSIGNMENT, out=out, solutions=SOLUTIONS, workers=2, limits=LIMITS, progress=False, log=None)
    print(f"graded {len(book['students'])} crafted submissions in {time.monotonic() - start:.1f} s")
    return subs, out, book, before


def _row(book: dict, student: str) -> dict:
    return next(r for r in book["students"] if r["student"] == student)


# ---------------------------------------------------------------- right, wrong and partial answers

def test_the_solution_answers_score_full_marks(graded):
    row = _row(graded[2], "perfect")
    assert (row["status"], row["total"], row["flags"]) == ("graded", N, [])
    assert row["notes"] == [sandbox_note("bwrap")] and row["sandbox"] == "bwrap"


def test_a_fresh_student_copy_scores_zero(graded):
    row = _row(graded[2], "fresh")
    assert (row["status"], row["total"]) == ("graded", 0)
    assert {q["status"] for q in row["questions"].values()} == {"unanswered"}


def test_a_partly_answered_notebook_scores_the_questions_answered(graded):
    row = _row(graded[2], "partial")
    right = sorted(q for q, r in row["questions"].items() if r["status"] == "correct")
    assert right == ["q1a", "q1b", "q1c", "q4"] and row["total"] == 4


def test_wrong_answers_score_zero_with_the_feedback_of_the_anticipated_mistake(graded):
    row = _row(graded[2], "wrong")
    assert row["total"] == N - 2 and row["questions"]["q1a"]["status"] == "wrong"
    assert "soft edges" in row["questions"]["q1a"]["feedback"]


def test_a_hidden_check_fails_a_function_that_passes_the_visible_check(graded):
    row = _row(graded[2], "hidden_fails")
    q4 = row["questions"]["q4"]
    assert (row["total"], q4["status"]) == (N - 1, "wrong")
    assert "not a hidden one" in q4["feedback"] and "must work on other lists too" in q4["feedback"]


# ---------------------------------------------------------------- files the grader cannot run

@pytest.mark.parametrize("student, status, why", [
    ("not_json", "invalid-notebook", "not valid JSON"),
    ("nbformat3", "invalid-notebook", "format 3"),
    ("empty", "empty", "empty"),
    ("no_notebook", "missing", "no .ipynb"),
    ("symlink", "invalid-notebook", "symbolic link"),
])
def test_a_file_that_is_no_notebook_gets_its_status_and_zero(graded, student, status, why):
    row = _row(graded[2], student)
    assert (row["status"], row["total"]) == (status, 0) and why in row["notes"][0]


# ---------------------------------------------------------------- what students do to their notebooks

def test_deleted_cells_lose_only_their_questions(graded):
    row = _row(graded[2], "deleted_cells")
    assert (row["status"], row["total"], row["questions"]["q4"]["status"]) == ("graded", N - 1, "unanswered")
    assert any("cells of the handed-out notebook are missing (q4-answer, q4-check)" in n for n in row["notes"])


def test_moved_cells_still_count_since_answers_are_found_by_name(graded):
    row = _row(graded[2], "moved_cells")
    assert (row["status"], row["total"]) == ("error", N)  # the check cell now runs before its answer
    assert "cells were moved; the notebook ran in its own order" in row["notes"]


def test_a_renamed_notebook_is_found_and_graded(graded):
    row = _row(graded[2], "renamed")
    assert (row["status"], row["total"]) == ("graded", N)
    assert "Copy of questionnaire (1).ipynb" in row["notes"][0]


def test_a_cell_that_raises_does_not_stop_the_notebook(graded):
    row = _row(graded[2], "raises")
    assert (row["status"], row["total"]) == ("error", N)
    assert any("raised ZeroDivisionError: division by zero" in n for n in row["notes"])


@pytest.mark.parametrize("student", ["infinite_loop", "sleeps"])
def test_a_cell_past_its_time_limit_is_interrupted_and_the_rest_runs(graded, student):
    row = _row(graded[2], student)
    assert (row["status"], row["total"]) == ("timeout", N)
    assert any("ran past the cell limit and was interrupted" in n for n in row["notes"])


def test_a_function_that_never_returns_loses_only_its_question(graded):
    row = _row(graded[2], "loops_in_function")
    assert (row["status"], row["total"], row["questions"]["q4"]["status"]) == ("timeout", N - 1, "error")
    assert any("a call the grader made into the notebook ran past the cell limit" in n for n in row["notes"])


def test_a_cell_that_ignores_interrupts_scores_the_answers_before_it(graded):
    row = _row(graded[2], "ignores_interrupt")
    assert (row["status"], row["total"]) == ("timeout", BEFORE_Q4)
    assert any("could not be interrupted" in n for n in row["notes"])


def test_a_huge_allocation_fails_against_the_memory_limit(graded):
    row = _row(graded[2], "huge_memory")
    assert (row["status"], row["total"]) == ("memory", N)
    assert any("MemoryError" in n for n in row["notes"])


def test_output_flooding_is_counted_not_kept(graded):
    subs, out, book, _ = graded
    row = _row(book, "floods_output")
    assert (row["status"], row["total"]) == ("graded", N)
    assert any("printed 4.8 MB" in n for n in row["notes"])
    assert (out / "grades.json").stat().st_size < 500_000


def test_sys_exit_in_a_cell_is_an_error_not_the_end(graded):
    row = _row(graded[2], "sys_exit")
    assert (row["status"], row["total"]) == ("error", N)


@pytest.mark.parametrize("student", ["exits_kernel", "kills_kernel"])
def test_a_kernel_death_scores_the_questions_answered_before_it(graded, student):
    row = _row(graded[2], student)
    assert (row["status"], row["total"]) == ("kernel-died", BEFORE_Q4)
    right = [q for q, r in row["questions"].items() if r["status"] == "correct"]
    assert right == ["q1a", "q1b", "q1c", "q2a", "q2b", "q3"]


# ---------------------------------------------------------------- tampering

def test_redefining_the_check_is_flagged_and_gains_nothing(graded):
    row = _row(graded[2], "fake_check")
    assert (row["status"], row["total"], row["earned"]) == ("tampered", 0, 0)
    assert any("changes `quiz.check`" in f for f in row["flags"]) and any("Quiz.score" in f for f in row["flags"])


def test_patching_the_grading_module_is_flagged_and_the_total_held_at_zero(graded):
    row = _row(graded[2], "patches_module")
    assert (row["status"], row["total"], row["earned"]) == ("tampered", 0, N)
    assert any("imports `coursekit.grading.questions`" in f for f in row["flags"])


def test_reading_the_solutions_folder_is_refused_and_flagged(graded):
    row = _row(graded[2], "reads_key")
    assert (row["status"], row["total"]) == ("tampered", 0)
    assert "the notebook tried to read the grader's folders (refused)" in row["flags"]
    assert any("PermissionError" in n for n in row["notes"])


def test_writing_into_the_gradebook_or_over_a_classmate_is_refused_and_flagged(graded):
    subs, out, book, before = graded
    row = _row(book, "vandal")
    assert (row["status"], row["total"]) == ("tampered", 0)
    assert "the notebook tried to write into the grader's folders (refused)" in row["flags"]
    assert _row(book, "perfect")["total"] == N
    assert not any(line.startswith("vandal,graded,23") for line in (out / "grades.csv").read_text().splitlines())


# ---------------------------------------------------------------- what the grader guarantees

def test_grading_never_changes_a_submission(graded):
    subs, _, _, before = graded
    assert _hashes(subs) == before


def _key_texts() -> list[str]:
    """Return texts that only the answer key holds: its code lines, the hidden checks, the plain answers."""
    nb = solution()
    key = next(c.source for c in nb.cells if ANSWER_KEY in c.metadata.get("tags", []))
    lines = [line.strip() for line in key.splitlines() if line.strip().startswith(("Choice(", "Exact(", "Numeric(",
                                                                                   "CodeTask("))]
    hidden = [line.strip() for c in nb.cells if HIDDEN in c.metadata.get("tags", [])
              for line in c.source.splitlines() if len(line.strip()) > 20 and not line.startswith("#")]
    return lines + hidden


def _answers_and_explanations() -> list[str]:
    """Return the plain answers (long enough to tell) and the explanations shown only for a right answer."""
    texts = []
    for q in load_assignment(SOLUTION).quiz.questions:
        if isinstance(q, Numeric):
            values = [number_text(q.answer, q.decimals)]
        elif isinstance(q, Exact):
            values = [q.answer]
        elif isinstance(q, CodeTask):
            values = [expected for _, expected in q.cases]
        else:
            values = []
        for v in values:
            plain = v.tolist() if hasattr(v, "tolist") else v
            texts += [t for t in (canonical(plain), repr(plain)) if len(t) >= 4]
        texts += [q.explain]
    return [t for t in texts if t]


def test_no_output_file_holds_the_answer_key_or_a_hidden_check(graded):
    _, out, _, _ = graded
    texts = _key_texts()
    assert len(texts) > 20
    for path in [out / "grades.csv", out / "grades.json", *(out / "feedback").glob("*.md")]:
        content = path.read_text()
        leaked = [t for t in texts if t in content]
        assert not leaked, (path.name, leaked[:3])


@pytest.mark.parametrize("student", ["fresh", "fake_check", "reads_key", "not_json"])
def test_a_student_without_right_answers_reads_no_answer_or_explanation_in_their_feedback(graded, student):
    _, out, _, _ = graded
    content = (out / "feedback" / f"{student}.md").read_text()
    leaked = [t for t in _answers_and_explanations() if t in content]
    assert not leaked, leaked[:3]


def test_the_csv_has_one_row_per_student_and_one_column_per_question(graded):
    _, out, book, _ = graded
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[0] == ["student", "status", "total", "max", *load_assignment(SOLUTION).quiz.specs]
    assert len(rows) == 1 + len(book["students"]) and all(len(r) == 4 + N for r in rows)
    assert ["perfect", "graded", "23", "23", *["1"] * N] in rows


def test_the_json_holds_the_same_rows_with_feedback_and_a_summary(graded):
    _, out, book, _ = graded
    data = json.loads((out / "grades.json").read_text())
    assert [r["student"] for r in data["students"]] == sorted(r["student"] for r in data["students"])
    assert data["summary"]["students"] == len(data["students"]) == 27
    assert set(data["students"][0]["questions"]["q1a"]) == {"points", "max", "status", "feedback"}
    assert data["summary"]["statuses"]["tampered"] == 4 and data["run"]["workers"] == 2


def test_a_rerun_reuses_every_result_and_writes_the_same_gradebook(graded):
    subs, out, book, _ = graded
    csv_before = (out / "grades.csv").read_text()
    again = grade(subs, ASSIGNMENT, out=out, solutions=SOLUTIONS, workers=2, limits=LIMITS, progress=False, log=None)
    assert again["run"]["graded_now"] == 0 and again["run"]["from_cache"] == len(book["students"])
    assert (out / "grades.csv").read_text() == csv_before


# ---------------------------------------------------------------- the command, resume and redo

def test_cli_grades_a_flat_folder_and_redo_grades_again(tmp_path):
    subs = tmp_path / "flat"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("")
    (subs / "bob.ipynb").write_text("[1, 2, 3]")
    cmd = [sys.executable, "-m", "coursekit", "grade", str(subs), "--assignment", ASSIGNMENT,
           "--solutions", str(SOLUTIONS), "--out", str(tmp_path / "grades")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 submissions: 0 graded" in done.stdout and "2 failed" in done.stdout
    rows = list(csv.DictReader((tmp_path / "grades" / "grades.csv").open()))
    assert [(r["student"], r["status"], r["total"]) for r in rows] == [("alice", "empty", "0"),
                                                                      ("bob", "invalid-notebook", "0")]
    assert main(["grade", str(subs), "--assignment", ASSIGNMENT, "--solutions", str(SOLUTIONS),
                 "--out", str(tmp_path / "grades"), "--redo"]) == 0
    assert json.loads((tmp_path / "grades" / "grades.json").read_text())["run"]["graded_now"] == 2


def test_cli_explains_an_unknown_assignment(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert main(["grade", str(tmp_path / "subs"), "--assignment", "99_nothing",
                 "--solutions", str(SOLUTIONS)]) == 2
    assert "no solution notebook" in capsys.readouterr().err


def test_a_changed_submission_is_graded_again_and_the_others_reused(tmp_path):
    subs = tmp_path / "subs"
    write(fresh(), subs / "ann" / f"{ASSIGNMENT}.ipynb")
    (subs / "ben.ipynb").write_text("")
    kwargs = dict(out=tmp_path / "grades", solutions=SOLUTIONS, limits=LIMITS, progress=False, log=None)
    first = grade(subs, ASSIGNMENT, **kwargs)
    write(answered(only=["q1a-answer"]), subs / "ann" / f"{ASSIGNMENT}.ipynb")
    second = grade(subs, ASSIGNMENT, **kwargs)
    assert (first["run"]["graded_now"], second["run"]["graded_now"]) == (2, 1)
    assert [r["total"] for r in second["students"]] == [1, 0]


# ---------------------------------------------------------------- the parts, on small known inputs

def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "grades.csv"
    path.write_text("old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


class _SlowKernel:
    """A stand-in kernel whose every cell takes 0.3 s."""

    def run(self, source: str, timeout: float) -> CellRun:
        time.sleep(0.3)
        return CellRun("ok")


def test_the_notebook_time_limit_stops_the_cells_after_it():
    cells = [Cell(i, "pass", f"cell-{i}", False) for i in range(1, 11)]
    attempt = run_cells(_SlowKernel(), cells, Limits(cell_timeout=5, timeout=1))
    assert attempt.stopped_at is None and [kind for kind, _ in attempt.events] == ["timeout"]
    assert "ran out of its 1 s before cell 5" in attempt.events[0][1]


def test_hidden_checks_guard_the_questions_whose_answers_they_read():
    hidden = load_assignment(SOLUTION).hidden
    assert [(h.names, h.qids) for h in hidden] == [
        (["odd_doubled"], ["q4"]), (["rank_of"], ["q6b"]), (["mnist_distance"], ["q10c"])]


def test_submissions_are_found_in_student_folders_and_flat(tmp_path):
    write(fresh(), tmp_path / "ann" / "sub" / f"{ASSIGNMENT}.ipynb")
    write(fresh(), tmp_path / "ben.ipynb")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "cy").mkdir()
    found = find_submissions(tmp_path, ASSIGNMENT)
    assert found == [Submission("ann", tmp_path / "ann" / "sub" / f"{ASSIGNMENT}.ipynb"),
                     Submission("ben", tmp_path / "ben.ipynb"), Submission("cy", None)]


def test_a_notebook_with_list_sources_is_read(tmp_path):
    nb, why = parse_notebook(write(fresh(), tmp_path / "a.ipynb").read_bytes())
    assert why == "" and all(isinstance(c["source"], str) for c in nb["cells"])


OTHERS = sorted(p for p in SOLUTIONS.glob("*_questionnaire.ipynb") if p != SOLUTION)


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.stem)
def test_every_other_questionnaire_round_trips_through_the_grader(path, tmp_path):
    subs = tmp_path / "subs"
    write(answered(path=path), subs / "right" / path.name)
    write(fresh(path=path), subs / "fresh" / path.name)
    # Some Trials train a model for most of a minute on 2 cores: graded, as the README says, with --cell-timeout 120.
    book = grade(subs, path.stem, out=tmp_path / "grades", solutions=SOLUTIONS, progress=False, log=None,
                 limits=Limits(cell_timeout=120, timeout=900, memory_mb=2048))
    rows = [(r["student"], r["status"], r["total"], r["flags"]) for r in book["students"]]
    assert rows == [("fresh", "graded", 0, []), ("right", "graded", book["max_points"], [])], \
        [r["notes"] for r in book["students"]]
