"""Interactive panels for the chapters; each also works without a widget frontend (it returns figures)."""
from __future__ import annotations

from typing import Callable

import torch

from .sgd import SGDRun, gradient_descent, quadratic

__all__ = ["plot_sgd_run", "lr_explorer"]


def plot_sgd_run(x: torch.Tensor, y: torch.Tensor, lr: float, steps: int = 30, f: Callable = quadratic,
                 init: torch.Tensor | None = None, figsize: tuple = (9, 3)):
    """Run gradient descent with learning rate `lr` and return a figure: the fit and the loss curve.

    The figure's `run` attribute holds the `SGDRun`, so code can check what the picture shows.
    """
    import matplotlib.pyplot as plt

    init = torch.zeros(3) if init is None else init
    run = gradient_descent(f, init, x, y, lr=lr, steps=steps)
    fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=figsize)
    ax_fit.scatter(x, y, s=12, label="measured")
    final = f(x, run.params)
    ax_fit.plot(x, final.nan_to_num(), color="tab:red", label=f"after {steps} steps")
    ax_fit.set(xlabel="time", ylabel="speed", title="Data and prediction", ylim=_padded(y))
    ax_fit.legend(loc="upper center", fontsize=8)
    if not ((final > ax_fit.get_ylim()[0]) & (final < ax_fit.get_ylim()[1])).any():
        ax_fit.text(0.5, 0.45, "prediction off the chart", ha="center", transform=ax_fit.transAxes, color="tab:red")
    _plot_losses(ax_loss, run)
    fig.tight_layout()
    fig.run = run
    return fig


def _padded(y: torch.Tensor) -> tuple[float, float]:
    lo, hi = y.min().item(), y.max().item()
    return lo - 0.3 * (hi - lo), hi + 0.3 * (hi - lo)


def _plot_losses(ax, run: SGDRun) -> None:
    losses = torch.tensor(run.losses, dtype=torch.float64).clamp(max=1e30).nan_to_num(1e30)
    ax.plot(range(len(losses)), losses, marker=".")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss (MSE, log scale)", title=f"lr={run.lr:.0e}: {run.verdict}")


def lr_explorer(x: torch.Tensor, y: torch.Tensor, lr: float = 1e-5, steps: int = 30,
                f: Callable = quadratic, init: torch.Tensor | None = None):
    """Return a panel with a learning-rate slider (log scale) and a steps slider that redraws the run.

    Below the sliders a label names the run's verdict (`lr=5e-05: diverging`); the panel's `figure`
    attribute always holds the figure of the current slider values.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    lr_slider = widgets.FloatLogSlider(value=lr, base=10, min=-7, max=-3, step=0.1, description="lr",
                                       readout_format=".1e", continuous_update=False)
    steps_slider = widgets.IntSlider(value=steps, min=1, max=100, description="steps", continuous_update=False)
    verdict = widgets.Label()
    out = widgets.Output()
    panel = widgets.VBox([widgets.HBox([lr_slider, steps_slider]), verdict, out])

    def redraw(*_):
        fig = plot_sgd_run(x, y, lr=lr_slider.value, steps=steps_slider.value, f=f, init=init)
        panel.figure = fig
        with out:
            out.clear_output(wait=True)
            display(fig)
        verdict.value = f"lr={fig.run.lr:.0e}: {fig.run.verdict}"
        plt.close(fig)

    lr_slider.observe(redraw, names="value")
    steps_slider.observe(redraw, names="value")
    redraw()
    return panel
