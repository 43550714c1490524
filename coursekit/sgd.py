"""The seven steps of gradient descent as one small function, for the roller-coaster chapter."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["quadratic", "mse", "least_squares_quadratic", "SGDRun", "gradient_descent", "describe_run",
           "most_moved"]


def quadratic(t: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Return `a*t**2 + b*t + c` for `params = (a, b, c)`."""
    a, b, c = params
    return a * t**2 + b * t + c


def mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Return the mean squared error between predictions and targets."""
    return ((preds - targets) ** 2).mean()


def least_squares_quadratic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Return the `(a, b, c)` of the quadratic with the lowest MSE on `(x, y)`, solved exactly by least squares."""
    features = torch.stack([x**2, x, torch.ones_like(x)], dim=1).double()   # one column per parameter
    return torch.linalg.lstsq(features, y.double().unsqueeze(1)).solution.squeeze(1).to(y.dtype)


@dataclass
class SGDRun:
    """What one run of gradient descent did: the lr, and the loss, predictions and parameters at each step.

    `best_loss` is the lowest loss any parameters can reach on the data; the verdict compares the run with it.
    """
    lr: float
    best_loss: float = 0.0
    losses: list[float] = field(default_factory=list)
    preds: list[torch.Tensor] = field(default_factory=list)
    history: list[torch.Tensor] = field(default_factory=list)

    @property
    def params(self) -> torch.Tensor:
        """The parameters after the last step."""
        return self.history[-1]

    @property
    def verdict(self) -> str:
        """Return 'diverging', 'bouncing', 'converging', 'stalled' or 'too slow' (see `describe_run`)."""
        return describe_run(self.losses, torch.stack(self.history), best_loss=self.best_loss)


def gradient_descent(f: Callable, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, lr: float,
                     steps: int = 10, loss_func: Callable = mse, best_loss: float = 0.0) -> SGDRun:
    """Run `steps` steps of gradient descent on a copy of `params`; return an `SGDRun`.

    Pass `best_loss` (for a quadratic: the MSE of `least_squares_quadratic`) so that the verdict can tell a run
    that reaches the best fit from one that stops short of it.
    """
    params = params.detach().clone().requires_grad_()
    run = SGDRun(lr=lr, best_loss=best_loss, history=[params.detach().clone()])
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


def describe_run(losses: list[float], history: torch.Tensor | None = None, best_loss: float = 0.0,
                 rtol: float = 0.2, atol: float = 1e-6) -> str:
    """Classify a run by its losses (and, if given, its parameters at each step) against `best_loss`, the lowest
    loss the model can reach (0 by default, the floor of a squared error; for a quadratic, least squares gives it).

    'diverging': the loss grows. 'bouncing': it goes up at some step, or the parameter that moves most changes
    direction at most steps. 'converging': the last loss is within `rtol` (20%) of `best_loss`. 'stalled': it
    closed more than half the gap to `best_loss`, then its last step closed less than 1% of what is left.
    'too slow': otherwise (far from the best and still creeping towards it).
    """
    t = torch.tensor(losses, dtype=torch.float64)
    if len(t) < 2:
        return "too short to tell"
    if not torch.isfinite(t).all() or t[-1] > t[0]:
        return "diverging"
    if (t[1:] > t[:-1] * 1.0001).any() or (history is not None and _zigzags(history)):
        return "bouncing"
    if t[-1] <= best_loss * (1 + rtol) + atol:
        return "converging"
    gap_left, gap_at_start = t[-1] - best_loss, t[0] - best_loss
    if gap_left < 0.5 * gap_at_start and t[-2] - t[-1] < 0.01 * gap_left:
        return "stalled"
    return "too slow"


def most_moved(history: torch.Tensor) -> int:
    """Return the index of the parameter that travels furthest over the steps of `history` (one row a step)."""
    return int(history.diff(dim=0).abs().sum(0).argmax())


def _zigzags(history: torch.Tensor) -> bool:
    """True when the parameter that moves most changes direction at more than half of the steps."""
    moves = history.diff(dim=0)
    if len(moves) < 3:
        return False
    signs = moves[:, most_moved(history)].sign()
    return bool((signs[1:] * signs[:-1] < 0).float().mean() > 0.5)
