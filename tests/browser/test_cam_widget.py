"""Chapter 9's class activation map panel, used as a student uses it: in JupyterLab, in a real browser."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from labpage import nudge_slider, open_notebook, slider, use_menu, wait_for_kernel_idle

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

CHAPTER = "chapters/09_class_activation_maps.ipynb"
CHAPTER_TIMEOUT_MS = 600_000     # the chapter trains two models: about a minute on 2 free cores, more on a busy machine
PANEL_TEXT = re.compile(r"^(cat|dog): probability (\d\.\d\d) \(image (\d+), predicted (cat|dog)\)$")


def run_all_and_wait(page: Page, notebook) -> None:
    """Run > Run All Cells, and wait (as long as the chapter needs) until no cell is queued or running."""
    running = notebook.locator(".jp-InputPrompt", has_text="[*]")
    use_menu(page, "Run", "runmenu:run-all")
    expect(running).not_to_have_count(0, timeout=10_000)
    expect(running).to_have_count(0, timeout=CHAPTER_TIMEOUT_MS)
    wait_for_kernel_idle(notebook, timeout=CHAPTER_TIMEOUT_MS)


def read_panel(label) -> tuple[str, float, int, str]:
    """Return (class, its probability, image number, predicted class) from the panel's line of text."""
    m = PANEL_TEXT.match(label.inner_text().strip())
    assert m, f"the panel's text should say the class and its probability; it says {label.inner_text()!r}"
    return m[1], float(m[2]), int(m[3]), m[4]


def test_cam_panel_switches_class_and_says_its_probability(page: Page, lab, artifacts):
    notebook = open_notebook(page, lab.url, CHAPTER)
    run_all_and_wait(page, notebook)
    errors = notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                              has_text="Traceback")
    expect(errors).to_have_count(0)

    panel = notebook.locator(".widget-vbox").filter(has=page.locator(".widget-toggle-buttons")).first
    panel.scroll_into_view_if_needed()
    label, plot = panel.get_by_text(PANEL_TEXT), panel.locator(".widget-output img")
    expect(label).to_be_visible()
    expect(plot).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.screenshot(path=artifacts / "chapter9_1_ran_all.png")
    cls, p, image, predicted = read_panel(label)      # wherever the chapter's own check cell left the panel
    assert 0 <= image < 15, f"the panel shows image {image} of its 16; the test moves to the next one"
    first_png = plot.get_attribute("src")

    other = "dog" if cls == "cat" else "cat"
    panel.locator(".widget-toggle-button", has_text=re.compile(f"^{other}$")).click()
    expect(label).to_have_text(re.compile(f"^{other}: probability "))
    other_cls, other_p, other_image, other_predicted = read_panel(label)
    assert (other_image, other_predicted) == (image, predicted)
    assert abs(p + other_p - 1) <= 0.011, f"two classes: p({cls})={p} and p({other})={other_p} should add up to 1"
    expect(plot).not_to_have_attribute("src", first_png)
    panel.screenshot(path=artifacts / "lab_chapter9_cam.png")

    panel.locator(".widget-toggle-button", has_text=re.compile(f"^{cls}$")).click()
    expect(label).to_have_text(re.compile(f"^{cls}: probability {p:.2f} \\(image {image},"))
    expect(plot).to_have_attribute("src", first_png)          # the same map again, byte for byte

    nudge_slider(page, slider(panel, "image"), +1)
    expect(label).to_have_text(re.compile(f"\\(image {image + 1}, predicted (cat|dog)\\)$"))
    expect(plot).not_to_have_attribute("src", first_png)
    page.screenshot(path=artifacts / "chapter9_2_next_image.png")
