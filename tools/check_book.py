"""Check the built book (`make book`): every page there, every link and image resolving, no error output,
no resource from another host, and no solution text anywhere in the site.

Usage: python tools/check_book.py [_build/book]   exits 1 and lists every problem found.

What counts as solution text: every string literal of a solution's answer-key cell (the answers, the
explanations, the feedback), and every line of its solution regions and hidden cells, except lines that
the student copy or a chapter shows anyway (a solution may repeat a line the chapter taught). Literals
and lines shorter than MIN_CHARS are left out: `"b"` or `x = 1` would match any page.
"""
from __future__ import annotations

import ast
import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

REPO = Path(__file__).resolve().parents[1]
MIN_CHARS = 16
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# Tags whose URL the browser loads by itself (a resource), and the attribute that holds it.
RESOURCE_ATTRS = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src"),
                  ("audio", "src"), ("embed", "src"), ("object", "data")}
LOADING_RELS = {"stylesheet", "icon", "preload", "modulepreload", "manifest"}  # <link rel=...> that fetch


class Page(HTMLParser):
    """The links, resources, element ids and visible text of one HTML page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.resources: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.classes: list[str] = []
        self._skip = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        self.classes.append(a.get("class") or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "link" and a.get("href"):
            loads = LOADING_RELS & set((a.get("rel") or "").split())
            (self.resources.append(("link", a["href"])) if loads else self.links.append(a["href"]))
        elif (tag, "src") in RESOURCE_ATTRS and a.get("src"):
            self.resources.append((tag, a["src"]))
        elif tag == "object" and a.get("data"):
            self.resources.append((tag, a["data"]))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def squash(text: str) -> str:
    """Return `text` with every run of whitespace made one space (code is split by highlighting spans)."""
    return " ".join(text.split())


def is_external(url: str) -> bool:
    """True for a URL that names a host (http://, https://, //host), i.e. leaves the site."""
    return bool(urlsplit(url).netloc) or url.startswith("//")


def resolve(page: Path, url: str, site: Path) -> tuple[Path, str] | None:
    """Return (file, fragment) a relative URL of `page` points to; None for mailto:, javascript: and the like."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, parts.fragment


def expected_pages(site: Path, repo: Path = REPO) -> list[Path]:
    """Return the page each chapter and each questionnaire of the course must have."""
    chapters = sorted((repo / "chapters").glob("[0-9][0-9]_*.ipynb"))
    quizzes = [repo / "exercises" / f"{c.stem}_questionnaire.ipynb" for c in chapters]
    return ([site / "chapters" / f"{c.stem}.html" for c in chapters]
            + [site / "exercises" / f"{q.stem}.html" for q in quizzes if q.exists()])


def _cell_lines(source: str) -> list[str]:
    return [squash(line) for line in source.splitlines() if len(squash(line)) >= MIN_CHARS]


def _solution_regions(source: str) -> list[str]:
    """Return the lines between BEGIN SOLUTION and END SOLUTION markers."""
    found, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker.startswith(BEGIN):
            inside = True
        elif marker.startswith(END):
            inside = False
        elif inside:
            found.append(line)
    return found


def public_text(repo: Path = REPO) -> str:
    """Return what a student sees anyway, squashed: the chapters, the student copies, their names, the README."""
    notebooks = sorted((repo / "chapters").glob("*.ipynb")) + sorted((repo / "exercises").glob("*.ipynb"))
    cells = [c.source for p in notebooks for c in nbformat.read(p, as_version=4).cells]
    texts = cells + [p.name for p in notebooks] + [(repo / "README.md").read_text()]
    return "\n".join(squash(t) + "\n" + "\n".join(_cell_lines(t)) for t in texts)


def secrets(solution: Path, public: str) -> list[str]:
    """Return the pieces of `solution` that must not appear in the site (see the module docstring)."""
    found: list[str] = []
    for cell in nbformat.read(solution, as_version=4).cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "answer-key" in tags:
            found += [squash(n.value) for n in ast.walk(ast.parse(cell.source))
                      if isinstance(n, ast.Constant) and isinstance(n.value, str)
                      and len(squash(n.value)) >= MIN_CHARS and squash(n.value) not in public]
        lines = cell.source.splitlines() if "hidden" in tags else _solution_regions(cell.source)
        found += [line for line in _cell_lines("\n".join(lines)) if line not in public]
    return sorted(set(found))


def check(site: Path, repo: Path = REPO) -> list[str]:
    """Return every problem of the built site at `site` (an empty list when it is good)."""
    problems: list[str] = []
    if not (site / "index.html").is_file():
        return [f"{site}: no index.html; build the book first (`make book`)"]
    # The theme's own template snippets in _static/ are no pages: nothing links to them.
    pages = {p: Page(p.read_text(errors="replace")) for p in sorted(site.rglob("*.html"))
             if "_static" not in p.relative_to(site).parts}
    home_links = {resolve(site / "index.html", l, site)[0] for l in pages[site / "index.html"].links
                  if resolve(site / "index.html", l, site)}
    for want in expected_pages(site, repo):
        if want not in pages:
            problems.append(f"missing page {want.relative_to(site)}: is its notebook in the table of contents?")
        elif want not in home_links:
            problems.append(f"{want.relative_to(site)} is not linked from the home page's table of contents")
    for path, page in pages.items():
        name = path.relative_to(site)
        for tag, url in page.resources:
            if is_external(url):
                problems.append(f"{name}: <{tag}> loads {url} from another host")
        for url in page.links + [u for _, u in page.resources]:
            target = resolve(path, url, site)
            if target is None or is_external(url):
                continue
            file, fragment = target
            if not file.is_file():
                problems.append(f"{name}: broken link or missing file {url}")
            elif fragment and file.suffix == ".html" and file in pages and fragment not in pages[file].ids:
                problems.append(f"{name}: link {url} names an anchor the page does not have")
        for tag, url in page.resources:
            target = resolve(path, url, site)
            if tag == "img" and target and target[0].is_file() and target[0].stat().st_size == 0:
                problems.append(f"{name}: image {url} is empty")
        if any("traceback" in c.split() for c in page.classes):
            problems.append(f"{name}: shows a stored error output (a traceback)")
    text = "\n".join(squash(html.unescape(" ".join(p.text))) for p in pages.values())
    raw = "\n".join(squash(html.unescape(f.read_text(errors="replace")))
                    for f in site.rglob("*") if f.suffix in (".js", ".txt", ".html", ".ipynb", ".json"))
    public = public_text(repo)
    for solution in sorted((repo / "solutions").glob("*_questionnaire.ipynb")):
        for secret in secrets(solution, public):
            if secret in text or secret in raw:
                problems.append(f"solution text of {solution.name} is in the site: {secret[:60]!r}")
    return problems


if __name__ == "__main__":
    site = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "_build" / "book")
    found = check(site)
    for p in found:
        print(f"check_book: {p}", file=sys.stderr)
    print(f"check_book: {site} checked, {len(found)} problem(s)")
    sys.exit(1 if found else 0)
