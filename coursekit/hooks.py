"""Hooks: look inside a model while it runs (`hook_output`, `Hook`, `Hooks`).

A PyTorch hook is a function that the framework calls each time a layer runs (a forward hook gets
`(module, input, output)`) or each time gradients flow back through it (a backward hook gets
`(module, grad_input, grad_output)`). A `Hook` registers one, keeps what the function returns in
`.stored`, and removes itself when a `with` block ends, even if the block raised an error:

    with hook_output(model[0]) as h:
        model(xb)
    h.stored  # the activations of model[0], detached
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn

__all__ = ["Hook", "Hooks", "hook_output", "hook_outputs"]


def _detach(x: Any, cpu: bool = False) -> Any:
    """Return tensors (also inside tuples and lists) detached from the graph, on the CPU if `cpu`."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return x.cpu() if cpu else x
    if isinstance(x, (tuple, list)):
        return type(x)(_detach(o, cpu) for o in x)
    return x


class Hook:
    """Register `hook_func(module, input, output)` on `module`; keep its result in `self.stored`.

    `is_forward=False` registers a backward hook instead: `hook_func(module, grad_input, grad_output)`.
    With `detach=True` the function sees tensors cut from the graph (no memory kept for backward).
    """

    def __init__(self, module: nn.Module, hook_func: Callable, is_forward: bool = True, detach: bool = True,
                 cpu: bool = False):
        self.hook_func, self.detach, self.cpu = hook_func, detach, cpu
        self.stored: Any = None
        register = module.register_forward_hook if is_forward else module.register_full_backward_hook
        self.handle = register(self.hook_fn)
        self.removed = False

    def hook_fn(self, module: nn.Module, input: Any, output: Any) -> None:
        """What PyTorch calls: run `hook_func` (on detached tensors if `detach`) and store its result."""
        if self.detach:
            input, output = _detach(input, self.cpu), _detach(output, self.cpu)
        self.stored = self.hook_func(module, input, output)

    def remove(self) -> None:
        """Unregister the hook (safe to call twice)."""
        if not self.removed:
            self.handle.remove()
            self.removed = True

    def __enter__(self) -> "Hook":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self.removed else "active"
        return f"Hook({state}, stored={type(self.stored).__name__})"


class Hooks:
    """One `Hook` per module in `modules`; `.stored` lists what each keeps; removed all at once."""

    def __init__(self, modules: Iterable[nn.Module], hook_func: Callable, is_forward: bool = True,
                 detach: bool = True, cpu: bool = False):
        self.hooks = [Hook(m, hook_func, is_forward, detach, cpu) for m in modules]

    def __getitem__(self, i: int) -> Hook:
        return self.hooks[i]

    def __len__(self) -> int:
        return len(self.hooks)

    def __iter__(self):
        return iter(self.hooks)

    @property
    def stored(self) -> list:
        """Return what each hook stored, in the order of the modules."""
        return [h.stored for h in self.hooks]

    def remove(self) -> None:
        """Unregister every hook."""
        for h in self.hooks:
            h.remove()

    def __enter__(self) -> "Hooks":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _output(module: nn.Module, input: Any, output: Any) -> Any:
    """Hook function of a forward hook: keep the output."""
    return output


def _grad_output(module: nn.Module, grad_input: Any, grad_output: Any) -> Any:
    """Hook function of a backward hook: keep the gradient of the loss with respect to the output."""
    return grad_output[0] if isinstance(grad_output, tuple) and len(grad_output) == 1 else grad_output


def hook_output(module: nn.Module, detach: bool = True, cpu: bool = False, grad: bool = False) -> Hook:
    """Return a `Hook` that keeps `module`'s output (or, with `grad=True`, the gradient at its output).

    Use it in a `with` block, or call `.remove()` yourself: a forgotten hook keeps running.
    """
    return Hook(module, _grad_output if grad else _output, is_forward=not grad, detach=detach, cpu=cpu)


def hook_outputs(modules: Iterable[nn.Module], detach: bool = True, cpu: bool = False, grad: bool = False) -> Hooks:
    """Return `Hooks` keeping the output (or output gradient, with `grad=True`) of each of `modules`."""
    return Hooks(modules, _grad_output if grad else _output, is_forward=not grad, detach=detach, cpu=cpu)
