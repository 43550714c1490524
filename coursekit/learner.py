"""`Learner`: data, model, loss and optimiser together, and the training loop that fires events.

The loop itself is a few short methods (`fit` -> epochs -> train/validate -> batches). Everything
else -- train/eval mode, recording, the results table, progress bars, schedules, the lr finder,
mixed precision -- is a callback (see `callbacks.py` and `schedule.py`).
"""
from __future__ import annotations

import contextlib
import difflib
import inspect
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import torch
from torch import nn

from .callbacks import (_STAGES, EVENTS, Callback, CancelBackwardException, CancelBatchException, CancelEpochException,
                        CancelFitException, CancelStepException, CancelTrainException, CancelValidException,
                        MixedPrecision, ProgressCallback, Recorder, TrainEvalCallback)
from .loaders import DataLoader, _to
from .losses import CrossEntropyLossFlat, loss_activation
from .optim import Adam, BasicOptim, OptimWrapper
from .schedule import fine_tune, fit_one_cycle, lr_find
from .utils import _as_list

__all__ = ["Learner", "defaults"]

# What new learners start with: `defaults.logging = False` hides results tables, `progress=False` bars.
defaults = SimpleNamespace(logging=True, progress=True)

# (before, after_cancel, after) event names of each stage, built once rather than on every batch.
_STAGE_EVENTS = {s: (f"before_{s}", f"after_cancel_{s}", f"after_{s}") for s in _STAGES}

_NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)

# What the loop changes as it runs: a callback keeping its own attribute of one of these names would read
# its own value instead of the learner's.
_LOOP_STATE = ("model", "opt", "dl", "xb", "yb", "pred", "loss", "loss_grad", "training", "epoch", "n_epoch",
               "iter", "n_iter", "train_iter", "pct_train")


def _did_you_mean(name: str) -> str:
    """Return a hint naming the events closest to `name` (or all of them)."""
    close = difflib.get_close_matches(name, EVENTS, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"{c!r}" for c in close) + "?"
    return f"the events are {', '.join(EVENTS)}."


def _check_callback(cb: Callback) -> None:
    """Raise if a method of `cb` looks like an event but is none; warn if `cb` shadows the loop's state."""
    for k in dir(type(cb)):
        if k.lower().startswith(("before", "after")) and k not in EVENTS:
            raise AttributeError(f"{type(cb).__name__}.{k} is not an event, so the Learner would never call it: "
                                 f"{_did_you_mean(k)} (A helper method must not start with before/after: "
                                 "give it a leading underscore.)")
    for k in _LOOP_STATE:
        if k in cb.__dict__:
            warnings.warn(f"{type(cb).__name__} has an attribute `{k}` of its own, so in its events `self.{k}` reads "
                          f"that, not the Learner's `{k}`: rename it, or read `self.learn.{k}`.", stacklevel=3)


def _one_group(model: nn.Module) -> list[list[nn.Parameter]]:
    """The default splitter: all parameters in one group."""
    return [list(model.parameters())]


def _norm_param_ids(model: nn.Module) -> set[int]:
    """Return the ids of the parameters of normalisation layers (BatchNorm, LayerNorm, ...)."""
    return {id(p) for m in model.modules() if isinstance(m, _NORM_LAYERS) for p in m.parameters(recurse=False)}


class _GatherPreds(Callback):
    """Collect inputs, predictions, targets and losses of each validation batch (for `get_preds`)."""

    order = 70

    def __init__(self, with_input: bool, with_loss: bool):
        self.with_input, self.with_loss = with_input, with_loss
        self.inputs, self.preds, self.targs, self.losses = [], [], [], []

    def after_batch(self) -> None:
        """Keep this batch's predictions (and targets, inputs, losses)."""
        self.preds.append(self.pred.detach().float())
        if self.yb:
            self.targs.append(self.yb[0])
        if self.with_input:
            self.inputs.append(self.xb[0])
        if self.with_loss and self.yb:
            self.losses.append(self.loss.float())


def _cat(ts: list) -> torch.Tensor | None:
    return torch.cat(ts).cpu() if ts else None


class Learner:
    """Train `model` on `dls` with `loss_func`, an optimiser from `opt_func`, and callbacks `cbs`.

    `splitter(model)` returns parameter groups (body first, head last) for `freeze` and discriminative
    learning rates. `train_bn=True` keeps normalisation layers trainable in frozen groups, as fastai does.
    """

    # Training recipes built on `fit` and callbacks; they live (and are explained) in schedule.py.
    fit_one_cycle, lr_find, fine_tune = fit_one_cycle, lr_find, fine_tune

    def __init__(self, dls: Any, model: nn.Module, loss_func: Callable | None = None, opt_func: Callable = Adam,
                 lr: float = 1e-3, splitter: Callable | None = None, cbs: Any = None, metrics: Any = None,
                 wd: float | None = None, path: str | Path = ".", model_dir: str = "models",
                 train_bn: bool = True, moms: tuple = (0.95, 0.85, 0.95)):
        self.dls, self.model, self.opt_func, self.lr, self.wd = dls, model, opt_func, lr, wd
        self.loss_func = loss_func if loss_func is not None else _default_loss(dls)
        self.splitter = splitter or _one_group
        self.metrics = _as_list(metrics)
        self.path, self.model_dir, self.train_bn, self.moms = Path(path), model_dir, train_bn, moms
        self.opt: OptimWrapper | None = None
        self.logging, self.progress = defaults.logging, defaults.progress
        self.training, self.epoch, self.n_epoch, self.iter, self.n_iter = False, 0, 1, 0, 0
        self.train_iter, self.pct_train = 0, 0.0
        self.xb, self.yb, self.pred, self.loss, self.loss_grad, self.dl = (), (), None, None, None, None
        self.cbs: list[Callback] = []
        self.add_cbs([TrainEvalCallback(), Recorder(), ProgressCallback(), *_as_list(cbs)])

    # ---- callbacks -------------------------------------------------------------------------------
    def __call__(self, event: str) -> None:
        """Fire `event`: call that method of every callback that has it, in `order`."""
        try:
            fs = self._events[event]
        except KeyError:
            raise ValueError(f"Learner: {event!r} is not an event: {_did_you_mean(str(event))}") from None
        for f in fs:
            f()

    def add_cb(self, cb: Callback | type) -> "Learner":
        """Add a callback (an instance, or a class to instantiate); it becomes `learn.<cb.name>`."""
        cb = cb() if isinstance(cb, type) else cb
        _check_callback(cb)
        cb.learn = self
        if not hasattr(self, cb.name) or isinstance(getattr(self, cb.name), Callback):
            setattr(self, cb.name, cb)
        self.cbs = sorted([*self.cbs, cb], key=lambda c: c.order)
        self._build_events()
        return self

    def add_cbs(self, cbs: Any) -> "Learner":
        """Add several callbacks."""
        for cb in _as_list(cbs):
            self.add_cb(cb)
        return self

    def remove_cb(self, cb: Callback | type) -> "Learner":
        """Remove a callback (or every callback of a class)."""
        gone = [c for c in self.cbs if (isinstance(c, cb) if isinstance(cb, type) else c is cb)]
        for c in gone:
            if getattr(self, c.name, None) is c:
                delattr(self, c.name)
            c.learn = None
        self.cbs = [c for c in self.cbs if all(c is not g for g in gone)]
        self._build_events()
        return self

    def _build_events(self) -> None:
        """Precompute, for each event, the bound methods to call (keeps each batch cheap)."""
        self._events = {e: [getattr(c, e) for c in self.cbs if hasattr(type(c), e)] for e in EVENTS}

    @contextlib.contextmanager
    def added_cbs(self, cbs: Any) -> Iterator["Learner"]:
        """Context manager: add callbacks `cbs` for the duration of the block."""
        cbs = [c() if isinstance(c, type) else c for c in _as_list(cbs)]
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            for c in cbs:
                self.remove_cb(c)

    @contextlib.contextmanager
    def _switched_off(self, setting: str) -> Iterator["Learner"]:
        """Context manager: `self.<setting>` is False inside the block, then back as it was."""
        old = getattr(self, setting)
        setattr(self, setting, False)
        try:
            yield self
        finally:
            setattr(self, setting, old)

    def no_logging(self) -> contextlib.AbstractContextManager["Learner"]:
        """Context manager: no results table inside the block."""
        return self._switched_off("logging")

    def no_bar(self) -> contextlib.AbstractContextManager["Learner"]:
        """Context manager: no progress bars inside the block."""
        return self._switched_off("progress")

    # ---- the loop --------------------------------------------------------------------------------
    def _with_events(self, f: Callable, stage: str, cancel: type) -> None:
        """Run `before_<stage>`, `f`, `after_<stage>`; a `cancel` exception skips to `after_cancel_<stage>`."""
        before, after_cancel, after = _STAGE_EVENTS[stage]
        try:
            self(before)
            f()
        except cancel:
            self(after_cancel)
        self(after)

    def fit(self, n_epoch: int, lr: Any = None, wd: float | None = None, cbs: Any = None,
            reset_opt: bool = False) -> None:
        """Train for `n_epoch` epochs at learning rate `lr` (default: `self.lr`), validating after each."""
        with self.added_cbs(cbs):
            if reset_opt or self.opt is None:
                self.create_opt()
            self.opt.set_hyper("lr", self.lr if lr is None else lr)
            wd = self.wd if wd is None else wd
            if wd is not None:
                self.opt.set_hyper("wd", wd)
            self.n_epoch = n_epoch
            self._check_train_batches()
            try:
                self._with_events(self._do_fit, "fit", CancelFitException)
            finally:
                self("cleanup")

    def _do_fit(self) -> None:
        for self.epoch in range(self.n_epoch):
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def _do_epoch(self) -> None:
        self.dl = self.dls.train
        self._with_events(self._all_batches, "train", CancelTrainException)
        self._do_validate()

    def _do_validate(self, dl: Any = None) -> None:
        self.dl = self.dls.valid if dl is None else dl
        with torch.no_grad():
            self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self) -> None:
        self.n_iter = len(self.dl)
        batches = self.dl if isinstance(self.dl, DataLoader) else (_to(b, self.dls.device) for b in self.dl)
        for self.iter, b in enumerate(batches):
            self.xb, self.yb = (tuple(b[:1]), tuple(b[1:])) if isinstance(b, (tuple, list)) else ((b,), ())
            self._with_events(self._do_one_batch, "batch", CancelBatchException)

    def _do_one_batch(self) -> None:
        self.pred = self.model(*self.xb)
        self("after_pred")
        if self.yb:
            self.loss_grad = self.loss_func(self.pred, *self.yb)
            self.loss = self.loss_grad.detach()
        self("after_loss")
        if not self.training or not self.yb:
            return
        self._with_events(self._backward, "backward", CancelBackwardException)
        self._with_events(self._step, "step", CancelStepException)
        self.opt.zero_grad()

    def _backward(self) -> None:
        self.loss_grad.backward()

    def _step(self) -> None:
        self.opt.step()

    def _check_train_batches(self) -> None:
        dl = self.dls.train
        if len(dl) == 0:
            raise ValueError(f"The training DataLoader gives no batches ({getattr(dl, 'n', '?')} items, "
                             f"bs={getattr(dl, 'bs', '?')}, drop_last={getattr(dl, 'drop_last', '?')}): "
                             "use a smaller bs.")

    # ---- optimiser and freezing ------------------------------------------------------------------
    def _model_to_device(self) -> None:
        p = next(self.model.parameters(), None)
        if p is not None and p.device != self.dls.device:
            self.model.to(self.dls.device)

    def create_opt(self) -> None:
        """Create `self.opt` from `opt_func`, one parameter group per group of `splitter(model)`."""
        if self.opt_func is BasicOptim:
            raise TypeError("Learner needs an optimiser whose learning rate it can set: use opt_func=SGD "
                            "(the library's BasicOptim) or Adam.")
        self._model_to_device()
        lr = self.lr.stop if isinstance(self.lr, slice) else self.lr  # (`fit` spreads a slice over the groups)
        opt = self.opt_func([{"params": list(g)} for g in self.splitter(self.model)], lr=lr)
        self.opt = OptimWrapper(opt) if isinstance(opt, torch.optim.Optimizer) else opt
        if not hasattr(self.opt, "set_hyper"):
            raise TypeError(f"opt_func gave a {type(opt).__name__}, which has no set_hyper: use coursekit's SGD or "
                            "Adam, or any torch.optim optimiser class.")

    def freeze_to(self, n: int) -> None:
        """Train only parameter groups `n` onwards (`n=-1`: the last); earlier ones get no gradient."""
        if self.opt is None:
            self.create_opt()
        groups = [g["params"] for g in self.opt.param_groups]
        n = n if n >= 0 else len(groups) + n
        keep = _norm_param_ids(self.model) if self.train_bn else set()
        for i, params in enumerate(groups):
            for p in params:
                p.requires_grad_(i >= n or id(p) in keep)
                if not p.requires_grad:
                    p.grad = None

    def freeze(self) -> None:
        """Freeze every parameter group but the last (the head)."""
        if self.opt is None:
            self.create_opt()
        if len(self.opt.param_groups) < 2:
            raise ValueError("freeze needs at least two parameter groups (body, head), but this Learner has one: "
                             "pass a splitter, e.g. splitter=lambda m: [body_params, head_params].")
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """Make every parameter trainable again."""
        self.freeze_to(0)

    def to_fp16(self, **kwargs: Any) -> "Learner":
        """Train in mixed precision (CUDA only; on the CPU it warns and stays in float32, see `MixedPrecision`)."""
        self.remove_cb(MixedPrecision)
        return self.add_cb(MixedPrecision(**kwargs))

    def to_fp32(self) -> "Learner":
        """Go back to full precision."""
        return self.remove_cb(MixedPrecision)

    # ---- using the model -------------------------------------------------------------------------
    def _run_validate(self, dl: Any) -> None:
        """Run the validation events over `dl` (cleaning up even after an error)."""
        self._model_to_device()
        try:
            self._do_validate(dl)
        finally:
            self("cleanup")

    def validate(self, dl: Any = None) -> list[float]:
        """Return `[valid_loss, *metrics]` on `dl` (default: the validation set)."""
        self._run_validate(dl)
        return self.recorder.valid_values

    def get_preds(self, ds_idx: int = 1, dl: Any = None, with_input: bool = False, with_loss: bool = False,
                  act: Callable | None = None) -> tuple:
        """Return `(preds, targs)` over a whole dataset, in order (`ds_idx` 0: train, 1: valid).

        `act` turns outputs into probabilities; by default `loss_activation(loss_func)`: softmax for
        cross-entropy-like losses, sigmoid for `mnist_loss`/BCE-with-logits, else nothing. `with_input`
        puts the inputs first; `with_loss` appends the per-item losses.
        """
        if dl is None:
            dl = self.dls[ds_idx]
            dl = dl.new(shuffle=False, drop_last=False) if hasattr(dl, "new") else dl
        cb = _GatherPreds(with_input, with_loss)
        with self.added_cbs(cb), (self._loss_per_item() if with_loss else contextlib.nullcontext()):
            self._run_validate(dl)
        act = act or loss_activation(self.loss_func)
        res = [act(_cat(cb.preds)), _cat(cb.targs)]
        if with_input:
            res.insert(0, _cat(cb.inputs))
        if with_loss:
            res.append(_cat(cb.losses))
        return tuple(res)

    @contextlib.contextmanager
    def _loss_per_item(self) -> Iterator[None]:
        """Context manager: make `loss_func` return one loss per item (reduction='none')."""
        old = self.loss_func
        if hasattr(old, "reduction"):
            saved, old.reduction = old.reduction, "none"
        elif _takes_reduction(old):
            self.loss_func = lambda *args: old(*args, reduction="none")
        else:
            raise TypeError(f"get_preds(with_loss=True) needs a loss_func with a `reduction` argument; "
                            f"{getattr(old, '__name__', old)} has none. Add `reduction='mean'` to it.")
        try:
            yield
        finally:
            if hasattr(old, "reduction"):
                old.reduction = saved
            self.loss_func = old

    def predict(self, item: Any) -> tuple:
        """Return `(decoded, index, probs)` for one item (a file, an image, or an input tensor).

        `index` is the class with the highest probability (for one output: 1 if prob > 0.5), and
        `decoded` is its name from `dls.vocab` when there is one.
        """
        with self.no_bar():
            (probs, _) = self.get_preds(dl=self.dls.test_dl([item]))
        probs = probs[0]
        idx = int(probs.argmax()) if probs.numel() > 1 else int(probs.item() > 0.5)
        vocab = getattr(self.dls, "vocab", None)
        return (vocab[idx] if vocab is not None else idx), idx, probs

    def save(self, name: str, with_opt: bool = True) -> Path:
        """Save the model's weights (and the optimiser's state) to `path/model_dir/name.pth`; return the file."""
        file = self.path / self.model_dir / f"{name}.pth"
        file.parent.mkdir(parents=True, exist_ok=True)
        state = {"model": self.model.state_dict()}
        if with_opt and self.opt is not None:
            state["opt"] = self.opt.state_dict()
        torch.save(state, file)
        return file

    def load(self, name: str, with_opt: bool = True, strict: bool = True) -> "Learner":
        """Load weights (and optimiser state) saved by `save(name)`."""
        file = self.path / self.model_dir / f"{name}.pth"
        if not file.exists():
            saved = sorted(p.stem for p in file.parent.glob("*.pth")) if file.parent.exists() else []
            raise FileNotFoundError(f"No saved model {file}; saved models there: {saved or 'none'}.")
        state = torch.load(file, map_location=self.dls.device, weights_only=True)
        self._model_to_device()
        self.model.load_state_dict(state["model"], strict=strict)
        if with_opt and "opt" in state:
            if self.opt is None:
                self.create_opt()
            self.opt.load_state_dict(state["opt"])
        return self


def _takes_reduction(f: Callable) -> bool:
    """Tell whether function `f` accepts a `reduction=` keyword."""
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):
        return True  # builtins such as F.cross_entropy may hide their signature: try it
    return "reduction" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _default_loss(dls: Any) -> Callable:
    """Return cross-entropy when the data have classes (`dls.vocab`), else explain what to pass."""
    if getattr(dls, "vocab", None) is not None:
        return CrossEntropyLossFlat()
    raise ValueError("Learner needs a loss_func for these data (they have no vocab of classes): pass e.g. "
                     "loss_func=mnist_loss or loss_func=F.cross_entropy.")
