"""Execute notebooks in place, the way they are committed: fresh kernel, cwd = the notebook's folder.

Usage: python tools/run_notebooks.py chapters/01_pixel_similarity.ipynb [more.ipynb ...]
Records no execution timestamps and drops the saved widget state (random model ids, a copy of every
figure) so diffs stay reviewable, and prints how long each notebook took.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(path: Path, timeout: int = 600) -> float:
    """Execute the notebook at `path` in place; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return elapsed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {run(Path(name)):.1f} s", flush=True)
