"""Metrics: numbers for people (accuracy, error rate), averaged over the validation set by the `Learner`."""
from __future__ import annotations

import torch

__all__ = ["accuracy", "error_rate", "batch_accuracy"]


def accuracy(inp: torch.Tensor, targ: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Return the fraction of rows whose highest score (argmax over `axis`) is the target class."""
    pred = inp.argmax(dim=axis)
    if pred.shape != targ.shape and pred.numel() == targ.numel():
        targ = targ.view(pred.shape)
    return (pred == targ).float().mean()


def error_rate(inp: torch.Tensor, targ: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Return `1 - accuracy`: the fraction of rows predicted wrongly."""
    return 1 - accuracy(inp, targ, axis=axis)


def batch_accuracy(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Return the accuracy of one-output predictions (chapter 4): `sigmoid(xb) > 0.5` against `yb`."""
    correct = (xb.sigmoid() > 0.5) == yb
    return correct.float().mean()
