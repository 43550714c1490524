"""A questionnaire as a student meets it: `quiz.check(qid, answer)` gives feedback, `quiz.score()` adds up.

The instructor builds `Quiz(name, questions)` in the solution notebook; the student copy holds
`Quiz.load(blob)`, the same quiz sealed (see `questions.py`). Both check answers against the sealed form
only. Every check is remembered in `quiz.results`, which a grader can read after running a notebook.
"""
from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from .answers import salt_for
from .questions import CORRECT, ERROR, KINDS, UNANSWERED, Question, exception_text

HEADLINES = {"correct": "correct!", "wrong": "not yet.", "unanswered": "not answered yet.", "error": "error."}


@dataclass
class Result:
    """The verdict on one answer; `status` is 'correct', 'wrong', 'unanswered' or 'error'."""
    qid: str
    status: str
    points: float
    max: float
    feedback: str = ""

    def as_dict(self) -> dict:
        """Return the result as the dict a grader reads: points, max, status, feedback."""
        return {"points": self.points, "max": self.max, "status": self.status, "feedback": self.feedback}

    def __str__(self) -> str:
        return f"{self.qid}: {HEADLINES[self.status]} {self.feedback}".rstrip()


class Report(dict):
    """The results of a whole questionnaire, `{qid: {"points", "max", "status", "feedback"}}`, shown as a table."""

    @property
    def points(self) -> float:
        """Return the points earned."""
        return sum(r["points"] for r in self.values())

    @property
    def max_points(self) -> float:
        """Return the points there are to earn."""
        return sum(r["max"] for r in self.values())

    def __repr__(self) -> str:
        width = max([len("question"), *map(len, self)])
        lines = [f"{'question':<{width}}  {'status':<10}  points"]
        lines += [f"{qid:<{width}}  {r['status']:<10}  {r['points']:g}/{r['max']:g}" for qid, r in self.items()]
        return "\n".join([*lines, f"Score: {self.points:g}/{self.max_points:g}"])


class Quiz:
    """A questionnaire: its questions, sealed (fingerprints of answers only), and the results of checks so far."""

    def __init__(self, name: str, questions: Sequence[Question]):
        ids = [q.qid for q in questions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"Quiz {name!r}: question ids must be unique; repeated: {', '.join(repeated)}")
        self.name, self.salt = name, salt_for(name)
        self.questions = list(questions)  # the plain answer key; empty in a loaded (student) quiz
        self.specs = {q.qid: q.seal(self.salt) for q in questions}
        self.results: dict[str, Result] = {}

    def dump(self) -> str:
        """Return the sealed quiz as one ASCII string for `Quiz.load` (base64 of JSON, the same every time)."""
        data = {"format": 1, "name": self.name, "questions": list(self.specs.values())}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return base64.b64encode(text.encode()).decode("ascii")

    @classmethod
    def load(cls, blob: str) -> "Quiz":
        """Return the quiz that `dump` sealed into `blob`."""
        data = json.loads(base64.b64decode(blob))
        quiz = cls(data["name"], [])
        quiz.specs = {spec["id"]: spec for spec in data["questions"]}
        return quiz

    def _spec(self, qid: str) -> dict:
        if qid not in self.specs:
            raise ValueError(f"{qid!r} is not a question of {self.name}; its questions are {', '.join(self.specs)}")
        return self.specs[qid]

    def evaluate(self, qid: str, value: Any) -> Result:
        """Return the verdict on `value` as the answer to question `qid`, without printing or recording it."""
        spec = self._spec(qid)
        try:
            status, feedback = KINDS[spec["kind"]].check(spec, value, self.salt)
        except Exception as e:  # a hostile value (its __eq__ or tolist raises...) must not break the notebook
            status, feedback = ERROR, f"Checking this answer raised {exception_text(e)}."
        points = spec["points"] if status == CORRECT else 0
        return Result(qid, status, points, spec["points"], feedback.strip())

    def check(self, qid: str, value: Any) -> None:
        """Print feedback on `value` as the answer to question `qid`, and remember the result for `score`."""
        result = self.evaluate(qid, value)
        self.results[qid] = result
        sys.stdout.write(f"{result}\n")  # one write, so a notebook stores one stream output per line

    def score(self) -> Report:
        """Return the results of every question, shown as a table; a question never checked is unanswered."""
        report = Report()
        for qid, spec in self.specs.items():
            not_run = Result(qid, UNANSWERED, 0, spec["points"], "Its check cell was not run.")
            result = self.results.get(qid, not_run)
            report[qid] = result.as_dict()
        return report

    def __repr__(self) -> str:
        return f"Quiz({self.name!r}, {len(self.specs)} questions)"
