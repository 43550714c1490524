"""`Trial`: code that a test in the notebook runs, the check passing on the problems the test found."""
from __future__ import annotations

import base64

import pytest

from coursekit.grading import Quiz
from coursekit.grading.questions import KINDS, Trial


@pytest.fixture(scope="module")
def quiz() -> Quiz:
    return Quiz("trial", [Trial("learner", explain="fit is the whole loop", hint="Read the test above.")])


def _status(quiz: Quiz, value) -> tuple[str, str]:
    result = quiz.evaluate("learner", value)
    return result.status, result.feedback


def test_trial_is_a_kind_the_quiz_can_load():
    assert KINDS["trial"] is Trial


def test_trial_no_problem_is_correct_and_unlocks_the_explanation(quiz):
    assert _status(quiz, []) == ("correct", "fit is the whole loop")


def test_trial_one_problem_is_wrong_and_shows_it_with_the_hint(quiz):
    assert _status(quiz, ["fit never calls zero_grad."]) == ("wrong", "fit never calls zero_grad. Read the test above.")


def test_trial_several_problems_show_the_first_and_count_the_rest(quiz):
    assert _status(quiz, ["a.", "b.", "c."]) == ("wrong", "a. (2 more problems after this one.) Read the test above.")
    assert _status(quiz, ("a.", "b.")) == ("wrong", "a. (1 more problem after this one.) Read the test above.")


def test_trial_stub_is_unanswered(quiz):
    status, feedback = _status(quiz, ...)
    assert status == "unanswered" and "`...`" in feedback


@pytest.mark.parametrize("value, words", [(True, "the bool True"), ("ok", "the string 'ok'"), ([1, 2], "a list of 2")])
def test_trial_value_that_is_not_a_list_of_problems_says_what_it_got(quiz, value, words):
    status, feedback = _status(quiz, value)
    assert status == "wrong" and "list of problems" in feedback and words in feedback


def test_trial_sealed_quiz_checks_like_the_plain_one_and_hides_the_explanation(quiz):
    blob = quiz.dump()
    assert "fit is the whole loop" not in base64.b64decode(blob).decode()
    sealed = Quiz.load(blob)
    for value in [[], ["a.", "b."], ..., 3]:
        assert sealed.evaluate("learner", value) == quiz.evaluate("learner", value), value


def test_trial_counts_in_the_score_only_when_it_passes(capsys):
    quiz = Quiz("trial", [Trial("a"), Trial("b")])
    quiz.check("a", [])
    quiz.check("b", ["too slow."])
    assert capsys.readouterr().out == "a: correct!\nb: not yet. too slow.\n"
    assert repr(quiz.score()).splitlines()[-1] == "Score: 1/2"
