"""`ClassificationInterpretation`: where does a trained classifier go wrong?

It runs the model once over a dataset (`learn.get_preds` with inputs and per-item losses) and then
answers questions from those numbers: the confusion matrix (rows: actual class, columns: predicted
class), the pairs of classes most often confused, and the items with the highest loss.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .plots import show_images

__all__ = ["ClassificationInterpretation"]


def _decode(preds: torch.Tensor) -> torch.Tensor:
    """Return the predicted class of each item: the argmax, or `prob > 0.5` for a single output."""
    if preds.ndim == 2 and preds.shape[1] > 1:
        return preds.argmax(1)
    return (preds.flatten() > 0.5).long()


def _as_images(x: torch.Tensor) -> torch.Tensor:
    """Return inputs as images: flattened square images (e.g. 784 pixels) are reshaped to 28x28."""
    side = math.isqrt(x.shape[-1]) if x.ndim == 2 else 0
    return x.view(len(x), side, side) if x.ndim == 2 and side * side == x.shape[-1] else x


class ClassificationInterpretation:
    """The predictions, targets, inputs and losses of `learn` on one dataset, with ways to look at the errors."""

    def __init__(self, learn: Any, inputs: torch.Tensor, preds: torch.Tensor, targs: torch.Tensor,
                 losses: torch.Tensor):
        self.learn, self.inputs, self.preds, self.losses = learn, inputs, preds, losses.flatten()
        self.targs, self.decoded = targs.flatten().long(), _decode(preds)
        n = preds.shape[1] if preds.ndim == 2 and preds.shape[1] > 1 else 2
        vocab = getattr(learn.dls, "vocab", None)
        self.vocab = list(vocab) if vocab is not None else list(range(n))

    @classmethod
    def from_learner(cls, learn: Any, ds_idx: int = 1, dl: Any = None) -> "ClassificationInterpretation":
        """Return the interpretation of `learn` on the validation set (`ds_idx=1`), the training set (0) or `dl`."""
        inputs, preds, targs, losses = learn.get_preds(ds_idx=ds_idx, dl=dl, with_input=True, with_loss=True)
        return cls(learn, inputs, preds, targs, losses)

    def confusion_matrix(self) -> np.ndarray:
        """Return the confusion matrix: entry `[i, j]` counts items of actual class i predicted as class j."""
        n = len(self.vocab)
        if int(self.targs.max()) >= n or int(self.decoded.max()) >= n:
            raise ValueError(f"Classes go up to {int(max(self.targs.max(), self.decoded.max()))} but the vocab has "
                             f"{n} names: {self.vocab}.")
        counts = torch.bincount(self.targs * n + self.decoded, minlength=n * n)
        return counts.view(n, n).numpy()

    def most_confused(self, min_val: int = 1) -> list[tuple[Any, Any, int]]:
        """Return `(actual, predicted, count)` for each off-diagonal cell with `count >= min_val`, most first."""
        cm = self.confusion_matrix()
        pairs = [(self.vocab[i], self.vocab[j], int(cm[i, j])) for i in range(len(cm)) for j in range(len(cm))
                 if i != j and cm[i, j] >= min_val]
        return sorted(pairs, key=lambda p: -p[2])  # (a stable sort: ties keep the matrix's order)

    def top_losses(self, k: int | None = None, largest: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Return `(losses, idxs)` of the `k` items with the highest loss (all if None), highest first."""
        losses, idxs = torch.sort(self.losses, descending=largest, stable=True)
        return losses[:k], idxs[:k]

    def plot_confusion_matrix(self, normalize: bool = False, title: str = "Confusion matrix", cmap: str = "Blues",
                              norm_dec: int = 2, figsize: tuple | None = None, dpi: int | None = None):
        """Draw the confusion matrix (each row divided by its total if `normalize`); return the figure."""
        import matplotlib.pyplot as plt

        cm = self.confusion_matrix().astype(float)
        if normalize:
            cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        n = len(cm)
        fig, ax = plt.subplots(figsize=figsize or (1 + 0.5 * n, 1 + 0.5 * n), dpi=dpi)
        ax.imshow(cm, cmap=cmap)
        ticks, names = np.arange(n), [str(v) for v in self.vocab]
        ax.set(xticks=ticks, yticks=ticks, xlabel="Predicted", ylabel="Actual", title=title)
        ax.set_xticklabels(names, rotation=90)
        ax.set_yticklabels(names)
        for i in range(n):
            for j in range(n):
                text = f"{cm[i, j]:.{norm_dec}f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
        fig.tight_layout()
        return fig

    def plot_top_losses(self, k: int = 9, nrows: int | None = None, figsize: tuple | None = None):
        """Show the `k` items with the highest loss, titled prediction/actual/loss/probability of the prediction."""
        losses, idxs = self.top_losses(k)
        images = _as_images(self.learn.dls.decode(self.inputs[idxs]))
        titles = [self._title(int(i), float(l)) for l, i in zip(losses, idxs)]
        nrows = nrows or math.ceil(len(idxs) / math.ceil(math.sqrt(len(idxs))))
        return show_images(list(images), nrows=nrows, titles=titles, figsize=figsize,
                           suptitle="prediction/actual/loss/probability")

    def _title(self, i: int, loss: float) -> str:
        """Return 'pred/actual/loss/prob' for item `i`."""
        pred, p = int(self.decoded[i]), self.preds[i]
        prob = float(p[pred]) if p.numel() > 1 else float(p.flatten()[0] if pred else 1 - p.flatten()[0])
        return f"{self.vocab[pred]}/{self.vocab[int(self.targs[i])]}\n{loss:.2f}/{prob:.2f}"
