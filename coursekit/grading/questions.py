"""The kinds of question a questionnaire asks: multiple choice, an exact value, a number, a function to write,
code that a test in the notebook tries out.

An instructor writes each question with its answer in plain sight, `Numeric("q7", 3.75, decimals=2)`.
`seal` turns it into what a student copy may hold: fingerprints of the right answers, feedback locked by
the answer it is about (see `answers.py`), and harmless plain facts (the options, the expected shape).
`check` judges a student's value against that sealed form alone, so the solution notebook and the
student copy check answers in exactly the same way. It returns a status, one of
'correct', 'wrong', 'unanswered', 'error', and the feedback to print.
"""
from __future__ import annotations

import ast
import copy
from typing import Any, Callable, Iterable, Sequence

from . import codec
from .answers import (CannotCompare, as_number, canonical, describe, expectation, fingerprint, is_array, is_stub,
                      lock, mismatch, number_text, short, unlock)

CORRECT, WRONG, UNANSWERED, ERROR = "correct", "wrong", "unanswered", "error"
STILL_EMPTY = "The answer cell still holds `...`: put your answer there, run it, then run this check again."


class Question:
    """A graded question: its id, its points, a hint for wrong answers, the explanation shown when right."""
    kind = ""

    def __init__(self, qid: str, points: float = 1, hint: str = "", explain: str = ""):
        self.qid, self.points, self.hint, self.explain = qid, points, hint, explain

    def seal(self, salt: str) -> dict:
        """Return this question as a student copy stores it: no answer in readable form."""
        return {"id": self.qid, "kind": self.kind, "points": self.points, "hint": self.hint}

    @staticmethod
    def check(spec: dict, value: Any, salt: str) -> tuple[str, str]:
        """Return (status, feedback) for `value` as the answer to the sealed question `spec`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.qid!r})"


def _pairs(why: dict | Iterable | None) -> list[tuple[Any, str]]:
    """Return the anticipated wrong answers as (value, explanation) pairs, from a dict or a list of pairs."""
    if why is None:
        return []
    return list(why.items()) if isinstance(why, dict) else list(why)


def _seal_answers(salt: str, qid: str, rights: list[str], explain: str, wrongs: list[tuple[str, str]]) -> dict:
    """Return the fingerprints of the right and anticipated wrong answers, each with its feedback locked by it."""
    for canon, _ in wrongs:
        if canon in rights:
            raise ValueError(f"{qid}: the wrong answer {canon} in `why` is also a right answer; remove it from `why`")
    return {"answers": {fingerprint(salt, qid, c): lock(explain, salt, qid, c) for c in rights},
            "why": {fingerprint(salt, qid, c): lock(text, salt, qid, c) for c, text in wrongs}}


def _lookup(spec: dict, salt: str, qid: str, canon: str) -> tuple[str, str] | None:
    """Return (status, feedback) when `canon` is a right or an anticipated wrong answer, else None."""
    key = fingerprint(salt, qid, canon)
    if key in spec["answers"]:
        return CORRECT, unlock(spec["answers"][key], salt, qid, canon)
    if key in spec["why"]:
        return WRONG, unlock(spec["why"][key], salt, qid, canon)
    return None


def _without_quotes(value: Any, expect_kind: str) -> str:
    """Return a nudge for a string given where something else was expected."""
    return " Write it without quotes." if isinstance(value, str) and expect_kind != "str" else ""


class Choice(Question):
    """A multiple-choice question: the answer is the letter of one option, such as "b"."""
    kind = "choice"

    def __init__(self, qid: str, answer: str, options: str = "abcd", why: dict[str, str] | None = None,
                 explain: str = "", hint: str = "", points: float = 1):
        super().__init__(qid, points, hint, explain)
        self.answer, self.options, self.why = answer, options, dict(why or {})
        for letter in [answer, *self.why]:
            if letter not in options:
                raise ValueError(f"{qid}: {letter!r} is not one of the options {options!r}")

    def seal(self, salt: str) -> dict:
        """Return the sealed question: the options stay readable, the right letter is a fingerprint."""
        wrongs = [(canonical(k), text) for k, text in self.why.items()]
        return {**super().seal(salt), "options": list(self.options),
                **_seal_answers(salt, self.qid, [canonical(self.answer)], self.explain, wrongs)}

    @staticmethod
    def check(spec: dict, value: Any, salt: str) -> tuple[str, str]:
        """Return (status, feedback) for the letter `value`."""
        if value is Ellipsis:
            return UNANSWERED, STILL_EMPTY
        options = spec["options"]
        listed = ", ".join(options[:-1]) + " or " + options[-1]
        if not isinstance(value, str):
            return WRONG, (f'Answer with the letter of one option in quotes, such as "{options[0]}"; '
                           f"your answer is {describe(value)}.")
        letter = value.strip().strip("().").strip().lower()
        if letter not in options:
            return WRONG, f"{short(value)} is not one of the options {listed}."
        found = _lookup(spec, salt, spec["id"], canonical(letter))
        return found or (WRONG, f'"{letter}" is not the right option. {spec["hint"]}')


class Exact(Question):
    """A question with one exact answer: a number, a string, a tuple or list, a tensor (compared by shape and values).

    Floats inside are compared rounded to `decimals`; `accept` lists other answers that count as right.
    """
    kind = "exact"

    def __init__(self, qid: str, answer: Any, accept: Sequence = (), why: dict | Iterable | None = None,
                 ignore_case: bool = False, decimals: int = 4, explain: str = "", hint: str = "", points: float = 1):
        super().__init__(qid, points, hint, explain)
        self.answer, self.accept, self.why = answer, list(accept), _pairs(why)
        self.ignore_case, self.decimals = ignore_case, decimals

    def _canon(self, x: Any) -> str:
        return canonical(x, self.decimals, case=not self.ignore_case)

    def seal(self, salt: str) -> dict:
        """Return the sealed question: what kind of value is expected stays readable, the value is a fingerprint."""
        rights = [self._canon(a) for a in [self.answer, *self.accept]]
        wrongs = [(self._canon(k), text) for k, text in self.why]
        return {**super().seal(salt), "expects": expectation(self.answer), "decimals": self.decimals,
                "ignore_case": self.ignore_case, **_seal_answers(salt, self.qid, rights, self.explain, wrongs)}

    @staticmethod
    def check(spec: dict, value: Any, salt: str) -> tuple[str, str]:
        """Return (status, feedback) for the value `value`."""
        if value is Ellipsis:
            return UNANSWERED, STILL_EMPTY
        expect = spec["expects"]
        try:
            canon = canonical(value, spec["decimals"], case=not spec["ignore_case"])
        except CannotCompare:
            canon = None
        found = canon is not None and _lookup(spec, salt, spec["id"], canon)
        if found:
            return found
        if mismatch(expect, value):
            return WRONG, (f"Your answer is {describe(value)}; the question expects {expect['label']}."
                           + _without_quotes(value, expect["kind"]))
        return WRONG, f"{short(value)} is not the expected answer. {spec['hint']}"


class Numeric(Question):
    """A question whose answer is a number, compared after rounding to `decimals` places."""
    kind = "numeric"

    def __init__(self, qid: str, answer: float, decimals: int = 2, why: dict | Iterable | None = None,
                 explain: str = "", hint: str = "", points: float = 1):
        super().__init__(qid, points, hint, explain)
        self.answer, self.decimals, self.why = answer, decimals, _pairs(why)

    def seal(self, salt: str) -> dict:
        """Return the sealed question: the number of decimals stays readable, the number is a fingerprint."""
        rights = [number_text(self.answer, self.decimals)]
        wrongs = [(number_text(k, self.decimals), text) for k, text in self.why]
        return {**super().seal(salt), "decimals": self.decimals,
                **_seal_answers(salt, self.qid, rights, self.explain, wrongs)}

    @staticmethod
    def check(spec: dict, value: Any, salt: str) -> tuple[str, str]:
        """Return (status, feedback) for the number `value` (a tensor holding one number counts)."""
        if value is Ellipsis:
            return UNANSWERED, STILL_EMPTY
        decimals = spec["decimals"]
        x = as_number(value)
        if x is None:
            return WRONG, (f"The question expects a number (compared rounded to {decimals} decimals); "
                           f"your answer is {describe(value)}." + _without_quotes(value, "number"))
        canon = number_text(x, decimals)
        found = _lookup(spec, salt, spec["id"], canon)
        return found or (WRONG, f"{canon} is not the expected value (compared rounded to {decimals} decimals). "
                                f"{spec['hint']}")


def encode_arg(x: Any) -> dict:
    """Return a test-case argument in a form JSON can store: a tensor or an array (`codec.py`), or a Python literal."""
    form = codec.encode(x) if is_array(x) else None
    if form is not None:
        return form
    text = repr(x)
    try:
        same = ast.literal_eval(text) == x
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise TypeError(f"a test-case argument must be a tensor, an array or a Python literal "
                        f"(numbers, strings, lists, tuples, dicts); got {describe(x)}")
    return {"literal": text}


def decode_arg(d: dict) -> Any:
    """Return the test-case argument that `encode_arg` stored as `d` (a fresh object every call)."""
    return codec.decode(d) if codec.is_encoded(d) else ast.literal_eval(d["literal"])


ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]


def _changed(before: dict, after: Any) -> bool:
    """Return True when the argument `after` no longer holds what `encode_arg` stored as `before`."""
    try:
        return encode_arg(after) != before
    except Exception:
        return True


def exception_text(e: BaseException) -> str:
    """Return an exception as a student reads it: `ZeroDivisionError: division by zero`."""
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _call_text(name: str, args: tuple) -> str:
    """Return how a call reads in feedback: `odd_doubled([1, 2, 3])`, tensors shown by their shape."""
    shown = [f"<tensor of shape {tuple(a.shape)}>" if is_array(a) else short(a, 40) for a in args]
    return f"{name}({', '.join(shown)})"


class CodeTask(Question):
    """A function to write: it is called on each test case, and each result compared with the expected one.

    `cases` are (args, expected) pairs, args a tuple: `(([1, 2, 3],), [2, 6])`. `mistakes` are
    (wrong_function, explanation) pairs: when a student's result matches what a wrong function returns,
    the student reads that explanation. With `keeps_args=True` a function that returns the right result but
    changes an argument it was given (a list, a tensor) is wrong, and the student is told which argument.
    """
    kind = "code"

    def __init__(self, qid: str, name: str, cases: Sequence[tuple[tuple, Any]],
                 mistakes: Sequence[tuple[Callable, str]] = (), decimals: int = 4, keeps_args: bool = False,
                 explain: str = "", hint: str = "", points: float = 1):
        super().__init__(qid, points, hint, explain)
        for i, case in enumerate(cases):
            if not (isinstance(case, tuple) and len(case) == 2 and isinstance(case[0], tuple)):
                raise ValueError(f"{qid}: case {i} must be a pair (args, expected) with args a tuple, "
                                 f"like (([1, 2, 3],), [2, 6]); got {short(case)}")
        self.name, self.cases, self.mistakes, self.decimals = name, list(cases), list(mistakes), decimals
        self.keeps_args = keeps_args

    def _seal_case(self, salt: str, i: int, args: tuple, expected: Any) -> dict:
        """Return one sealed test case: its arguments readable, its expected result a fingerprint."""
        cid, canon = f"{self.qid}/{i}", canonical(expected, self.decimals)
        why = {}
        for wrong_fn, text in self.mistakes:
            try:
                wrong = canonical(wrong_fn(*copy.deepcopy(args)), self.decimals)
            except Exception:
                continue
            if wrong != canon:
                why.setdefault(fingerprint(salt, cid, wrong), lock(text, salt, cid, wrong))
        return {"args": [encode_arg(a) for a in args], "call": _call_text(self.name, args),
                "expects": expectation(expected), "answer": fingerprint(salt, cid, canon), "why": why}

    def seal(self, salt: str) -> dict:
        """Return the sealed task: the test inputs stay readable, the expected results are fingerprints."""
        canons = "\n".join(canonical(expected, self.decimals) for _, expected in self.cases)
        return {**super().seal(salt), "name": self.name, "decimals": self.decimals,
                **({"keeps_args": True} if self.keeps_args else {}),
                "cases": [self._seal_case(salt, i, *case) for i, case in enumerate(self.cases)],
                "explain": lock(self.explain, salt, self.qid, canons)}

    @staticmethod
    def _run_case(spec: dict, i: int, fn: Callable, salt: str) -> tuple[str, str, str | None]:
        """Return (status, feedback, canonical result) of calling `fn` on test case `i`."""
        case, call, cid = spec["cases"][i], spec["cases"][i]["call"], f"{spec['id']}/{i}"
        args = [decode_arg(a) for a in case["args"]]
        try:
            out = fn(*args)
        except Exception as e:
            return ERROR, f"{call} raised {exception_text(e)}", None
        if out is Ellipsis:
            return UNANSWERED, f"`{spec['name']}` returns `...`: write its body, run its cell, then this check.", None
        if out is None and case["expects"]["kind"] != "none":
            return WRONG, f"{call} returned None: did you forget `return`?", None
        try:
            canon = canonical(out, spec["decimals"])
        except CannotCompare:
            canon = None
        key = canon and fingerprint(salt, cid, canon)
        if key == case["answer"]:
            changed = spec.get("keeps_args") and [n for n, (a, before) in enumerate(zip(args, case["args"]))
                                                  if _changed(before, a)]
            if changed:
                which = " and ".join(ORDINALS[n] if n < len(ORDINALS) else f"number {n + 1}" for n in changed)
                return WRONG, (f"{call} returns the right result, but changes its {which} argument: leave what it "
                               f"is given as it was, and work on a copy (`.clone()` for a tensor, `list(...)` "
                               f"for a list)."), None
            return CORRECT, "", canon
        if key in case["why"]:
            return WRONG, f"{call} returned {short(out)}: {unlock(case['why'][key], salt, cid, canon)}", None
        if mismatch(case["expects"], out):
            return WRONG, f"{call} returned {describe(out)}; it should return {case['expects']['label']}.", None
        return WRONG, f"{call} returned {short(out)}, which is not the expected result. {spec['hint']}", None

    @staticmethod
    def check(spec: dict, value: Any, salt: str) -> tuple[str, str]:
        """Return (status, feedback) for the function `value`, stopping at the first test case it fails."""
        name = spec["name"]
        if value is Ellipsis:
            return UNANSWERED, STILL_EMPTY
        if is_stub(value):
            return UNANSWERED, f"`{name}` has an empty body (`...`): write it, run its cell, then this check."
        if not callable(value):
            return WRONG, f"The question expects the function `{name}`; your answer is {describe(value)}."
        canons = []
        for i in range(len(spec["cases"])):
            status, feedback, canon = CodeTask._run_case(spec, i, value, salt)
            if status != CORRECT:
                return status, feedback
            canons.append(canon)
        explain = unlock(spec["explain"], salt, spec["id"], "\n".join(canons))
        return CORRECT, f"`{name}` passes all {len(canons)} test cases. {explain}"


PASSED = canonical([])  # what a test returns when it found no problem, and the key that locks `Trial`'s explanation


class Trial(Question):
    """Code that a test in the notebook checks by running it: a class to write, a plot, a model to train.

    What such a test checks is no secret (a method to have, a bar to reach: say it in the question), so the test
    is a function in a visible cell of the questionnaire. It returns `...` while the code it tests is still a
    stub, else the list of problems it found, each a sentence for the student, and never raises. The check
    cell passes that list on, `quiz.check("q16", test_learner(MyLearner))`: no problem is correct.
    """
    kind = "trial"

    def __init__(self, qid: str, explain: str = "", hint: str = "", points: float = 1):
        super().__init__(qid, points, hint, explain)

    def seal(self, salt: str) -> dict:
        """Return the sealed question: the explanation is locked, to be read once the test passes."""
        return {**super().seal(salt), "explain": lock(self.explain, salt, self.qid, PASSED)}

    @staticmethod
    def check(spec: dict, value: Any, salt: str) -> tuple[str, str]:
        """Return (status, feedback) for `value`, the problems a test found: correct when there are none."""
        if value is Ellipsis:
            return UNANSWERED, "The code this question tests is still `...`: write it, run its cell, then this check."
        if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
            return WRONG, (f"This check expects the list of problems that the question's test returns, such as "
                           f"`test_...(your_code)`; it got {describe(value)}.")
        if not value:
            return CORRECT, unlock(spec["explain"], salt, spec["id"], PASSED)
        n = len(value) - 1
        more = f" ({n} more problem{'s' if n > 1 else ''} after this one.)" if n else ""
        return WRONG, f"{value[0]}{more} {spec['hint']}".strip()


KINDS = {cls.kind: cls for cls in (Choice, Exact, Numeric, CodeTask, Trial)}
