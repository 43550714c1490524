"""Callbacks: the pieces of behaviour the `Learner` loop calls at each of its events.

The loop fires events in this order (the names are fastai's):
`before_fit`, then per epoch `before_epoch`, `before_train`, per batch `before_batch`, `after_pred`,
`after_loss`, `before_backward`, `after_backward`, `before_step`, `after_step`, `after_batch`,
then `after_train`, `before_validate`, (batches again, no backward or step), `after_validate`,
`after_epoch`, and finally `after_fit`. Raising a `Cancel...Exception` skips the rest of a stage
(its `after_cancel_<stage>` event fires, then its `after_<stage>` event).
"""
from __future__ import annotations

import re
import time
import warnings
from typing import Any

import torch

__all__ = ["Callback", "TrainEvalCallback", "Recorder", "ProgressCallback", "MixedPrecision", "EVENTS",
           "CancelFitException", "CancelEpochException", "CancelTrainException", "CancelValidException",
           "CancelBatchException", "CancelBackwardException", "CancelStepException"]

_STAGES = ["fit", "epoch", "train", "validate", "batch", "backward", "step"]
# Every event name a callback method may have ("cleanup" runs when fit or get_preds ends, even on an error).
EVENTS = ([f"before_{s}" for s in _STAGES] + [f"after_{s}" for s in _STAGES] + ["after_pred", "after_loss"]
          + [f"after_cancel_{s}" for s in _STAGES] + ["cleanup"])


class CancelFitException(Exception):
    """Raise in a callback to stop training (`after_cancel_fit`, then `after_fit`, still run)."""


class CancelEpochException(Exception):
    """Raise in a callback to skip the rest of this epoch."""


class CancelTrainException(Exception):
    """Raise in a callback to skip the rest of this epoch's training phase."""


class CancelValidException(Exception):
    """Raise in a callback to skip this epoch's validation."""


class CancelBatchException(Exception):
    """Raise in a callback to skip the rest of this batch."""


class CancelBackwardException(Exception):
    """Raise in a callback to skip this batch's `loss.backward()`."""


class CancelStepException(Exception):
    """Raise in a callback to skip this batch's optimiser step."""


def _snake(name: str) -> str:
    """Return `MixedPrecision` as `mixed_precision`, `LRFinder` as `lr_finder`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Callback:
    """Base class: define methods named after events; `self.model`, `self.loss`... read the learner.

    To change the learner, assign through it: `self.learn.loss = ...` (`self.loss = ...` warns: it would only
    give the callback an attribute of its own). Lower `order` runs first.
    A `cleanup` method, if defined, runs when `fit` (or `get_preds`) ends, even with an error.
    """

    order = 0
    learn = None

    def __getattr__(self, k: str) -> Any:
        learn = self.__dict__.get("learn")
        if k.startswith("__") or learn is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {k!r}")
        return getattr(learn, k)

    def __setattr__(self, k: str, v: Any) -> None:
        learn = self.__dict__.get("learn")
        if learn is not None and k not in self.__dict__ and k != "learn" and (
                k in learn.__dict__ or hasattr(type(learn), k)):
            warnings.warn(f"{type(self).__name__}: `self.{k} = ...` gives the callback its own `{k}`; the Learner's "
                          f"`{k}` is unchanged, and from now on `self.{k}` reads the callback's. To change the "
                          f"learner's, write `self.learn.{k} = ...`; to keep a value of your own, pick another name.",
                          stacklevel=2)
        super().__setattr__(k, v)

    @property
    def name(self) -> str:
        """Return the attribute name this callback gets on the learner (`Recorder` -> `recorder`)."""
        return _snake(re.sub(r"Callback$", "", type(self).__name__)) or "callback"

    def __repr__(self) -> str:
        return type(self).__name__


class TrainEvalCallback(Callback):
    """Put the model in train or eval mode and count the training iterations (`train_iter`, `pct_train`)."""

    order = -10

    def before_fit(self) -> None:
        """Start counting training iterations from zero."""
        self.learn.train_iter, self.learn.pct_train = 0, 0.0

    def before_train(self) -> None:
        """Switch the model to training mode (dropout on, BatchNorm updating its statistics)."""
        self.model.train()
        self.learn.training = True

    def after_batch(self) -> None:
        """Count one more training iteration."""
        learn = self.learn  # (hot path: read the learner directly rather than through __getattr__)
        if learn.training:
            learn.train_iter += 1
            learn.pct_train = learn.train_iter / (learn.n_epoch * learn.n_iter)

    def before_validate(self) -> None:
        """Switch the model to evaluation mode."""
        self.model.eval()
        self.learn.training = False


def _metric_name(m: Any) -> str:
    """Return the column name of a metric: its function name, or its class name in snake_case."""
    f = getattr(m, "func", m)  # functools.partial
    return getattr(f, "__name__", None) or _snake(type(f).__name__)


def _fmt_time(seconds: float) -> str:
    """Return seconds as 'mm:ss'."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m:02d}:{s:02d}"


class Recorder(Callback):
    """Record the training: `lrs`, `moms` and smoothed `losses` per batch; `values` per epoch.

    `values[i]` is `[train_loss, valid_loss, *metrics]` for epoch `i`; train_loss is the smoothed loss
    (an exponential moving average with factor `beta`, debiased) at the end of the epoch. Losses are
    kept as tensors during an epoch and read once at its end, so recording costs no GPU syncs.
    """

    order = 50

    def __init__(self, beta: float = 0.98):
        self.beta = beta
        self.lrs, self.moms, self.losses, self.values, self.iters = [], [], [], [], []
        self._raw: list = []
        self._sums: list = []
        self.valid_values: list[float] = []

    @property
    def metric_names(self) -> list[str]:
        """Return the column names of the results table."""
        return ["epoch", "train_loss", "valid_loss", *[_metric_name(m) for m in self.metrics], "time"]

    def before_fit(self) -> None:
        """Start new records and, if logging, a new results table."""
        self.lrs, self.moms, self.losses, self.values, self.iters, self._raw = [], [], [], [], [], []
        self._avg, self._count = 0.0, 0
        self._has_mom = "mom" in getattr(self.opt, "names", {})
        from .progress import _ResultsTable

        self.table = _ResultsTable(self.metric_names) if self.learn.logging else None

    def before_epoch(self) -> None:
        """Start the epoch's clock and empty the validation sums."""
        self._start, self._sums, self.valid_values = time.perf_counter(), [], []

    def after_batch(self) -> None:
        """Keep the batch's loss and learning rate (training) or add to the validation sums."""
        learn = self.learn
        if not learn.yb:
            return
        if not learn.training:
            return self._accumulate()
        self._raw.append(learn.loss)
        g = learn.opt.param_groups[-1]
        self.lrs.append(g["lr"])
        if self._has_mom:
            self.moms.append(learn.opt._get(g, "mom"))

    def _flush(self) -> None:
        """Turn the raw batch losses of this epoch into smoothed floats (one read from the device)."""
        if not self._raw:
            return
        for loss in torch.stack(self._raw).float().tolist():
            self._count += 1
            self._avg = self.beta * self._avg + (1 - self.beta) * loss
            self.losses.append(self._avg / (1 - self.beta**self._count))
        self._raw = []

    def after_train(self) -> None:
        """Smooth this epoch's training losses."""
        self._flush()
        self.iters.append(len(self.losses))

    def before_validate(self) -> None:
        """Empty the validation sums."""
        self._sums = []

    def _accumulate(self) -> None:
        """Add this validation batch's loss and metrics, weighted by its size (kept on the device)."""
        bs = self.yb[0].shape[0] if hasattr(self.yb[0], "shape") else len(self.yb[0])
        row = [self.loss.mean(), *[m(self.pred, *self.yb) for m in self.metrics]]
        self._sums.append((bs, row))

    def after_validate(self) -> None:
        """Turn the validation sums into `valid_values`: [loss, *metrics], averaged over items."""
        n = sum(bs for bs, _ in self._sums)
        cols = zip(*[[float(v) * bs for v in row] for bs, row in self._sums])
        self.valid_values = [sum(c) / n for c in cols] if n else []

    def after_epoch(self) -> None:
        """Add this epoch's row to `values` and to the table."""
        self._flush()
        train_loss = self.losses[-1] if self.losses else float("nan")
        valid = self.valid_values or [float("nan")] * (1 + len(self.metrics))
        self.values.append([train_loss, *valid])
        if self.table is not None:
            self.table.add([self.epoch, *self.values[-1], _fmt_time(time.perf_counter() - self._start)])

    def after_fit(self) -> None:
        """Smooth any losses left (when training was cancelled mid-epoch)."""
        self._flush()

    def plot_loss(self, skip_start: int = 5, with_valid: bool = True):
        """Plot the smoothed training loss per batch (and the validation loss at each epoch's end)."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(skip_start, len(self.losses)), self.losses[skip_start:], label="train")
        if with_valid and self.values:
            idx = [i for i, it in enumerate(self.iters[: len(self.values)]) if it > skip_start]
            ax.plot([self.iters[i] for i in idx], [self.values[i][1] for i in idx], label="valid")
        ax.set(xlabel="batches processed", ylabel="loss", title="Loss during training")
        ax.legend()
        return ax

    def plot_lr(self):
        """Plot the learning rate (of the last parameter group) at each batch."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs)
        ax.set(xlabel="batches processed", ylabel="learning rate", title="Learning rate schedule")
        return ax

    def plot_sched(self):
        """Plot the learning rate and the momentum at each batch, side by side."""
        import matplotlib.pyplot as plt

        fig, axs = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, vals, name in zip(axs, [self.lrs, self.moms], ["learning rate", "momentum"]):
            ax.plot(vals)
            ax.set(xlabel="batches processed", ylabel=name, title=f"{name.capitalize()} schedule")
        return axs

    def plot_lr_find(self, skip_end: int = 5, suggestions: dict | None = None):
        """Plot loss against learning rate (log scale), marking `suggestions`: see `schedule.plot_lr_find`."""
        from .schedule import plot_lr_find  # the finder, its suggestions and its plot live together there

        return plot_lr_find(self, skip_end, suggestions)


class MixedPrecision(Callback):
    """Train in mixed precision on a CUDA GPU: float16 autocast for the forward pass, `GradScaler` for steps.

    On the CPU it warns once and changes nothing (training stays in float32): float16 brings no speed
    there, and bfloat16 would change the numbers a student sees without making them faster.
    `cpu_dtype=torch.bfloat16` forces the same mechanism on the CPU (slow; to test or demonstrate it).
    """

    order = 10
    _warned = False

    def __init__(self, cpu_dtype: torch.dtype | None = None):
        self.cpu_dtype, self.autocast, self.scaler = cpu_dtype, None, None

    def _device(self) -> str | None:
        """Return the device type to autocast on ('cuda', or 'cpu' if forced), None when off."""
        kind = self.learn.dls.device.type
        return kind if kind == "cuda" or (kind == "cpu" and self.cpu_dtype is not None) else None

    def before_fit(self) -> None:
        """Warn (once) that on the CPU nothing changes."""
        if self._device() is None and not MixedPrecision._warned:
            MixedPrecision._warned = True
            warnings.warn("to_fp16: there is no CUDA GPU, so training stays in float32 (mixed precision "
                          "only speeds up GPUs).", stacklevel=2)

    def before_batch(self) -> None:
        """Run this batch's forward pass and loss in float16 where safe."""
        kind = self._device()
        if kind is not None:
            dtype = torch.float16 if kind == "cuda" else self.cpu_dtype
            self.autocast = torch.autocast(kind, dtype=dtype)
            self.autocast.__enter__()

    def after_loss(self) -> None:
        """Leave autocast before the backward pass."""
        self.cleanup()

    def before_backward(self) -> None:
        """Scale the loss up so that small float16 gradients do not round to zero."""
        kind = self._device()
        if kind is not None:
            if self.scaler is None:
                self.scaler = torch.amp.GradScaler(kind)
            self.learn.loss_grad = self.scaler.scale(self.learn.loss_grad)

    def before_step(self) -> None:
        """Step through the scaler (which unscales the gradients first), instead of the plain step."""
        if self._device() is not None:
            self.scaler.step(self.learn.opt)  # unscales the gradients; skips the step if they overflowed
            self.scaler.update()
            raise CancelStepException

    def cleanup(self) -> None:
        """Leave the autocast region (also after an error), so later code runs in full precision."""
        if self.autocast is not None:
            self.autocast.__exit__(None, None, None)
            self.autocast = None

    after_cancel_batch = cleanup


def __getattr__(name: str) -> Any:
    """Keep `from coursekit.callbacks import ProgressCallback` working: it now lives in `progress.py`."""
    if name == "ProgressCallback":  # imported on first use: progress.py itself builds on Callback
        from .progress import ProgressCallback

        return ProgressCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
