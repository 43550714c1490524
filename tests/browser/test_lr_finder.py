"""Chapter 6's learning-rate finder panel, used as a student uses it: in JupyterLab, in a real browser."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from labpage import RUN_TIMEOUT_MS, nudge_slider, open_notebook, run_all_cells, slider

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHAPTER = "chapters/06_lr_finder_and_transfer_learning.ipynb"


def test_lr_finder_panel_trains_at_the_picked_rate_and_says_it_diverges(page: Page, lab, artifacts):
    notebook = open_notebook(page, lab.url, CHAPTER)
    run_all_cells(page, notebook)

    panel = notebook.locator(".widget-vbox").filter(has=page.get_by_role("button", name="train at this lr")).first
    panel.scroll_into_view_if_needed()
    lr, plot = slider(panel, "lr"), panel.locator(".widget-output img")
    button = panel.get_by_role("button", name="train at this lr")
    verdict = panel.get_by_text(re.compile(r"^lr=\S+: "))
    # The chapter's last cell on the panel trains at the finder's `minimum` suggestion, which learns.
    expect(verdict, "the panel should say the verdict of its last run").to_have_text(re.compile(r"^lr=\S+: good$"))
    good = plot.get_attribute("src")
    page.screenshot(path=artifacts / "chapter6_1_ran_all.png")

    nudge_slider(page, lr, +60)                      # past the right end: the slider stops at 10**1
    expect(lr.locator(".widget-readout")).to_have_text("1.0e+1")
    expect(plot).not_to_have_attribute("src", good)  # the marker moved along the finder's curve
    button.click()
    expect(verdict).to_have_text("lr=10: diverging", timeout=RUN_TIMEOUT_MS)
    expect(button).to_be_enabled()
    diverging = plot.get_attribute("src")
    page.screenshot(path=artifacts / "chapter6_2_diverging.png")
    assert diverging.startswith("data:image/png;base64,") and diverging != good
