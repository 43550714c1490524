"""Drive JupyterLab 4 the way a student does: open a notebook, use the Run menu and the keyboard, type into cells.

Every wait is explicit (Playwright's `expect` retries until its timeout), so nothing here sleeps.
"""
from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

RUN_TIMEOUT_MS = 180_000
PROMPT_DONE = re.compile(r"^\[\d+\]:$")
NO_KERNEL = re.compile(r"^\s*(No Kernel)?\s*$")


def open_notebook(page: Page, base_url: str, path: str) -> Locator:
    """Open `path` in a fresh workspace, wait for its kernel to be idle, and return the notebook panel."""
    page.goto(f"{base_url}/lab/tree/{path}?reset")
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    wait_for_kernel_idle(panel, timeout=60_000)
    return panel


def wait_for_kernel_idle(panel: Locator, timeout: float = RUN_TIMEOUT_MS) -> None:
    """Wait until the notebook has a kernel and its indicator (in the toolbar) reads idle.

    The indicator also reads idle while the notebook has no kernel yet, hence the check on the kernel's name.
    """
    expect(panel.locator(".jp-Toolbar-kernelName")).not_to_have_text(NO_KERNEL, timeout=timeout)
    indicator = panel.locator(".jp-Notebook-ExecutionIndicator")
    expect(indicator).to_have_attribute("data-status", "idle", timeout=timeout)


def use_menu(page: Page, menu: str, command: str) -> None:
    """Click `menu` in the menu bar, then the item that runs `command` (JupyterLab's command id)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


def run_all_cells(page: Page, panel: Locator) -> None:
    """Run > Run All Cells, and wait until no cell is queued or running and the kernel is idle."""
    running = panel.locator(".jp-InputPrompt", has_text="[*]")
    use_menu(page, "Run", "runmenu:run-all")
    expect(running).not_to_have_count(0, timeout=10_000)
    expect(running).to_have_count(0, timeout=RUN_TIMEOUT_MS)
    wait_for_kernel_idle(panel)


def replace_source(page: Page, cell: Locator, text: str) -> None:
    """Click into the cell's editor, select everything and type `text` over it."""
    cell.locator(".jp-InputArea .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    expect(cell.locator(".jp-InputArea .cm-content")).to_have_text(text)


def prompt(cell: Locator) -> Locator:
    """Return the cell's input prompt (`[ ]:`, `[*]:` or `[3]:`)."""
    return cell.locator(".jp-InputPrompt")


def wait_ran(cell: Locator, prompt_before: str) -> None:
    """Wait until the cell shows a new execution count (it has run again since its prompt read `prompt_before`)."""
    expect(prompt(cell)).not_to_have_text(prompt_before, timeout=RUN_TIMEOUT_MS)
    expect(prompt(cell)).to_have_text(PROMPT_DONE, timeout=RUN_TIMEOUT_MS)


def slider(panel: Locator, description: str) -> Locator:
    """Return the ipywidgets slider labelled `description`."""
    return panel.locator(".widget-slider").filter(has=panel.page.locator(".widget-label",
                                                                         has_text=re.compile(f"^{description}$")))


def nudge_slider(page: Page, widget: Locator, steps: int) -> None:
    """Focus the slider's handle and press the arrow key `abs(steps)` times (right for positive steps)."""
    handle = widget.locator(".noUi-handle")
    handle.focus()
    for _ in range(abs(steps)):
        handle.press("ArrowRight" if steps > 0 else "ArrowLeft")
