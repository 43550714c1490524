"""Optimisers: chapter 4's `BasicOptim`, then `SGD` and `Adam` with per-group hyper-parameters.

`SGD` and `Adam` are PyTorch's own optimisers (fast, well tested) seen through fastai's names:
`lr`, `mom` (SGD momentum, or Adam's beta1), `sqr_mom` (Adam's beta2), `eps` and `wd`, readable as
`opt.hypers` and settable per parameter group with `opt.set_hyper('lr', values)`. Weight decay is
decoupled, as in fastai: each step first shrinks the weights, `p *= 1 - lr * wd`.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

__all__ = ["BasicOptim", "OptimWrapper", "SGD", "Adam", "even_mults", "spread_values"]


class BasicOptim:
    """The optimiser of chapter 4: `step` does `p -= p.grad * lr`, `zero_grad` forgets the gradients.

    It is the teaching version; `Learner` needs `SGD` or `Adam`, which can also change `lr` as it trains.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float):
        self.params, self.lr = list(params), lr

    def step(self, *args: Any, **kwargs: Any) -> None:
        """Move every parameter a step of size `lr` against its gradient."""
        for p in self.params:
            p.data -= p.grad.data * self.lr

    def zero_grad(self, *args: Any, **kwargs: Any) -> None:
        """Forget the gradients, so that the next `backward` does not add to them."""
        for p in self.params:
            p.grad = None


def even_mults(start: float, stop: float, n: int) -> list[float]:
    """Return `n` values from `start` to `stop`, each a constant multiple of the one before."""
    if n == 1:
        return [stop]
    step = (stop / start) ** (1 / (n - 1))
    return [start * step**i for i in range(n)]


def spread_values(v: Any, n: int) -> list[float]:
    """Return one value per parameter group: a number is repeated, a list is checked, a slice is spread.

    `slice(a, b)`: from `a` (first group) to `b` (last group), geometrically. `slice(b)`: `b/10` for all
    groups but the last, `b` for the last (fastai's rule).
    """
    if isinstance(v, slice):
        v = even_mults(v.start, v.stop, n) if v.start else [v.stop / 10] * (n - 1) + [v.stop]
    elif hasattr(v, "tolist"):  # a tensor or NumPy array
        v = v.tolist()
    if not isinstance(v, (list, tuple)):
        return [float(v)] * n
    if len(v) == 1:
        v = list(v) * n
    if len(v) != n:
        raise ValueError(f"Got {len(v)} values ({v}) for {n} parameter groups; give one value or {n}.")
    return [float(o) for o in v]


def _param_groups(params: Any) -> list[dict]:
    """Return `params` (parameters, lists of them, or dicts) as PyTorch parameter-group dicts."""
    params = list(params)
    if not params:
        raise ValueError("The optimiser got no parameters: does the model have any (model.parameters())?")
    if isinstance(params[0], dict):
        return params
    if isinstance(params[0], (list, tuple)):
        return [{"params": list(g)} for g in params]
    return [{"params": params}]


def _names_of(group: dict, decouple_wd: bool) -> dict[str, tuple[str, int | None]]:
    """Return how fastai's hyper-parameter names map to the keys of a PyTorch parameter group."""
    names: dict[str, tuple[str, int | None]] = {"lr": ("lr", None)}
    if "betas" in group:
        names.update(mom=("betas", 0), sqr_mom=("betas", 1))
    elif group.get("momentum", 0) != 0:  # like fastai, SGD made without momentum never uses it
        names["mom"] = ("momentum", None)
    if "eps" in group:
        names["eps"] = ("eps", None)
    if decouple_wd:
        names["wd"] = ("wd", None)
    elif "weight_decay" in group:
        names["wd"] = ("weight_decay", None)
    return names


class OptimWrapper:
    """A PyTorch optimiser with fastai's hyper-parameter names, per group: `hypers`, `set_hyper`.

    With `decouple_wd=True` the wrapper does the weight decay itself (`p *= 1 - lr*wd` before each step).
    """

    def __init__(self, opt: torch.optim.Optimizer, decouple_wd: bool = False, wd: float = 0.0):
        self.opt, self.decouple_wd = opt, decouple_wd
        if decouple_wd:
            for g in opt.param_groups:
                g.setdefault("wd", wd)
        self.names = _names_of(opt.param_groups[0], decouple_wd)

    @property
    def param_groups(self) -> list[dict]:
        """Return PyTorch's parameter groups (dicts with 'params', 'lr', ...)."""
        return self.opt.param_groups

    @property
    def hypers(self) -> list[dict[str, float]]:
        """Return the hyper-parameters of each group, e.g. `[{'lr': 0.001, 'mom': 0.9, ...}, ...]`."""
        return [{k: self._get(g, k) for k in self.names} for g in self.param_groups]

    def _get(self, group: dict, k: str) -> float:
        key, i = self.names[k]
        return group[key] if i is None else group[key][i]

    def set_hyper(self, k: str, v: Any) -> None:
        """Set hyper-parameter `k` to `v`: one value, one per group, or a `slice` spread over the groups."""
        if k not in self.names:
            raise KeyError(f"This optimiser has no hyper-parameter {k!r}; it has {list(self.names)}.")
        key, i = self.names[k]
        for g, val in zip(self.param_groups, spread_values(v, len(self.param_groups))):
            if i is None:
                g[key] = val
            else:
                g[key] = tuple(val if j == i else o for j, o in enumerate(g[key]))

    def set_hypers(self, **kwargs: Any) -> None:
        """Set several hyper-parameters: `set_hypers(lr=1e-3, wd=0.01)`."""
        for k, v in kwargs.items():
            self.set_hyper(k, v)

    def _decay_weights(self) -> None:
        """Shrink each parameter that has a gradient: `p *= 1 - lr * wd`."""
        with torch.no_grad():
            for g in self.param_groups:
                if g["wd"]:
                    for p in g["params"]:
                        if p.grad is not None:
                            p.mul_(1 - g["lr"] * g["wd"])

    def step(self, closure: Any = None) -> Any:
        """Update the parameters from their gradients."""
        if self.decouple_wd and any(g["wd"] for g in self.opt.param_groups):
            self._decay_weights()
        return self.opt.step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (set them to None)."""
        self.opt.zero_grad(set_to_none=set_to_none)

    @property
    def state(self) -> dict:
        """Return the optimiser's per-parameter state (momentum buffers, ...)."""
        return self.opt.state

    def state_dict(self) -> dict:
        """Return the state to save (buffers and hyper-parameters)."""
        return self.opt.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        """Restore a state returned by `state_dict`."""
        self.opt.load_state_dict(sd)

    def __repr__(self) -> str:
        return f"{type(self.opt).__name__} through OptimWrapper: {len(self.param_groups)} group(s), {self.hypers}"


def SGD(params: Any, lr: float, mom: float = 0.0, wd: float = 0.0) -> OptimWrapper:
    """Return stochastic gradient descent (with momentum `mom` if > 0 and decoupled weight decay `wd`)."""
    opt = torch.optim.SGD(_param_groups(params), lr=lr, momentum=mom)
    return OptimWrapper(opt, decouple_wd=True, wd=wd)


def Adam(params: Any, lr: float = 1e-3, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5,
         wd: float = 0.01) -> OptimWrapper:
    """Return Adam with decoupled weight decay (AdamW), with fastai's defaults; `mom` is beta1."""
    opt = torch.optim.AdamW(_param_groups(params), lr=lr, betas=(mom, sqr_mom), eps=eps, weight_decay=wd)
    return OptimWrapper(opt)
