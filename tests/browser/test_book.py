"""The course as a book (`make book`): the built site read in a real browser, from 127.0.0.1 alone.

Every page loads with no console error and no failed request, and every image decodes; the home page lists
every chapter; the next links walk the whole course in order and the previous links walk it back; the
search page finds a term of every chapter on that chapter's page.
"""
from __future__ import annotations

import collections
import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
from PIL import Image
from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "_build" / "book"
CHAPTERS = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
PICTURE_LIMIT = 150_000   # bytes: the two screenshots are committed as the README's pictures


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports failed requests itself
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Serve the built book on a free port of 127.0.0.1; return its address."""
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE.relative_to(REPO)} has no index.html: build the book first with `make book`")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def tab(browser) -> Iterator[tuple[Page, list[str]]]:
    """A new tab and the list of problems it has met: console errors, failed requests, HTTP errors."""
    page, problems, refused_before = browser.context.new_page(), [], len(browser.refused)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        yield page, problems
    finally:
        page.close()
    refused = browser.refused[refused_before:]
    assert not refused, f"the book tried to reach beyond 127.0.0.1 (refused): {refused}"


def pages() -> list[str]:
    """Return the site's pages, relative to its root (the theme's template snippets in _static/ are none)."""
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html") if "_static" not in p.parts)


def undecoded_images(page: Page) -> list[str]:
    """Return the sources of the page's images that do not decode (natural width 0), loading lazy ones too."""
    return page.evaluate("""async () => {
        const imgs = Array.from(document.images);
        imgs.forEach(i => { i.loading = 'eager'; });
        const bad = await Promise.all(imgs.map(i => i.decode().then(() => i.naturalWidth > 0 ? null : i.src,
                                                                    () => i.src)));
        return bad.filter(b => b !== null);
    }""")


def test_every_page_loads_without_errors_and_its_images_decode(tab, site):
    page, problems = tab
    listed = pages()
    assert len(listed) >= 2 * len(CHAPTERS) + 2, f"the site has only {len(listed)} pages: {listed}"
    broken = {}
    for name in listed:
        problems.clear()
        page.goto(f"{site}/{name}", wait_until="load")
        bad = undecoded_images(page)
        if problems or bad:
            broken[name] = problems + [f"image does not decode: {src}" for src in bad]
    assert not broken, f"pages with problems: {broken}"


def test_home_page_links_to_every_chapter(tab, site, artifacts):
    page, problems = tab
    page.goto(f"{site}/index.html")
    hrefs = page.locator("#chapters li a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    linked = {h.split("#")[0] for h in hrefs}
    assert linked == {f"chapters/{c.stem}.html" for c in CHAPTERS}, f"the chapter list links to {sorted(linked)}"
    screenshot(page, artifacts / "book_home.png")
    assert not problems, problems


def screenshot(page: Page, path: Path) -> None:
    """Save a screenshot of the page's top, in 256 colours so it is small enough to commit."""
    page.set_viewport_size({"width": 1100, "height": 760})
    page.screenshot(path=path)
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    assert path.stat().st_size < PICTURE_LIMIT, f"{path.name} is {path.stat().st_size} bytes"


def expected_order() -> list[str]:
    """Return the book's pages in reading order: home, each chapter and its questionnaire, the instructors' page."""
    order = ["index.html"]
    for c in CHAPTERS:
        order.append(f"chapters/{c.stem}.html")
        if (REPO / "exercises" / f"{c.stem}_questionnaire.ipynb").exists():
            order.append(f"exercises/{c.stem}_questionnaire.html")
    return order + ["instructors.html"]


def walk(page: Page, site: str, start: str, selector: str) -> list[str]:
    """Follow the link `selector` from page `start` until a page has none; return the pages visited."""
    seen = [start]
    page.goto(f"{site}/{start}")
    while page.locator(selector).count():
        page.locator(selector).first.click()
        page.wait_for_load_state("load")
        here = page.url.removeprefix(f"{site}/").split("#")[0]
        assert here not in seen, f"the {selector} links go round in a circle at {here}: {seen}"
        seen.append(here)
    return seen


def test_next_and_previous_links_walk_the_whole_course(tab, site, artifacts):
    page, problems = tab
    order = expected_order()
    assert walk(page, site, order[0], "a.right-next") == order
    assert walk(page, site, order[-1], "a.left-prev") == order[::-1]
    page.goto(f"{site}/chapters/{CHAPTERS[0].stem}.html")
    screenshot(page, artifacts / "book_chapter.png")
    assert not problems, problems


def words(notebook: Path) -> collections.Counter:
    """Count the long words of a notebook's prose (its markdown cells), lower-cased."""
    text = " ".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")
    return collections.Counter(w.lower() for w in re.findall(r"[A-Za-z]{9,}", text))


@functools.cache
def own_terms() -> dict[str, str]:
    """Return, for each chapter, its most used long word that no other chapter's prose uses."""
    counts = {c.stem: words(c) for c in CHAPTERS}
    terms = {}
    for stem, count in counts.items():
        others = set().union(*(set(c) for s, c in counts.items() if s != stem))
        terms[stem] = next(w for w, _ in count.most_common() if w not in others)
    return terms


@pytest.mark.parametrize("chapter", [c.stem for c in CHAPTERS])
def test_search_finds_a_term_of_each_chapter_on_its_page(tab, site, chapter):
    page, problems = tab
    term = own_terms()[chapter]
    page.goto(f"{site}/search.html?q={term}")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=30_000)
    found = results.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert any(f"chapters/{chapter}.html" in h for h in found), f"searching {term!r} found {found}"
    assert not problems, problems
