"""Self-checking questionnaires: the question kinds, the `Quiz` students check answers with.

`coursekit.grading.release` makes a student copy from a solution notebook (`coursekit release`).
"""
from .questions import Choice, CodeTask, Exact, Numeric, Question, Trial
from .quiz import Quiz, Report, Result

__all__ = ["Quiz", "Report", "Result", "Question", "Choice", "Exact", "Numeric", "CodeTask", "Trial"]
