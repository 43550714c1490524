"""Schedules: annealing functions, `ParamScheduler`, `fit_one_cycle`, `lr_find` and `fine_tune`.

A schedule is a function of `pos`, the fraction of training done (0 at the first batch, 1 at the
end), that returns a hyper-parameter value. `ParamScheduler` sets the optimiser's hyper-parameters
from schedules before each training batch; `fit_one_cycle` and `lr_find` are built on it.
The learning-rate finder is all here: the `LRFinder` callback, the suggestions (`minimum`, `steep`,
`valley`), `lr_find` and its plot, `plot_lr_find` (also `learn.recorder.plot_lr_find()`).
"""
from __future__ import annotations

import bisect
import copy
import itertools
import math
from collections import namedtuple
from typing import Any, Callable, Sequence

import numpy as np

from .callbacks import Callback, CancelFitException, CancelValidException
from .utils import _as_list

__all__ = ["SchedLin", "SchedCos", "SchedNo", "SchedExp", "combine_scheds", "combined_cos", "ParamScheduler",
           "LRFinder", "minimum", "steep", "valley", "plot_lr_find", "fit_one_cycle", "lr_find", "fine_tune"]

Schedule = Callable[[float], Any]


def SchedLin(start: Any, end: Any) -> Schedule:
    """Return a schedule going from `start` to `end` in a straight line."""
    return lambda pos: start + pos * (end - start)


def SchedCos(start: Any, end: Any) -> Schedule:
    """Return a schedule going from `start` to `end` along half a cosine (flat at both ends)."""
    return lambda pos: start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def SchedNo(start: Any, end: Any) -> Schedule:
    """Return a schedule that stays at `start`."""
    return lambda pos: start


def SchedExp(start: Any, end: Any) -> Schedule:
    """Return a schedule going from `start` to `end` exponentially (a straight line on a log scale)."""
    return lambda pos: start * (end / start) ** pos


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Schedule]) -> Schedule:
    """Return one schedule made of `scheds` in turn, the i-th over a fraction `pcts[i]` of training."""
    bounds = list(itertools.accumulate(pcts, initial=0.0))

    def sched(pos: float) -> Any:
        """Return the value of the segment that `pos` falls in."""
        i = min(bisect.bisect_right(bounds, pos) - 1, len(scheds) - 1)
        span = bounds[i + 1] - bounds[i]
        return scheds[i]((pos - bounds[i]) / span if span > 0 else 1.0)

    return sched


def combined_cos(pct: float, start: Any, middle: Any, end: Any) -> Schedule:
    """Return a schedule: cosine from `start` to `middle` over `pct` of training, then to `end`."""
    return combine_scheds([pct, 1 - pct], [SchedCos(start, middle), SchedCos(middle, end)])


class ParamScheduler(Callback):
    """Set hyper-parameters from schedules before each training batch: `ParamScheduler({'lr': sched})`."""

    order = 60

    def __init__(self, scheds: dict[str, Schedule]):
        self.scheds = scheds

    def _pos(self) -> float:
        return self.learn.pct_train

    def before_batch(self) -> None:
        """Set each scheduled hyper-parameter for this training batch."""
        if self.learn.training:
            pos = self._pos()
            for k, sched in self.scheds.items():
                self.learn.opt.set_hyper(k, sched(pos))


def fit_one_cycle(self, n_epoch: int, lr_max: Any = None, div: float = 25.0, div_final: float = 1e5,
                  pct_start: float = 0.25, moms: tuple | None = None, wd: float | None = None,
                  cbs: Any = None) -> None:
    """Train with the 1cycle policy: lr warms up from lr_max/div to lr_max, then anneals to lr_max/div_final.

    Both halves are cosines; momentum goes the other way, `moms[0] -> moms[1] -> moms[2]`. `lr_max`
    may be a `slice` to give each parameter group its own learning rate (see `spread_values`).
    """
    if self.opt is None:
        self.create_opt()
    self.opt.set_hyper("lr", self.lr if lr_max is None else lr_max)
    lr_maxs = [g["lr"] for g in self.opt.param_groups]
    lr_scheds = [combined_cos(pct_start, lr / div, lr, lr / div_final) for lr in lr_maxs]  # one per group
    scheds = {"lr": lambda pos: [f(pos) for f in lr_scheds]}
    if "mom" in getattr(self.opt, "names", {}):
        scheds["mom"] = combined_cos(pct_start, *(self.moms if moms is None else moms))
    self.fit(n_epoch, wd=wd, cbs=[ParamScheduler(scheds), *_as_list(cbs)])


class LRFinder(ParamScheduler):
    """Raise the lr exponentially each batch, stop when the loss explodes, then restore the model."""

    order = 55

    def __init__(self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100, stop_div: bool = True,
                 beta: float = 0.98):
        super().__init__({"lr": SchedExp(start_lr, end_lr)})
        self.num_it, self.stop_div, self.beta = num_it, stop_div, beta

    def _pos(self) -> float:
        return self.learn.train_iter / self.num_it

    def before_fit(self) -> None:
        """Keep a copy of the model and optimiser to restore at the end."""
        self.saved = copy.deepcopy((self.model.state_dict(), self.opt.state_dict()))
        self.best, self.avg, self.count = math.inf, 0.0, 0

    def after_batch(self) -> None:
        """Stop when the smoothed loss passes 4x its best, or after `num_it` batches."""
        if not self.training:
            return
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * self.loss.item()  # same smoothing as Recorder
        smooth = self.avg / (1 - self.beta**self.count)
        self.best = min(self.best, smooth)
        if self.stop_div and (smooth > 4 * self.best or math.isnan(smooth)):
            raise CancelFitException
        if self.train_iter >= self.num_it:
            raise CancelFitException

    def before_validate(self) -> None:
        """Skip validation: only training batches matter here."""
        raise CancelValidException

    def after_fit(self) -> None:
        """Put back the weights and optimiser state from before the search."""
        self.opt.zero_grad()
        self.model.load_state_dict(self.saved[0])
        self.opt.load_state_dict(self.saved[1])


def minimum(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, int]:
    """Suggest a tenth of the lr where the smoothed loss was lowest; return (lr, index of that point)."""
    i = int(np.argmin(losses))
    return float(lrs[i]) / 10, i


def steep(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, int]:
    """Suggest the lr where the loss falls fastest (per step of log(lr)); return (lr, index)."""
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    i = int(np.argmin(slopes))
    return float(lrs[i]), i


def valley(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, int]:
    """Suggest the lr halfway along the longest stretch over which the loss keeps going down.

    The stretch is the longest decreasing subsequence of the losses (so small bumps do not end it).
    """
    n = len(losses)
    length, start = [1] * n, list(range(n))
    for i in range(n):
        for j in range(i):
            if losses[j] > losses[i] and length[j] + 1 > length[i]:
                length[i], start[i] = length[j] + 1, start[j]
    end = int(np.argmax(length))
    i = (start[end] + end) // 2
    return float(lrs[i]), i


def plot_lr_find(recorder: Any, skip_end: int = 5, suggestions: dict | None = None):
    """Plot the finder's loss against learning rate (log scale), marking `suggestions` ({name: (value, lr, loss)})."""
    import matplotlib.pyplot as plt

    n = max(len(recorder.losses) - skip_end, 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(recorder.lrs[:n], recorder.losses[:n])
    for (name, (value, lr, loss)), color in zip((suggestions or {}).items(), ["C1", "C2", "C3", "C4", "C5"]):
        ax.plot(lr, loss, "o", color=color, label=f"{name}: {value:.2e}")
    ax.set_xscale("log")
    ax.set(xlabel="learning rate (log scale)", ylabel="smoothed loss", title="Learning rate finder")
    if suggestions:
        ax.legend()
    return ax


def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100, stop_div: bool = True,
            show_plot: bool = True, suggest_funcs: Sequence[Callable] = (minimum, steep, valley)):
    """Try learning rates from `start_lr` to `end_lr`; return suggestions as a namedtuple, e.g. `.valley`.

    The model and optimiser are restored afterwards, so nothing is learnt. The first tenth and the
    last 5 points (where the loss explodes) are left out before suggesting.
    """
    n_epoch = math.ceil(num_it / len(self.dls.train))
    with self.no_logging():
        self.fit(n_epoch, cbs=LRFinder(start_lr, end_lr, num_it, stop_div))
    rec = self.recorder
    lrs, losses = np.array(rec.lrs[num_it // 10:-5]), np.array(rec.losses[num_it // 10:-5])
    if len(losses) < 2:
        raise RuntimeError(f"lr_find recorded only {len(rec.losses)} batches, too few to suggest a learning rate: "
                           "raise num_it, lower start_lr, or check that the loss is not nan from the start.")
    found = {f.__name__: f(lrs, losses) for f in suggest_funcs}
    if show_plot:
        plot_lr_find(rec, suggestions={k: (lr, lrs[i], losses[i]) for k, (lr, i) in found.items()})
    return namedtuple("SuggestedLRs", list(found))(*[lr for lr, _ in found.values()])


def fine_tune(self, epochs: int, base_lr: float = 2e-3, freeze_epochs: int = 1, lr_mult: float = 100,
              pct_start: float = 0.3, div: float = 5.0, **kwargs: Any) -> None:
    """Transfer learning in two steps: train the head alone (frozen body), then everything.

    First `freeze_epochs` of one-cycle with the body frozen; then unfreeze and train `epochs` more with
    discriminative learning rates from `base_lr/2/lr_mult` (first group) to `base_lr/2` (head).
    """
    self.freeze()
    self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, **kwargs)
    base_lr /= 2
    self.unfreeze()
    self.fit_one_cycle(epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, **kwargs)
