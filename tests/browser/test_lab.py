"""The course used as a student uses it: in JupyterLab, in a real browser (see README.md in this folder)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from coursekit.grading.release import BEGIN, END, load_answer_key
from labpage import nudge_slider, open_notebook, prompt, replace_source, run_all_cells, slider, wait_ran

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
README_PICTURE_LIMIT = 150_000   # bytes: the crops below are committed as the README's pictures
QUESTIONNAIRE = "01_pixel_similarity_questionnaire.ipynb"
QUESTION = "q3"                  # multiple choice: how the pixel-similarity baseline decides


def save_picture(locator, path: Path) -> Path:
    """Screenshot just `locator` to `path` and check it is small enough to commit."""
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=path)
    assert path.stat().st_size < README_PICTURE_LIMIT, f"{path.name} is {path.stat().st_size} bytes"
    return path


def stack_pictures(parts: list[Path], path: Path, gap: int = 12) -> Path:
    """Stack the pictures `parts` top to bottom, `gap` white pixels apart, into `path`."""
    images = [Image.open(p).convert("RGB") for p in parts]
    out = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images) + gap * (len(images) - 1)),
                    "white")
    top = 0
    for image in images:
        out.paste(image, (0, top))
        top += image.height + gap
    out.save(path, optimize=True)
    assert path.stat().st_size < README_PICTURE_LIMIT, f"{path.name} is {path.stat().st_size} bytes"
    return path


def test_lr_slider_redraws_the_loss_curve_and_says_when_it_diverges(page: Page, lab, artifacts):
    notebook = open_notebook(page, lab.url, "chapters/02_sgd_roller_coaster.ipynb")
    page.screenshot(path=artifacts / "chapter2_1_opened.png")
    run_all_cells(page, notebook)

    panel = notebook.locator(".widget-vbox").filter(has=page.locator(".widget-slider")).first
    panel.scroll_into_view_if_needed()
    lr, plot = slider(panel, "lr"), panel.locator(".widget-output img")
    verdict = panel.get_by_text(re.compile(r"^lr=\S+: "))
    says_verdict = "the panel should show its verdict as text (a Label in lr_explorer), like the plot's title"
    expect(verdict, says_verdict).to_have_text("lr=0.1: converging")
    page.screenshot(path=artifacts / "chapter2_2_ran_all.png")
    converging = plot.get_attribute("src")

    nudge_slider(page, lr, +7)            # 10**-1 -> 10**-0.3, about 0.5, one 0.1 step of the log scale at a time
    expect(lr.locator(".widget-readout")).to_have_text("5.0e-1")
    expect(verdict).to_have_text("lr=0.5: diverging")
    diverging = plot.get_attribute("src")
    save_picture(panel, artifacts / "lab_chapter2_slider.png")

    nudge_slider(page, lr, -7)
    expect(lr.locator(".widget-readout")).to_have_text("1.0e-1")
    expect(verdict).to_have_text("lr=0.1: converging")
    expect(plot).to_have_attribute("src", converging)
    page.screenshot(path=artifacts / "chapter2_3_back.png")
    assert diverging.startswith("data:image/png;base64,") and diverging != converging


def solution_code(nb: nbformat.NotebookNode, cell_id: str) -> str:
    """Return the code between the solution markers of the cell `cell_id`: what a student should type."""
    lines = next(c for c in nb.cells if c.get("id") == cell_id).source.splitlines()
    return "\n".join(lines[lines.index(BEGIN) + 1:lines.index(END)])


def cell_index(nb: nbformat.NotebookNode, cell_id: str) -> int:
    """Return the position of the cell `cell_id` in the notebook."""
    return [c.get("id") for c in nb.cells].index(cell_id)


def answer_and_check(page: Page, answer, check, code: str) -> None:
    """Type `code` over the answer cell, press Shift+Enter twice (answer cell, then check cell), wait for the check."""
    replace_source(page, answer, code)
    before = prompt(check).inner_text()
    page.keyboard.press("Shift+Enter")                 # runs the answer cell and selects the next one, the check
    page.keyboard.press("Shift+Enter")
    wait_ran(check, before)


def test_questionnaire_check_says_wrong_then_correct(page: Page, lab, artifacts):
    solution = nbformat.read(REPO / "solutions" / QUESTIONNAIRE, as_version=4)
    exercise = nbformat.read(REPO / "exercises" / QUESTIONNAIRE, as_version=4)
    _, quiz = load_answer_key(solution)
    question = next(q for q in quiz.questions if q.qid == QUESTION)
    wrong_letter = next(iter(question.why))            # an anticipated wrong option, which has its own feedback
    attempts = [("not yet.", f'{QUESTION} = "{wrong_letter}"', wrong_letter),
                ("correct!", solution_code(solution, f"{QUESTION}-answer"), question.answer)]

    notebook = open_notebook(page, lab.url, f"exercises/{QUESTIONNAIRE}")
    run_all_cells(page, notebook)
    cells = notebook.locator(".jp-Notebook .jp-Cell")
    text, answer, check = (cells.nth(cell_index(exercise, f"{QUESTION}-{k}")) for k in ("text", "answer", "check"))
    feedback = check.locator(".jp-OutputArea-output")
    expect(answer.locator(".cm-content")).to_contain_text(f"{QUESTION} = ...")
    expect(feedback).to_have_text(str(quiz.evaluate(QUESTION, ...)))
    expect(feedback).to_contain_text(f"{QUESTION}: not answered yet.")

    pictures = [save_picture(text, artifacts / "exercise_0_question.png")]
    for step, (headline, code, value) in enumerate(attempts, 1):
        answer_and_check(page, answer, check, code)
        expect(feedback).to_contain_text(f"{QUESTION}: {headline}")
        expect(feedback).to_have_text(str(quiz.evaluate(QUESTION, value)))    # word for word what the grader says
        page.screenshot(path=artifacts / f"exercise_{step}_{headline.strip('.!').replace(' ', '_')}.png")
        pictures += [save_picture(answer, artifacts / f"exercise_{step}_answer.png"),
                     save_picture(check, artifacts / f"exercise_{step}_check.png")]
    stack_pictures(pictures, artifacts / "lab_exercise_feedback.png")
