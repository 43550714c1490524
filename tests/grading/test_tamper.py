"""The tamper scan: quiet on honest notebooks, loud on code that reaches for the grading machinery."""
from __future__ import annotations

import pytest

from coursekit.grading.release import ANSWER_KEY
from coursekit.grading.tamper import scan

from crafted import answered, fresh


def _cells(nb) -> list[tuple[int, str, bool]]:
    return [(i, c.source, ANSWER_KEY in c.metadata.get("tags", [])) for i, c in enumerate(nb.cells, 1)
            if c.cell_type == "code"]


@pytest.mark.parametrize("nb", [fresh(), answered()], ids=["fresh", "answered"])
def test_an_honest_notebook_raises_no_flag(nb):
    assert scan(_cells(nb), "quiz") == []


def test_everyday_notebook_code_raises_no_flag():
    code = ("!pip install something\n%matplotlib inline\nimport sys, os\nsys.path.append('.')\n"
            "print(quiz.score())\nquiz.check('q1a', 'c')\nquiz\nresults = {}\nresults['x'] = 1\ndf.events = 3\n")
    assert scan([(1, code, False)], "quiz") == []


@pytest.mark.parametrize("code, flag", [
    ("quiz.check = lambda q, v: None", "changes `quiz.check`"),
    ("quiz = None", "rebinds `quiz`"),
    ("def Quiz(*a): pass", "defines its own `Quiz`"),
    ("setattr(quiz, 'check', print)", "calls `setattr` on `quiz`"),
    ("from coursekit.grading import quiz as q", "imports `coursekit.grading.quiz`"),
    ("m = __import__('coursekit.grading.questions')", "names the grading package"),
    ("import builtins\nbuiltins.print = None", "changes `builtins.print`"),
    ("import sys\nsys.modules['coursekit.grading'] = None", "changes `sys.modules['coursekit.grading']`"),
    ("import ctypes", "imports `ctypes`"),
    ("import gc\ngc.get_referrers(quiz)", "searches memory with `gc.get_referrers`"),
    ("get_ipython().events.register('post_run_cell', f)", "uses IPython's event hooks"),
    ("import sys\nsys.addaudithook(f)", "installs a hook"),
    ("x = quiz.specs", "uses `quiz` other than through quiz.check and quiz.score"),
])
def test_reaching_for_the_grading_machinery_is_flagged(code, flag):
    flags = scan([(7, code, False)], "quiz")
    assert any(f.startswith("cell 7 ") and flag in f for f in flags), flags


def test_a_changed_answer_key_cell_is_flagged_and_the_released_one_is_not():
    released = 'from coursekit.grading import Quiz\n\nquiz = Quiz.load(\n    "abc"\n    "def"\n)'
    assert scan([(4, released, True)], "quiz") == []
    changed = scan([(4, "quiz = MyOwnQuiz()", True)], "quiz")
    assert changed == ["cell 4 changes the answer-key cell (`quiz = MyOwnQuiz()`)"]


def test_a_cell_that_does_not_parse_is_left_to_fail_when_run():
    assert scan([(1, "def (:", False)], "quiz") == []
