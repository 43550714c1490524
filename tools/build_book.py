"""Build the course as a static book: stage the stored notebooks as pages, then run Sphinx on them.

Usage: python tools/build_book.py [--out _build/book]   (what `make book` runs; the check is check_book.py)

Nothing is executed: chapters keep their stored outputs. The pages are staged in `_build/book_src/`:
- `index.md`, the home page: the README's opening, how to start, and its chapter list as links;
- each chapter, with a note on how to open it in JupyterLab and a link to its questionnaire, and each
  widget output replaced by a line saying the panel works in JupyterLab (the chapters draw static figures);
- each questionnaire's student copy, questions only: the sealed answer-key cell and all outputs left out;
- `instructors.md`, the README's section for instructors.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"
ANSWER_KEY = "answer-key"  # the tag release.py gives the quiz cell (kept here so the build needs no torch)
WIDGET_NOTE = ("*This is an interactive panel: in JupyterLab (`make lab`) its controls respond. "
               "The static figures in this chapter show what it draws.*")


def readme_section(readme: str, title: str) -> str:
    """Return the body of the README's `## title` section, up to the next `## ` heading."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    if not m:
        raise SystemExit(f"build_book: README.md has no '## {title}' section; the book's pages are drawn from it")
    return m.group(1).strip()


def chapter_lines(readme: str) -> dict[str, str]:
    """Return {chapter stem: its one-line description} from the README's numbered chapter list."""
    found = re.findall(r"^\d+\. `(\d\d_\w+)` — (.*?)(?=^\d+\. `|^\s*$)", readme, flags=re.S | re.M)
    return {stem: " ".join(text.split()) for stem, text in found}


def questionnaire_of(chapter: Path) -> Path:
    """Return the student questionnaire that belongs to a chapter notebook."""
    return REPO / "exercises" / f"{chapter.stem}_questionnaire.ipynb"


def stage_chapter(src: Path, dest: Path) -> None:
    """Write the chapter page: a how-to-open note after the title, widget views replaced by a note."""
    nb = nbformat.read(src, as_version=4)
    quiz = questionnaire_of(src)
    link = f"[its questionnaire](../exercises/{quiz.stem}.ipynb)" if quiz.exists() else "no questionnaire yet"
    note = (f":::{{note}}\nRun this chapter yourself: `make lab`, then open `chapters/{src.name}` in "
            f"JupyterLab and run the cells from the top (*Run → Run All Cells*). Then answer {link}.\n:::")
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(note))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if WIDGET in out.get("data", {}):
                outputs.append(nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE}))
            else:
                outputs.append(out)
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, dest)


def stage_questionnaire(src: Path, dest: Path) -> None:
    """Write the questionnaire page: every cell but the sealed answer key, with no outputs."""
    nb = nbformat.read(src, as_version=4)
    nb.cells = [c for c in nb.cells if ANSWER_KEY not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, dest)


def home_page(readme: str, chapters: list[Path], lines: dict[str, str]) -> str:
    """Return the home page: what the course is, how to start, the chapter list and the table of contents."""
    intro = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    start = readme_section(readme, "Start in two commands")
    items, toc = [], []
    for ch in chapters:
        nb = nbformat.read(ch, as_version=4)
        title = next((l[2:].strip() for c in nb.cells if c.cell_type == "markdown"
                      for l in c.source.splitlines() if l.startswith("# ")), ch.stem)
        items.append(f"- [{title}](chapters/{ch.stem}.ipynb) — {lines.get(ch.stem, '')}")
        toc.append(f"chapters/{ch.stem}")
        if questionnaire_of(ch).exists():
            toc.append(f"exercises/{questionnaire_of(ch).stem}")
    toctree = "\n".join(toc + ["instructors"])
    return (f"# Deep learning from pixels up\n\n{intro}\n\n## Start in two commands\n\n{start}\n\n"
            f"## Chapters\n\nEach chapter is followed by its questionnaire.\n\n" + "\n".join(items)
            + f"\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{toctree}\n```\n")


def stage(src_dir: Path) -> list[Path]:
    """Stage every page of the book in `src_dir`; return the chapters staged."""
    readme = (REPO / "README.md").read_text()
    chapters = sorted((REPO / "chapters").glob("[0-9][0-9]_*.ipynb"))
    lines = chapter_lines(readme)
    missing = [c.stem for c in chapters if c.stem not in lines]
    if missing:
        raise SystemExit(f"build_book: README.md's chapter list has no line for {', '.join(missing)}; "
                         "add one (`N. `stem` — what it teaches`), the home page uses it")
    if src_dir.exists():
        shutil.rmtree(src_dir)
    (src_dir / "chapters").mkdir(parents=True)
    (src_dir / "exercises").mkdir()
    shutil.copy(REPO / "book" / "conf.py", src_dir / "conf.py")
    for ch in chapters:
        stage_chapter(ch, src_dir / "chapters" / ch.name)
        if questionnaire_of(ch).exists():
            stage_questionnaire(questionnaire_of(ch), src_dir / "exercises" / questionnaire_of(ch).name)
    (src_dir / "index.md").write_text(home_page(readme, chapters, lines))
    (src_dir / "instructors.md").write_text("# For instructors\n\n" + readme_section(readme, "For instructors")
                                            .replace("\n### ", "\n## ") + "\n")
    return chapters


def build(out: Path) -> float:
    """Stage the pages and build the HTML site into `out`; return the seconds it took."""
    start = time.perf_counter()
    src_dir = out.parent / "book_src"
    stage(src_dir)
    if out.exists():
        shutil.rmtree(out)
    # -W: a warning (a broken cross-reference, a missing image) fails the build; -n: nitpicky references.
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-d",
           str(out.parent / "book_doctrees"), str(src_dir), str(out)]
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "book")
    args = parser.parse_args()
    seconds = build(args.out.resolve())
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"book: {args.out} built in {seconds:.1f} s, {size / 1e6:.1f} MB")
