"""The seven steps of gradient descent as one small function, for the roller-coaster chapter."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["quadratic", "mse", "SGDRun", "gradient_descent", "describe_run"]


def quadratic(t: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Return `a*t**2 + b*t + c` for `params = (a, b, c)`."""
    a, b, c = params
    return a * t**2 + b * t + c


def mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Return the mean squared error between predictions and targets."""
    return ((preds - targets) ** 2).mean()


@dataclass
class SGDRun:
    """What one run of gradient descent did: the lr, and the loss, predictions and parameters at each step."""
    lr: float
    losses: list[float] = field(default_factory=list)
    preds: list[torch.Tensor] = field(default_factory=list)
    history: list[torch.Tensor] = field(default_factory=list)

    @property
    def params(self) -> torch.Tensor:
        """The parameters after the last step."""
        return self.history[-1]

    @property
    def verdict(self) -> str:
        """Return 'diverging', 'bouncing', 'too slow' or 'converging' (see `describe_run`)."""
        return describe_run(self.losses, torch.stack(self.history))


def gradient_descent(f: Callable, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: float,
                     steps: int = 10, loss_func: Callable = mse) -> SGDRun:
    """Run `steps` steps of gradient descent on a copy of `params`; return an `SGDRun`."""
    params = params.detach().clone().requires_grad_()
    run = SGDRun(lr=lr, history=[params.detach().clone()])
    for _ in range(steps):
        preds = f(x, params)                  # 2. predict
        loss = loss_func(preds, y)            # 3. measure the loss
        loss.backward()                       # 4. compute the gradients
        with torch.no_grad():
            params -= lr * params.grad        # 5. step the parameters
        params.grad = None                    # forget this step's gradients before the next one
        run.losses.append(loss.item())
        run.preds.append(preds.detach())
        run.history.append(params.detach().clone())
    return run


def describe_run(losses: list[float], history: torch.Tensor | None = None) -> str:
    """Classify a run: 'diverging' (the loss grows), 'bouncing' (a parameter jumps back and forth across
    its best value at most steps), 'too slow' (the loss has not even halved) or 'converging'."""
    t = torch.tensor(losses, dtype=torch.float64)
    if len(t) < 2:
        return "too short to tell"
    if not torch.isfinite(t).all() or t[-1] > t[0]:
        return "diverging"
    if (t[1:] > t[:-1] * 1.0001).any() or (history is not None and _zigzags(history)):
        return "bouncing"
    if t[-1] > 0.5 * t[0]:
        return "too slow"
    return "converging"


def _zigzags(history: torch.Tensor) -> bool:
    """True when the parameter that moves most changes direction at more than half of the steps."""
    moves = history.diff(dim=0)
    if len(moves) < 3:
        return False
    main = moves[:, moves.abs().sum(0).argmax()]
    signs = main.sign()
    return bool((signs[1:] * signs[:-1] < 0).float().mean() > 0.5)
