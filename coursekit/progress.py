"""What you see while a `Learner` trains: the progress bar and the table of results per epoch.

`ProgressCallback` draws a bar over each epoch's batches (tqdm: a widget in a notebook, text in a
terminal); `Recorder` fills a `_ResultsTable` with one row per epoch. Neither changes the training.
(Both used to live in `callbacks.py`; `from coursekit.callbacks import ProgressCallback` still works.)
"""
from __future__ import annotations

from .callbacks import Callback

__all__ = ["ProgressCallback"]


def _in_notebook() -> bool:
    """Tell whether we run inside a Jupyter kernel (so tables can be shown as HTML)."""
    import sys

    if "IPython" not in sys.modules:
        return False
    ip = sys.modules["IPython"].get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class _ResultsTable:
    """The table of per-epoch results: HTML updated in place in a notebook, text lines in a terminal."""

    def __init__(self, header: list[str]):
        self.header, self.rows, self.handle = header, [], None
        self.widths = [max(len(h), 9) for h in header]

    def _line(self, cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, self.widths)).rstrip()

    def __repr__(self) -> str:
        return "\n".join(self._line(r) for r in [self.header, *self.rows])

    def _repr_html_(self) -> str:
        from html import escape

        row = lambda cells, tag: "<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>"
        body = "".join(row(r, "td") for r in self.rows)
        return f'<table class="dataframe"><thead>{row(self.header, "th")}</thead><tbody>{body}</tbody></table>'

    def add(self, row: list) -> None:
        """Add one epoch's row and show it."""
        self.rows.append([f"{v:.6f}" if isinstance(v, float) else str(v) for v in row])
        if _in_notebook():
            from IPython.display import display

            if self.handle is None:
                self.handle = display(self, display_id=True)
            else:
                self.handle.update(self)
            return
        if len(self.rows) == 1:
            print(self._line(self.header))
        print(self._line(self.rows[-1]))


class ProgressCallback(Callback):
    """Show a progress bar (tqdm: a widget in a notebook, text in a terminal): one per epoch, over its batches."""

    order = 60

    def __init__(self):
        self.bar, self.in_fit = None, False

    def _open(self, total: int, desc: str) -> None:
        self._close()
        if self.learn.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, mininterval=0.2)

    def before_fit(self) -> None:
        """Note that bars now follow epochs."""
        self.in_fit = True

    def before_epoch(self) -> None:
        """Open this epoch's bar over its training and validation batches."""
        self._open(len(self.dls.train) + len(self.dls.valid), f"epoch {self.epoch + 1}/{self.n_epoch}")

    def before_validate(self) -> None:
        """Open a bar for a validation outside `fit`."""
        if not self.in_fit:  # validate() or get_preds()
            self._open(len(self.dl), "valid")

    def after_batch(self) -> None:
        """Move the bar one batch on."""
        if self.bar is not None:
            self.bar.update(1)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def cleanup(self) -> None:
        """Close any open bar."""
        self._close()
        self.in_fit = False

    after_epoch = _close
