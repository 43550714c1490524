"""The judge: score a submission's answers against the key, in the grader's own process.

For each question the grader asks the student's kernel for the answer (`probe.py`), rebuilds it from plain
JSON and passes it to `quiz.evaluate` of the instructor's quiz: the same check, the same feedback, as the
student's `quiz.check` in the notebook, but with values the student's code can no longer touch. For a
`CodeTask` the kernel calls the student's function on the test cases of the sealed spec, and a stand-in
function here replays what it returned (or raised), case by case, and how it changed its arguments.

Then the hidden checks (see `assignment.py`), for the questions still right: each runs here with the
solution's imports, the student's values rebuilt from JSON, and each of the student's functions replaced by
a `StudentFunction`, which calls the real one in the kernel. A failed hidden check makes its questions
wrong; the student reads the message of the failed `assert` (if it has one), never the check itself.
"""
from __future__ import annotations

from typing import Any, Callable

from .assignment import Assignment, HiddenCheck
from .kernel import KernelStuck
from .probe import decode, encode
from .questions import CORRECT, ERROR, UNANSWERED, WRONG
from .quiz import Quiz, Result

Ask = Callable[[dict], "dict | None"]


class StudentRaised(Exception):
    """Raised here when a student's function, called in the kernel by a hidden check, raised there."""

    def __init__(self, name: str, kind: str, message: str):
        """Name the function, and say what it raised."""
        super().__init__(f"{kind}: {message}" if message else kind)
        self.name = name


class NoAnswer(Exception):
    """Raised here when a student's function, called by a hidden check, gave no answer in time."""

    def __init__(self, name: str):
        """Name what gave no answer."""
        super().__init__(name)
        self.name = name


def _stub(*args: Any) -> None:
    """A function with an empty body: what the student's function was."""


def _exception(kind: str, message: str) -> Exception:
    """Return an exception that reads like the student's: its type's name and its message."""
    name = kind if kind.isidentifier() else "Exception"
    return type(name, (Exception,), {})(message)


def _replay(outcomes: list) -> Callable:
    """Return a function that does, call after call, what the student's function did on each case.

    It returns (or raises) what the student's function returned (or raised), and changes its arguments as
    the student's function changed its own.
    """
    remaining = iter(outcomes)

    def student_function(*args: Any) -> Any:
        """Return (or raise) what the student's function did on the next case, changing `args` as it did."""
        outcome = next(remaining)
        _write_back(args, outcome.get("args") or [])
        if "raised" in outcome:
            raise _exception(*outcome["raised"])
        return decode(outcome["ok"])
    return student_function


def _raised(reply: dict) -> tuple[str, str]:
    """Return the (type name, message) of the exception a kernel's `reply` reports, blank when it is missing."""
    kind, message = (list(reply["raised"]) + ["", ""])[:2]
    return kind, message


def request_for(spec: dict, expr: str) -> dict:
    """Return what to ask the kernel for one question: its answer, or its function's results on the test cases."""
    if spec["kind"] == "code":
        return {"op": "cases", "expr": expr, "cases": [case["args"] for case in spec["cases"]]}
    return {"op": "value", "expr": expr}


def judge_answer(quiz: Quiz, qid: str, expr: str, reply: dict | None) -> Result:
    """Return the verdict on question `qid` from the kernel's `reply` about its answer `expr`."""
    points = quiz.specs[qid]["points"]
    if reply is None:
        return Result(qid, ERROR, 0, points, "The grader could not read this answer from the notebook "
                                             "(it took too long, or the grader's request failed: see the notes).")
    if "missing" in reply:
        return Result(qid, UNANSWERED, 0, points, f"`{expr}` is not defined once the notebook has run "
                      f"({reply['missing']}): was its cell deleted, renamed, or stopped by an error?")
    if "raised" in reply:
        kind, message = _raised(reply)
        return Result(qid, ERROR, 0, points, f"Reading `{expr}` raised {kind}: {message}".rstrip(": "))
    try:
        if reply.get("stub"):
            value = _stub
        elif "outcomes" in reply:
            value = _replay(list(reply["outcomes"]))
        else:
            value = decode(reply["value"])
    except Exception:
        return Result(qid, ERROR, 0, points, "The grader could not read this answer.")
    return quiz.evaluate(qid, value)


class StudentFunction:
    """A student's function as a hidden check sees it: each call runs in the student's kernel."""

    def __init__(self, ask: Ask, name: str):
        """Call the function `name` of the notebook through `ask`."""
        self.ask, self.name = ask, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the student's function in the kernel; return its result, or raise as it raised."""
        reply = self.ask({"op": "call", "name": self.name, "args": [encode(a) for a in args],
                          "kwargs": {k: encode(v) for k, v in kwargs.items()}})
        if reply is None:
            raise NoAnswer(self.name)
        if "missing" in reply:
            raise NameError(reply["missing"], name=self.name)
        _write_back(args, reply.get("args") or [])
        if "raised" in reply:
            raise StudentRaised(self.name, *_raised(reply))
        return decode(reply.get("ok"))


def _write_back(args: tuple, after: list) -> None:
    """Change the caller's lists, dicts, sets, tensors and arrays as the student's function changed its copies."""
    for arg, encoded in zip(args, after):
        try:
            new = decode(encoded)
            if isinstance(arg, list) and isinstance(new, list):
                arg[:] = new
            elif isinstance(arg, (dict, set)) and type(new) is type(arg):
                arg.clear()
                arg.update(new)
            elif hasattr(arg, "copy_") and getattr(new, "shape", None) == arg.shape:
                arg.data.copy_(new)
            elif hasattr(arg, "copy_") and hasattr(new, "copy_") and new.shape != arg.shape:
                arg.data = new.to(arg.dtype)  # the student's function changed the shape in place (`resize_`)
            elif type(arg).__module__ == "numpy" and getattr(new, "shape", None) == getattr(arg, "shape", ()):
                arg[...] = new
        except Exception:
            continue


def _namespace(check: HiddenCheck, prelude: str, ask: Ask) -> dict:
    """Return the names a hidden check runs with: the solution's imports, then the student's values and functions."""
    namespace: dict = {"__name__": "__hidden_check__"}
    exec(compile(prelude, "<the solution's imports>", "exec"), namespace)
    for name in check.names:
        reply = ask({"op": "value", "expr": name, "functions": True})
        if reply is None:
            raise NoAnswer(name)
        if "callable" in reply:
            namespace[name] = StudentFunction(ask, name)
        elif "value" in reply:
            namespace[name] = decode(reply["value"])
    return namespace


def run_hidden(check: HiddenCheck, prelude: str, ask: Ask) -> str | None:
    """Run one hidden check on the student's work; return why it failed, or None when it passed."""
    try:
        namespace = _namespace(check, prelude, ask)
        exec(compile(check.source, f"<hidden check, cell {check.cell}>", "exec"), namespace)
    except KernelStuck:
        raise
    except StudentRaised as e:
        return f"your `{e.name}` raised {e} when a hidden check called it"
    except NoAnswer as e:
        return f"`{e.name}` gave no answer in time to a hidden check"
    except NameError as e:
        return f"a hidden check needs `{e.name}`, which is not defined once the notebook has run"
    except AssertionError as e:
        return str(e) or "an assertion about your answer does not hold"
    except Exception as e:
        return f"a hidden check failed ({type(e).__name__})"
    return None


def judge(assignment: Assignment, ask: Ask) -> tuple[dict[str, Result], bool]:
    """Return the verdict on every question, and whether the kernel got stuck (KernelDied passes through)."""
    quiz, results = assignment.quiz, {}
    try:
        for qid, expr in assignment.expressions.items():
            results[qid] = judge_answer(quiz, qid, expr, ask(request_for(quiz.specs[qid], expr)))
    except KernelStuck:
        for qid in assignment.expressions:
            results.setdefault(qid, Result(qid, ERROR, 0, quiz.specs[qid]["points"],
                                           "The kernel stopped answering before this answer was read."))
        return results, True
    stuck = False
    for check in assignment.hidden:
        guarded = [qid for qid in check.qids if results[qid].status == CORRECT]
        if not guarded:
            continue
        try:
            failure = None if stuck else run_hidden(check, assignment.prelude, ask)
        except KernelStuck:
            stuck = True
        for qid in guarded:
            if stuck:
                results[qid] = Result(qid, ERROR, 0, results[qid].max, "The kernel stopped answering during "
                                                                        "a hidden check of this question.")
            elif failure:
                results[qid] = Result(qid, WRONG, 0, results[qid].max,
                                      f"Passes the visible check, but not a hidden one: {failure}.")
    return results, stuck
