"""Self-checking questionnaires: each question kind, the sealed key, release, and the notebooks end to end."""
from __future__ import annotations

import base64
import json
from copy import deepcopy as copy_of
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbformat import v4

from coursekit.cli import main
from coursekit.grading import Choice, CodeTask, Exact, Numeric, Quiz
from coursekit.grading.answers import canonical, number_text
from coursekit.grading.release import (ANSWER_KEY, load_answer_key, release, stub_solutions, student_copy,
                                       student_text)

REPO = Path(__file__).resolve().parents[1]
CHAPTER1 = REPO / "solutions" / "01_pixel_similarity_questionnaire.ipynb"


def _odd_doubled(numbers):
    return [2 * n for n in numbers if n % 2 == 1]


@pytest.fixture(scope="module")
def quiz() -> Quiz:
    return Quiz("test", [
        Choice("c", "b", why={"a": "a is about colour images"}, explain="one number per pixel"),
        Exact("shape", (32, 48, 3), why={(3, 32, 48): "channels come last in NumPy"}),
        Exact("corner", torch.tensor([[10, 12], [16, 18]]), why=[(torch.tensor([[5, 6], [8, 9]]), "not doubled")]),
        Exact("word", "Valid", ignore_case=True),
        Numeric("rmse", 5 ** 0.5, decimals=2, why={5: "that is the MSE"}, hint="then the square root"),
        CodeTask("odd", "odd_doubled", cases=[(([1, 2, 3, 4, 5],), [2, 6, 10]), (([],), [])],
                 mistakes=[(lambda ns: [2 * n for n in ns], "even numbers doubled too")], explain="well done"),
        CodeTask("dist", "mnist_distance",
                 cases=[((torch.ones(3, 2, 2), torch.zeros(2, 2)), torch.tensor([1.0, 1.0, 1.0]))]),
    ])


def _status(quiz: Quiz, qid: str, value) -> tuple[str, str]:
    result = quiz.evaluate(qid, value)
    return result.status, result.feedback


# ---------------------------------------------------------------- multiple choice

def test_choice_right_letter_is_correct_and_shows_the_explanation(quiz):
    assert _status(quiz, "c", "b") == ("correct", "one number per pixel")


def test_choice_accepts_capitals_spaces_and_parentheses(quiz):
    assert _status(quiz, "c", " (B) ")[0] == "correct"


def test_choice_anticipated_wrong_letter_gets_its_own_explanation(quiz):
    assert _status(quiz, "c", "a") == ("wrong", "a is about colour images")


def test_choice_letter_outside_the_options_is_named(quiz):
    assert _status(quiz, "c", "e") == ("wrong", "'e' is not one of the options a, b, c or d.")


def test_choice_answer_that_is_not_a_string_asks_for_a_letter(quiz):
    status, feedback = _status(quiz, "c", 2)
    assert status == "wrong" and 'such as "a"' in feedback and "the number 2" in feedback


# ---------------------------------------------------------------- exact values

def test_exact_tuple_also_matches_a_list_and_a_torch_size(quiz):
    for answer in [(32, 48, 3), [32, 48, 3], torch.Size([32, 48, 3]), np.zeros((32, 48, 3)).shape]:
        assert _status(quiz, "shape", answer)[0] == "correct", answer


def test_exact_anticipated_wrong_value_gets_its_explanation(quiz):
    assert _status(quiz, "shape", (3, 32, 48)) == ("wrong", "channels come last in NumPy")


def test_exact_string_where_a_tuple_is_expected_says_to_drop_the_quotes(quiz):
    status, feedback = _status(quiz, "shape", "(32, 48, 3)")
    assert status == "wrong"
    assert feedback == "Your answer is the string '(32, 48, 3)'; the question expects a tuple. Write it without quotes."


def test_exact_none_is_named_with_what_is_expected(quiz):
    assert _status(quiz, "shape", None) == ("wrong", "Your answer is None; the question expects a tuple.")


def test_exact_tensor_compares_values_whatever_the_dtype_or_library(quiz):
    for answer in [torch.tensor([[10, 12], [16, 18]]), torch.tensor([[10., 12.], [16., 18.]]),
                   np.array([[10, 12], [16, 18]], dtype=np.int32)]:
        assert _status(quiz, "corner", answer)[0] == "correct", answer


def test_exact_tensor_of_another_shape_names_both_shapes(quiz):
    status, feedback = _status(quiz, "corner", torch.arange(9).view(3, 3))
    assert status == "wrong"
    assert feedback == "Your answer is a tensor of shape (3, 3); the question expects a tensor of shape (2, 2)."


def test_exact_tensor_anticipated_mistake_is_explained(quiz):
    assert _status(quiz, "corner", torch.tensor([[5, 6], [8, 9]])) == ("wrong", "not doubled")


def test_exact_list_where_a_tensor_is_expected_says_so(quiz):
    status, feedback = _status(quiz, "corner", [[10, 12], [16, 18]])
    assert status == "wrong" and "a list of 2 items" in feedback and "a tensor of shape (2, 2)" in feedback


def test_exact_ignore_case_strips_and_lowercases(quiz):
    assert _status(quiz, "word", "  VALID ")[0] == "correct"
    assert _status(quiz, "word", "train")[0] == "wrong"


def test_exact_accepts_the_alternatives_it_lists():
    quiz = Quiz("a", [Exact("split", "valid", accept=["validation"], ignore_case=True)])
    statuses = [quiz.evaluate("split", v).status for v in ["Valid", "validation", "train"]]
    assert statuses == ["correct", "correct", "wrong"]


# ---------------------------------------------------------------- numbers

def test_numeric_compares_after_rounding_and_takes_one_number_tensors(quiz):
    for answer in [2.236, 2.2361, 5 ** 0.5, torch.tensor(5.0).sqrt(), np.float32(2.24)]:
        assert _status(quiz, "rmse", answer)[0] == "correct", answer


def test_numeric_wrong_value_says_how_it_was_compared(quiz):
    assert _status(quiz, "rmse", 2.25) == (
        "wrong", "2.25 is not the expected value (compared rounded to 2 decimals). then the square root")


def test_numeric_anticipated_mistake_is_explained(quiz):
    assert _status(quiz, "rmse", torch.tensor(5.0)) == ("wrong", "that is the MSE")


def test_numeric_string_or_bool_is_not_a_number(quiz):
    status, feedback = _status(quiz, "rmse", "2.24")
    assert status == "wrong" and "expects a number" in feedback and "without quotes" in feedback
    assert "the bool True" in _status(quiz, "rmse", True)[1]


# ---------------------------------------------------------------- code tasks

def test_code_task_right_function_passes_every_case(quiz):
    assert _status(quiz, "odd", _odd_doubled) == ("correct", "`odd_doubled` passes all 2 test cases. well done")


def test_code_task_gives_tensor_arguments_as_tensors(quiz):
    assert _status(quiz, "dist", lambda a, b: (a - b).abs().mean((-1, -2)))[0] == "correct"


def test_code_task_missing_return_is_named():
    def odd_doubled(numbers):
        result = [2 * n for n in numbers if n % 2 == 1]  # noqa: F841 (the missing return is the point)

    quiz = Quiz("t", [CodeTask("odd", "odd_doubled", cases=[(([1, 2, 3],), [2, 6])])])
    assert _status(quiz, "odd", odd_doubled) == (
        "wrong", "odd_doubled([1, 2, 3]) returned None: did you forget `return`?")


def test_code_task_exception_is_reported_with_its_type_and_message(quiz):
    status, feedback = _status(quiz, "odd", lambda numbers: [n / 0 for n in numbers])
    assert status == "error"
    assert feedback == "odd_doubled([1, 2, 3, 4, 5]) raised ZeroDivisionError: division by zero"


def test_code_task_wrong_type_of_result_names_the_expected_type(quiz):
    assert _status(quiz, "odd", lambda numbers: (2 * n for n in numbers if n % 2)) == (
        "wrong", "odd_doubled([1, 2, 3, 4, 5]) returned a generator; it should return a list.")


def test_code_task_anticipated_mistake_is_explained_with_the_result(quiz):
    assert _status(quiz, "odd", lambda ns: [2 * n for n in ns]) == (
        "wrong", "odd_doubled([1, 2, 3, 4, 5]) returned [2, 4, 6, 8, 10]: even numbers doubled too")


def test_code_task_with_an_empty_body_is_unanswered(quiz):
    def odd_doubled(numbers):
        """Keep the odd numbers, doubled."""
        # YOUR CODE HERE
        ...

    assert _status(quiz, "odd", odd_doubled)[0] == "unanswered"


def test_code_task_that_is_not_a_function_says_so(quiz):
    assert _status(quiz, "odd", [2, 6, 10]) == (
        "wrong", "The question expects the function `odd_doubled`; your answer is a list of 3 items.")


# ---------------------------------------------------------------- every kind: unanswered, hostile values

@pytest.mark.parametrize("qid", ["c", "shape", "corner", "rmse", "odd"])
def test_ellipsis_is_unanswered_for_every_kind(quiz, qid):
    status, feedback = _status(quiz, qid, ...)
    assert status == "unanswered" and "`...`" in feedback


class _Hostile:
    """A value whose every inspection raises."""
    shape = property(lambda self: 1 / 0)

    def __repr__(self):
        raise RuntimeError("no repr")


@pytest.mark.parametrize("qid", ["c", "shape", "corner", "rmse", "odd"])
def test_hostile_value_gives_feedback_not_a_crash(quiz, qid, capsys):
    quiz.check(qid, _Hostile())
    printed = capsys.readouterr().out
    assert printed.startswith(f"{qid}: ") and quiz.results[qid].status in {"wrong", "error"}


def test_hostile_value_that_breaks_the_check_is_an_error_naming_the_exception(quiz):
    status, feedback = _status(quiz, "corner", _Hostile())
    assert status == "error" and "ZeroDivisionError" in feedback


def test_unknown_question_id_lists_the_questions(quiz):
    with pytest.raises(ValueError, match="'q99' is not a question of test; its questions are c, shape"):
        quiz.check("q99", 1)


# ---------------------------------------------------------------- the quiz: results, score, sealing

def test_score_reports_every_question_and_counts_only_correct_ones(capsys):
    quiz = Quiz("s", [Choice("q1", "a"), Choice("q2", "b"), Numeric("q3", 1.5)])
    quiz.check("q1", "a")
    quiz.check("q2", "c")
    assert capsys.readouterr().out.splitlines() == ["q1: correct!", 'q2: not yet. "c" is not the right option.']
    report = quiz.score()
    assert report["q1"] == {"points": 1, "max": 1, "status": "correct", "feedback": ""}
    assert report["q2"]["status"] == "wrong" and report["q3"]["status"] == "unanswered"
    assert (report.points, report.max_points) == (1, 3)
    assert repr(report).splitlines()[-1] == "Score: 1/3"


def test_results_keep_the_last_check_of_each_question(capsys):
    quiz = Quiz("s", [Choice("q1", "a")])
    quiz.check("q1", "b")
    quiz.check("q1", "a")
    assert quiz.results["q1"].status == "correct"


def test_sealed_quiz_checks_exactly_like_the_plain_one(quiz):
    sealed = Quiz.load(quiz.dump())
    answers = [("c", "b"), ("c", "a"), ("shape", [32, 48, 3]), ("corner", torch.zeros(3, 3)), ("word", "valid"),
               ("rmse", 5), ("odd", _odd_doubled), ("odd", lambda ns: None), ("dist", lambda a, b: a - b)]
    assert sealed.questions == []
    for qid, value in answers:
        assert sealed.evaluate(qid, value) == quiz.evaluate(qid, value), qid


def test_dump_holds_neither_answers_nor_feedback_in_plain_text():
    quiz = Quiz("secret", [Exact("q1", "pyramid", why={"sphinx": "close, but the tomb"}, explain="Khufu's tomb"),
                           Numeric("q2", 31.25, why={62.5: "halve it"}),
                           CodeTask("q3", "f", cases=[((1,), 7777)], mistakes=[(lambda x: 8888, "too big")])])
    text = base64.b64decode(quiz.dump()).decode()
    for secret in ["pyramid", "sphinx", "tomb", "Khufu", "31.25", "62.5", "halve", "7777", "8888", "too big"]:
        assert secret not in text
    assert json.loads(text)["name"] == "secret"


def test_dump_is_the_same_for_the_same_quiz():
    make = lambda: Quiz("same", [Choice("q1", "c", why={"a": "no"}), Numeric("q2", 0.5)])  # noqa: E731
    assert make().dump() == make().dump()


def test_repeated_question_ids_are_refused():
    with pytest.raises(ValueError, match="repeated: q1"):
        Quiz("r", [Choice("q1", "a"), Numeric("q1", 1.0)])


def test_a_why_entry_equal_to_the_answer_is_refused():
    with pytest.raises(ValueError, match="also a right answer"):
        Numeric("q1", 1.5, why={1.50: "wrong?"}).seal("salt")


def test_canonical_forms_ignore_dtype_container_and_trailing_zeros():
    assert canonical([2, 6]) == canonical((2.0, 6.0)) == "[2,6]"
    assert canonical(torch.tensor([2, 6])) == canonical(np.array([2.0, 6.0])) == "tensor(2,)[2,6]"
    assert number_text(2.50, 2) == "2.5" and number_text(-0.001, 2) == "0" and number_text(7, 2) == "7"


# ---------------------------------------------------------------- release

def test_stub_replaces_a_top_level_solution_with_one_stub_per_name():
    source = "a = 1\n### BEGIN SOLUTION\nt = torch.arange(1, 10)\nx, y = 1, 2\nt[0] = 5\n### END SOLUTION\nprint(t)"
    assert stub_solutions(source) == "a = 1\n# YOUR CODE HERE\nt = ...\nx = ...\ny = ...\nprint(t)"


def test_stub_inside_a_function_body_leaves_a_function_that_runs_and_reads_as_empty():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION"
    stubbed = stub_solutions(source)
    assert stubbed == "def f(x):\n    # YOUR CODE HERE\n    ..."
    namespace = {}
    exec(stubbed, namespace)
    quiz = Quiz("t", [CodeTask("q", "f", cases=[((1,), 2)])])
    assert namespace["f"](3) is None and quiz.evaluate("q", namespace["f"]).status == "unanswered"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1", "without a matching"),
    ("x = 1\n### END SOLUTION", "line 2: `### END SOLUTION` without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "line 2: a second"),
])
def test_unbalanced_solution_markers_are_errors_that_say_where(source, problem):
    with pytest.raises(ValueError, match=problem):
        stub_solutions(source)


TINY_KEY = """
from coursekit.grading import Quiz, Exact, CodeTask
quiz = Quiz("tiny", [Exact("q1", "pyramid", why={"sphinx": "close, but the sphinx guards it"},
                           explain="the tomb of Khufu"),
                     CodeTask("q2", "double", cases=[((3,), 6), ((-1,), -2)])])
"""


def _tiny_solution(path: Path) -> Path:
    """Write a small solution questionnaire, executed-looking (outputs, counts), and return its path."""
    def code(source, tags=(), outputs=()):
        cell = v4.new_code_cell(source, execution_count=1, outputs=list(outputs))
        cell.metadata.update({"tags": list(tags), "execution": {"iopub.status.idle": "2026-01-01T00:00:00Z"}})
        return cell

    cells = [v4.new_markdown_cell("# Tiny questionnaire\n\nWhat is the tomb of Khufu?"),
             code(TINY_KEY, tags=[ANSWER_KEY]),
             code('### BEGIN SOLUTION\nanswer = "pyramid"\n### END SOLUTION\nanswer',
                  outputs=[v4.new_output("execute_result", {"text/plain": "'pyramid'"}, execution_count=1)]),
             code('quiz.check("q1", answer)', outputs=[v4.new_output("stream", name="stdout", text="q1: correct!\n")]),
             code('assert answer == "pyramid"', tags=["hidden"]),
             code("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
             code('quiz.check("q2", double)'),
             code("report = quiz.score()")]
    for i, cell in enumerate(cells):
        cell.id = f"tiny-{i}"
    nb = v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _run_in_process(nb) -> dict:
    """Run every code cell of `nb` in one namespace (no kernel) and return the namespace."""
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(cell.source, namespace)
    return namespace


def test_release_seals_the_key_stubs_solutions_drops_hidden_cells_and_outputs(tmp_path):
    solution = _tiny_solution(tmp_path / "solutions" / "tiny_questionnaire.ipynb")
    assert release(tmp_path / "solutions", tmp_path / "exercises") == [tmp_path / "exercises" / solution.name]
    text = (tmp_path / "exercises" / solution.name).read_text()
    copy = nbformat.reads(text, as_version=4)
    assert [c.id for c in copy.cells] == ["tiny-0", "tiny-1", "tiny-2", "tiny-3", "tiny-5", "tiny-6", "tiny-7"]
    assert copy.cells[1].source.splitlines()[-1] == ")" and "quiz = Quiz.load(" in copy.cells[1].source
    assert copy.cells[2].source == "# YOUR CODE HERE\nanswer = ...\nanswer"
    assert all(c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code")
    assert all(set(c.metadata) <= {"tags", "jupyter"} for c in copy.cells)
    assert copy.cells[0].source == "# Tiny questionnaire\n\nWhat is the tomb of Khufu?"  # markdown kept as is
    for secret in ["pyramid", "sphinx"]:
        assert secret not in text
    report = _run_in_process(copy)["report"]
    assert [r["status"] for r in report.values()] == ["unanswered", "unanswered"]


def test_release_is_byte_for_byte_deterministic(tmp_path):
    solution = _tiny_solution(tmp_path / "tiny_questionnaire.ipynb")
    first = release(solution, tmp_path / "a")[0].read_bytes()
    second = release(solution, tmp_path / "b")[0].read_bytes()
    assert first == second and first.endswith(b"}\n")


def test_release_of_chapter_1_is_the_same_in_a_fresh_process_with_another_hash_seed(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "coursekit", "release", str(CHAPTER1), str(tmp_path)],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    assert (tmp_path / CHAPTER1.name).read_text() == student_text(CHAPTER1)


def test_cli_check_names_stale_copies_and_exits_1_until_released(tmp_path, capsys):
    _tiny_solution(tmp_path / "solutions" / "tiny_questionnaire.ipynb")
    src, dest = str(tmp_path / "solutions"), str(tmp_path / "exercises")
    assert main(["release", src, dest, "--check"]) == 1
    assert "exercises/tiny_questionnaire.ipynb" in capsys.readouterr().err
    assert main(["release", src, dest]) == 0
    assert main(["release", src, dest, "--check"]) == 0
    (tmp_path / "exercises" / "orphan_questionnaire.ipynb").write_text("{}")
    assert main(["release", src, dest, "--check"]) == 1
    assert "orphan_questionnaire.ipynb" in capsys.readouterr().err


def test_cli_explains_a_missing_answer_key(tmp_path, capsys):
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("x = 1")]), tmp_path / "bad_questionnaire.ipynb")
    assert main(["release", str(tmp_path / "bad_questionnaire.ipynb"), str(tmp_path / "out")]) == 2
    assert "has 0 cells tagged 'answer-key'" in capsys.readouterr().err


# ---------------------------------------------------------------- chapter 1: nothing leaks, the round trip

def _plain_forms(question) -> list[str]:
    """Return the ways the answers of `question` could be written in a notebook (long enough to be telling)."""
    if isinstance(question, Choice):
        return []
    if isinstance(question, Numeric):
        values = [number_text(question.answer, question.decimals)]
    elif isinstance(question, Exact):
        values = [question.answer, *question.accept]
    else:
        values = [expected for _, expected in question.cases]
    forms = []
    for v in values:
        plain = v.tolist() if hasattr(v, "tolist") else v
        forms += [canonical(plain), repr(plain), str(plain)]
    return [f for f in forms if len(f) >= 4]


def _feedback(question) -> list[str]:
    """Return every feedback text of `question` that only an answer should unlock."""
    if isinstance(question, Choice):
        texts = list(question.why.values())
    elif isinstance(question, CodeTask):
        texts = [text for _, text in question.mistakes]
    else:
        texts = [text for _, text in question.why]
    return [t for t in [question.explain, *texts] if t]


def _sealed_parts(spec, readable: list[str], locked: list[bytes]) -> None:
    """Split a sealed spec into its readable strings and its locked (encrypted) texts."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("answers", "why"):
                locked += [base64.b64decode(token) for token in value.values()]
            elif key == "explain":
                locked.append(base64.b64decode(value))
            elif key != "answer":
                _sealed_parts(value, readable, locked)
    elif isinstance(spec, list):
        for item in spec:
            _sealed_parts(item, readable, locked)
    else:
        readable.append(str(spec))


@pytest.fixture(scope="module")
def chapter1():
    """Return the chapter 1 solution notebook, its plain answer key, and its fresh student copy."""
    solution = nbformat.read(CHAPTER1, as_version=4)
    _, key = load_answer_key(solution)
    return solution, key, student_copy(solution)


def test_chapter_1_student_copy_holds_no_answer_and_no_unlocked_feedback(chapter1):
    _, key, copy = chapter1
    sealed_cell = next(c for c in copy.cells if ANSWER_KEY in c.metadata.get("tags", []))
    readable, locked = [c.source for c in copy.cells if c is not sealed_cell], []
    namespace: dict = {}
    exec(sealed_cell.source, namespace)
    _sealed_parts(list(namespace["quiz"].specs.values()), readable, locked)
    readable_text, locked_bytes = "\n".join(readable), b"\n".join(locked)
    whole_text = nbformat.writes(copy)
    forms = [f for q in key.questions for f in _plain_forms(q)]
    texts = [t for q in key.questions for t in _feedback(q)]
    assert len(forms) > 10 and len(texts) > 40
    for form in forms:
        assert form not in readable_text, form
    for text in texts:
        assert text not in readable_text and text not in whole_text and text.encode() not in locked_bytes, text


def _execute(nb, cwd: Path):
    """Execute `nb` in a fresh python3 kernel with `cwd` as its folder; raise on any cell error."""
    NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _printed(cell) -> str:
    """Return what a code cell printed or displayed, as text."""
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def test_chapter_1_solution_answers_get_full_marks_against_the_sealed_key(chapter1, tmp_path):
    solution, key, copy = chapter1
    sealed = next(c for c in copy.cells if ANSWER_KEY in c.metadata.get("tags", []))
    nb = copy_of(solution)
    for cell in nb.cells:
        if ANSWER_KEY in cell.metadata.get("tags", []):
            cell.source = sealed.source
    _execute(nb, tmp_path)
    n = len(key.specs)
    checks = [line for c in nb.cells if "quiz.check(" in c.source for line in _printed(c).splitlines()]
    assert len(checks) == n and all(": correct!" in line for line in checks), checks
    assert _printed(nb.cells[-1]).splitlines()[-1] == f"Score: {n}/{n}"


def test_chapter_1_stored_solution_outputs_show_full_marks(chapter1):
    solution, key, _ = chapter1
    n = len(key.specs)
    assert _printed(solution.cells[-1]).splitlines()[-1] == f"Score: {n}/{n}"


def test_chapter_1_fresh_student_copy_runs_to_a_score_of_zero_without_errors(chapter1, tmp_path):
    _, key, copy = chapter1
    nb = _execute(copy_of(copy), tmp_path)
    checks = [line for c in nb.cells if "quiz.check(" in c.source for line in _printed(c).splitlines()]
    assert len(checks) == len(key.specs) and all(": not answered yet." in line for line in checks), checks
    assert _printed(nb.cells[-1]).splitlines()[-1] == f"Score: 0/{len(key.specs)}"
