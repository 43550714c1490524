"""Loss functions: chapter 4's `mnist_loss`, cross-entropy (with class weights) and focal loss.

Every loss here accepts `reduction` ('mean', 'sum' or 'none'), so `get_preds(with_loss=True)` can
ask for one loss per item. Each has an `activation` (softmax or sigmoid) that turns the model's raw
outputs into probabilities; `loss_activation` finds it for any loss, PyTorch's included.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["mnist_loss", "CrossEntropyLossFlat", "weighted_cross_entropy", "focal_loss", "FocalLoss",
           "loss_activation", "reduce_loss"]


def reduce_loss(loss: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Return per-item losses averaged ('mean'), added ('sum') or left alone ('none')."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def mnist_loss(predictions: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Return chapter 4's loss: how far `sigmoid(predictions)` is from the 0/1 `targets`."""
    predictions = predictions.sigmoid()
    return reduce_loss(torch.where(targets == 1, 1 - predictions, predictions), reduction)


mnist_loss.activation = torch.sigmoid


def _flat(inp: torch.Tensor, targ: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return scores as `(n, classes)` with the class axis last, and targets as `(n,)`."""
    inp = inp.movedim(axis, -1)
    return inp.reshape(-1, inp.shape[-1]), targ.reshape(-1)


class CrossEntropyLossFlat(nn.Module):
    """Cross-entropy on scores with classes along `axis`, targets flattened; optional class `weight`."""

    def __init__(self, weight: Sequence[float] | torch.Tensor | None = None, axis: int = -1,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.axis, self.reduction, self.label_smoothing = axis, reduction, label_smoothing

    def forward(self, inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """Return the loss of scores `inp` (classes along `axis`) against class indices `targ`."""
        inp, targ = _flat(inp, targ, self.axis)
        weight = None if self.weight is None else self.weight.to(inp.device)
        return F.cross_entropy(inp, targ.long(), weight=weight, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class probabilities (softmax over `axis`)."""
        return F.softmax(x, dim=self.axis)


def weighted_cross_entropy(weight: Sequence[float] | torch.Tensor, reduction: str = "mean") -> CrossEntropyLossFlat:
    """Return a cross-entropy loss where a mistake on class `i` counts `weight[i]` times."""
    return CrossEntropyLossFlat(weight=weight, reduction=reduction)


def focal_loss(inp: torch.Tensor, targ: torch.Tensor, gamma: float = 2.0, weight: torch.Tensor | None = None,
               reduction: str = "mean") -> torch.Tensor:
    """Return focal loss: cross-entropy times `(1 - p_target) ** gamma`, so easy items count less.

    `gamma=0` gives cross-entropy. With a class `weight`, 'mean' divides by the total weight, as PyTorch does.
    """
    logp = F.log_softmax(inp, dim=-1).gather(-1, targ.long().unsqueeze(-1)).squeeze(-1)
    loss = -((1 - logp.exp()) ** gamma) * logp
    if weight is None:
        return reduce_loss(loss, reduction)
    w = torch.as_tensor(weight, dtype=loss.dtype, device=loss.device)[targ.long()]
    return (loss * w).sum() / w.sum() if reduction == "mean" else reduce_loss(loss * w, reduction)


class FocalLoss(nn.Module):
    """Focal loss as a module: `FocalLoss(gamma=2.)(scores, targets)`; see `focal_loss`."""

    def __init__(self, gamma: float = 2.0, weight: Sequence[float] | torch.Tensor | None = None,
                 reduction: str = "mean"):
        super().__init__()
        self.gamma, self.reduction = gamma, reduction
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
        """Return the focal loss of scores `inp` against class indices `targ`."""
        return focal_loss(inp, targ, self.gamma, self.weight, self.reduction)

    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """Return the class probabilities (softmax)."""
        return F.softmax(x, dim=-1)


_SOFTMAX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
_SIGMOID_LOSSES = (nn.BCEWithLogitsLoss,)


def loss_activation(loss_func: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the function that turns raw outputs into probabilities for `loss_func`.

    The rule: the loss's own `activation` if it has one (the losses of this module); softmax for
    PyTorch's cross-entropy (`nn.CrossEntropyLoss`, `F.cross_entropy`); sigmoid for
    `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits`; otherwise no change.
    """
    f = getattr(loss_func, "func", loss_func)  # look inside functools.partial
    act = getattr(f, "activation", None)
    if act is not None:
        return act
    if isinstance(f, _SOFTMAX_LOSSES) or f is F.cross_entropy:
        return lambda x: F.softmax(x, dim=-1)
    if isinstance(f, _SIGMOID_LOSSES) or f is F.binary_cross_entropy_with_logits:
        return torch.sigmoid
    return lambda x: x
