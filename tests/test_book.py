"""tools/check_book.py, the check `make book` runs on the built site: each kind of problem is found.

A tiny course (one chapter, its questionnaire and solution) and a tiny site written by hand stand in for
the real ones, so these tests need no Sphinx; the real site is built and walked in a browser by
`make book` and tests/browser/test_book.py.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_book", ROOT / "tools" / "check_book.py")
check_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_book)

ANSWER_KEY = 'quiz = Quiz("01_demo", [Exact("q1", "a rather long secret answer", explain="Because of the reason.")])'
SOLUTION_LINE = "doubled = [x * 2 for x in numbers if x % 2]"
PAGE = """<html><head><link rel="stylesheet" href="{up}_static/style.css"></head><body>
<h1 id="top">{title}</h1><p>{text}</p>{extra}</body></html>"""


def _notebook(path: Path, cells: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course of one chapter with its questionnaire and solution."""
    repo = tmp_path / "repo"
    _notebook(repo / "chapters" / "01_demo.ipynb", [nbformat.v4.new_markdown_cell("# Demo\n\nLists.")])
    key = nbformat.v4.new_code_cell(ANSWER_KEY, metadata={"tags": ["answer-key"]})
    solution = nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\n{SOLUTION_LINE}\n### END SOLUTION")
    hidden = nbformat.v4.new_code_cell("assert odd_doubled([1, 2, 3]) == [2, 6], 'keep odd'",
                                       metadata={"tags": ["hidden"]})
    _notebook(repo / "solutions" / "01_demo_questionnaire.ipynb", [key, solution, hidden])
    _notebook(repo / "exercises" / "01_demo_questionnaire.ipynb",
              [nbformat.v4.new_code_cell("# YOUR CODE HERE\ndoubled = ...")])
    (repo / "README.md").write_text("# A course\n")
    return repo


def _page(site: Path, name: str, extra: str = "", text: str = "Some prose.") -> None:
    path = site / name
    path.parent.mkdir(parents=True, exist_ok=True)
    up = "../" * (len(Path(name).parts) - 1)
    path.write_text(PAGE.format(up=up, title=name, text=text, extra=extra))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A good site for `course`: home, chapter and questionnaire pages, a stylesheet and an image."""
    site = tmp_path / "site"
    (site / "_static").mkdir(parents=True)
    (site / "_static" / "style.css").write_text("body {}")
    (site / "_images").mkdir()
    (site / "_images" / "fig.png").write_bytes(b"\x89PNG not really, but not empty")
    _page(site, "index.html", '<a href="chapters/01_demo.html">1</a><a href="exercises/01_demo_questionnaire.html">q</a>')
    _page(site, "chapters/01_demo.html", '<img src="../_images/fig.png"><a href="../index.html#top">home</a>')
    _page(site, "exercises/01_demo_questionnaire.html", '<a href="../chapters/01_demo.html">back</a>')
    return site


def test_a_good_site_has_no_problems(site, course):
    assert check_book.check(site, course) == []


def test_a_missing_chapter_page_is_found(site, course):
    (site / "chapters" / "01_demo.html").unlink()
    assert any("missing page chapters/01_demo.html" in p for p in check_book.check(site, course))


def test_a_page_left_out_of_the_home_page_toc_is_found(site, course):
    _page(site, "index.html", '<a href="chapters/01_demo.html">1</a>')
    assert any("exercises/01_demo_questionnaire.html is not linked" in p for p in check_book.check(site, course))


def test_a_broken_internal_link_and_a_missing_anchor_are_found(site, course):
    _page(site, "chapters/01_demo.html", '<a href="../nowhere.html">x</a><a href="../index.html#gone">y</a>')
    problems = check_book.check(site, course)
    assert any("broken link or missing file ../nowhere.html" in p for p in problems)
    assert any("../index.html#gone names an anchor" in p for p in problems)


def test_a_missing_or_empty_image_is_found(site, course):
    (site / "_images" / "empty.png").write_bytes(b"")
    _page(site, "chapters/01_demo.html", '<img src="../_images/gone.png"><img src="../_images/empty.png">')
    problems = check_book.check(site, course)
    assert any("missing file ../_images/gone.png" in p for p in problems)
    assert any("image ../_images/empty.png is empty" in p for p in problems)


def test_a_resource_from_another_host_is_found_but_a_link_to_one_is_not(site, course):
    _page(site, "chapters/01_demo.html", '<script src="https://cdn.example.org/x.js"></script>'
                                         '<a href="https://pytorch.org/docs">PyTorch docs</a>')
    assert check_book.check(site, course) == ["chapters/01_demo.html: <script> loads https://cdn.example.org/x.js "
                                              "from another host"]


def test_a_stored_error_output_is_found(site, course):
    _page(site, "chapters/01_demo.html", '<div class="output traceback highlight-ipythontb">ZeroDivisionError</div>')
    assert any("stored error output" in p for p in check_book.check(site, course))


@pytest.mark.parametrize("leak", ["a rather long secret answer", "Because of the reason.",
                                  SOLUTION_LINE, "assert odd_doubled([1, 2, 3]) == [2, 6], 'keep odd'"],
                         ids=["answer", "explanation", "solution-line", "hidden-check"])
def test_solution_text_anywhere_in_the_site_is_found(site, course, leak):
    (site / "searchindex.js").write_text('Search.setIndex({"terms": "' + leak + '"})')
    assert any("solution text of 01_demo_questionnaire.ipynb" in p for p in check_book.check(site, course))


def test_a_solution_line_the_student_copy_shows_anyway_is_no_leak(site, course):
    _notebook(course / "exercises" / "01_demo_questionnaire.ipynb", [nbformat.v4.new_code_cell(SOLUTION_LINE)])
    _page(site, "chapters/01_demo.html", f"<pre>{SOLUTION_LINE}</pre>")
    assert check_book.check(site, course) == []
