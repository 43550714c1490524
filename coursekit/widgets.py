"""Interactive panels for the chapters; each also works without a widget frontend (it returns figures)."""
from __future__ import annotations

from typing import Callable

import torch

from .sgd import SGDRun, gradient_descent, least_squares_quadratic, most_moved, mse, quadratic

__all__ = ["plot_sgd_run", "lr_explorer"]


def plot_sgd_run(x: torch.Tensor, y: torch.Tensor, lr: float, steps: int = 30, f: Callable = quadratic,
                 init: torch.Tensor | None = None, best_loss: float | None = None, xlabel: str = "time (s)",
                 figsize: tuple = (10, 3)):
    """Run gradient descent with learning rate `lr` and return a figure: the fit, the loss at each step, and the
    parameter that moves most at each step.

    For the default `f` the figure also draws the best quadratic (least squares), and the verdict compares the
    run's loss with its loss; for another `f` pass `best_loss`. The figure's `run` attribute holds the `SGDRun`.
    """
    import matplotlib.pyplot as plt

    best = least_squares_quadratic(x, y) if f is quadratic else None
    if best_loss is None and best is None:
        raise ValueError("plot_sgd_run: pass best_loss, the lowest loss your model f can reach on (x, y); "
                         "it is computed for you only when f is coursekit.sgd.quadratic")
    best_loss = mse(quadratic(x, best), y).item() if best_loss is None else best_loss
    init = torch.zeros(3) if init is None else init
    run = gradient_descent(f, init, x, y, lr=lr, steps=steps, best_loss=best_loss)
    fig, (ax_fit, ax_loss, ax_param) = plt.subplots(1, 3, figsize=figsize)
    _plot_fit(ax_fit, x, y, f(x, run.params), steps, None if best is None else quadratic(x, best), xlabel)
    _plot_losses(ax_loss, run)
    _plot_param(ax_param, run, best, names="abc" if f is quadratic else None)
    fig.tight_layout()
    fig.run = run
    return fig


def _padded(y: torch.Tensor) -> tuple[float, float]:
    lo, hi = y.min().item(), y.max().item()
    return lo - 0.3 * (hi - lo), hi + 0.3 * (hi - lo)


def _plot_fit(ax, x, y, final, steps: int, best_preds: torch.Tensor | None, xlabel: str) -> None:
    ax.scatter(x, y, s=12, label="measured")
    ax.plot(x, final.nan_to_num(), color="tab:red", label=f"predicted after {steps} steps")
    if best_preds is not None:
        ax.plot(x, best_preds, color="gray", ls="--", lw=1, label="best quadratic (least squares)")
    ax.set(xlabel=xlabel, ylabel="speed", title="Measured and predicted", ylim=_padded(y))
    ax.legend(loc="upper center", fontsize=7)
    if not ((final > ax.get_ylim()[0]) & (final < ax.get_ylim()[1])).any():
        ax.text(0.5, 0.45, "prediction off the chart", ha="center", transform=ax.transAxes, color="tab:red")


def _plot_losses(ax, run: SGDRun) -> None:
    losses = torch.tensor(run.losses, dtype=torch.float64).clamp(max=1e30).nan_to_num(1e30)
    ax.plot(range(len(losses)), losses, marker=".", label="loss at each step")
    if run.best_loss > 0:
        ax.axhline(run.best_loss, color="gray", ls="--", lw=1, label=f"best possible ({run.best_loss:.3g})")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss (MSE, log scale)", title=f"lr={run.lr:.2g}: {run.verdict}")
    ax.legend(loc="best", fontsize=7)


def _plot_param(ax, run: SGDRun, best: torch.Tensor | None, names: str | None) -> None:
    history = torch.stack(run.history)
    i = most_moved(history)
    name = names[i] if names else f"params[{i}]"
    ax.plot(range(len(history)), history[:, i].double().clamp(-1e30, 1e30).nan_to_num(1e30), marker=".",
            color="tab:green", label=name)
    if best is not None:
        ax.axhline(best[i].item(), color="gray", ls="--", lw=1, label=f"best {name} ({best[i].item():.3g})")
    ax.set(xlabel="step", ylabel=name, title=f"parameter {name} at each step")
    ax.legend(loc="best", fontsize=7)


def lr_explorer(x: torch.Tensor, y: torch.Tensor, lr: float = 0.1, steps: int = 30,
                f: Callable = quadratic, init: torch.Tensor | None = None, best_loss: float | None = None,
                xlabel: str = "time (s)", lr_range: tuple[float, float] = (-4, 0)):
    """Return a panel with a learning-rate slider (log scale, from 10**lr_range[0] to 10**lr_range[1]) and a
    steps slider that redraws the run (see `plot_sgd_run`).

    Below the sliders a label names the run's verdict (`lr=0.5: diverging`); the panel's `figure`
    attribute always holds the figure of the current slider values.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    lr_slider = widgets.FloatLogSlider(value=lr, base=10, min=lr_range[0], max=lr_range[1], step=0.1,
                                       description="lr", readout_format=".1e", continuous_update=False)
    steps_slider = widgets.IntSlider(value=steps, min=1, max=100, description="steps", continuous_update=False)
    verdict = widgets.Label()
    out = widgets.Output()
    panel = widgets.VBox([widgets.HBox([lr_slider, steps_slider]), verdict, out])

    def redraw(*_):
        fig = plot_sgd_run(x, y, lr=lr_slider.value, steps=steps_slider.value, f=f, init=init,
                           best_loss=best_loss, xlabel=xlabel)
        panel.figure = fig
        with out:
            out.clear_output(wait=True)
            display(fig)
        verdict.value = f"lr={fig.run.lr:.2g}: {fig.run.verdict}"
        plt.close(fig)

    lr_slider.observe(redraw, names="value")
    steps_slider.observe(redraw, names="value")
    redraw()
    return panel


# -- chapter 6: the learning-rate finder, and a short run at the rate you pick ---------------------------------

class LRTrial:
    """What a short one-cycle run at `lr` did: its raw training loss at each batch, its validation loss and accuracy."""

    def __init__(self, lr: float, losses: list[float], valid_loss: float, accuracy: float):
        self.lr, self.losses, self.valid_loss, self.accuracy = lr, losses, valid_loss, accuracy

    @property
    def verdict(self) -> str:
        """Return 'diverging', 'too slow' or 'good' (see `lr_verdict`)."""
        return lr_verdict(self.losses)

    def __repr__(self) -> str:
        return f"LRTrial(lr={self.lr:.2g}: {self.verdict}, valid_loss={self.valid_loss:.3f}, accuracy={self.accuracy:.3f})"


def lr_verdict(losses: list[float], blow_up: float = 2.0, min_drop: float = 0.05, k: int = 3) -> str:
    """Return what a short run's batch losses say about its lr: 'diverging', 'too slow' or 'good'.

    'diverging': a loss was nan/inf, or rose above `blow_up` times the start (mean of the first `k`);
    'too slow': the mean of the last `k` is less than `min_drop` (a fraction) below the start; else 'good'.
    """
    if len(losses) < 2 * k:
        raise ValueError(f"lr_verdict needs at least {2 * k} batch losses to compare start and end; got {len(losses)}.")
    t = torch.tensor(losses, dtype=torch.float64)
    start, end = t[:k].mean().item(), t[-k:].mean().item()
    if not torch.isfinite(t).all() or t.max().item() > blow_up * start:
        return "diverging"
    return "too slow" if end > (1 - min_drop) * start else "good"


def try_lr(make_learner: Callable, lr: float, epochs: int = 1, seed: int = 42) -> LRTrial:
    """Train `make_learner()` (seeded with `seed`) for `epochs` of one-cycle at `lr`; return an `LRTrial`."""
    from .callbacks import Callback
    from .utils import set_seed

    class _BatchLosses(Callback):
        def before_fit(self):
            self.seen = []

        def after_batch(self):
            if self.learn.training:
                self.seen.append(self.learn.loss.item())

    set_seed(seed)
    learn, spy = make_learner(), _BatchLosses()
    with learn.no_logging(), learn.no_bar(), learn.added_cbs(spy):
        learn.fit_one_cycle(epochs, lr)
    valid_loss, *metrics = learn.recorder.values[-1][1:]
    return LRTrial(lr, spy.seen, valid_loss, metrics[0] if metrics else float("nan"))


def plot_lr_trial(finder: tuple, lr: float, make_learner: Callable | None = None, suggestions: dict | None = None,
                  epochs: int = 1, trial: LRTrial | None = None, figsize: tuple = (10, 3)):
    """Return a figure: the finder's curve (`finder` = (lrs, losses)) with a marker at `lr`, and beside it the
    loss at each batch of a short one-cycle run at `lr` (`try_lr(make_learner, lr)`), titled with its verdict.

    `suggestions` ({name: lr}) are drawn as dashed lines. With no `make_learner` (and no `trial`), only the
    finder is drawn. The figure's `trial` attribute holds the `LRTrial` (or None).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    lrs, losses = np.asarray(finder[0], dtype=float), np.asarray(finder[1], dtype=float)
    if trial is None and make_learner is not None:
        trial = try_lr(make_learner, lr, epochs)
    fig, (ax_find, ax_run) = plt.subplots(1, 2, figsize=figsize)
    ax_find.plot(lrs, losses, color="C0")
    for (name, value), color in zip((suggestions or {}).items(), ["C1", "C2", "C3", "C4"]):
        ax_find.axvline(value, color=color, ls="--", lw=1, label=f"{name} {value:.1e}")
    ax_find.plot([lr], [np.interp(np.log(lr), np.log(lrs), losses)], "o", color="tab:red", ms=8, label=f"picked {lr:.1e}")
    ax_find.set_xscale("log")
    ax_find.set(xlabel="learning rate (log scale)", ylabel="smoothed loss", title="Learning rate finder")
    ax_find.legend(fontsize=7, loc="upper left")
    if trial is None:
        ax_run.text(0.5, 0.5, "no run yet", ha="center", va="center", transform=ax_run.transAxes)
        ax_run.set_axis_off()
    else:
        ax_run.plot(range(1, len(trial.losses) + 1), np.nan_to_num(trial.losses, nan=1e6, posinf=1e6), marker=".")
        ax_run.set_yscale("log")
        ax_run.set(xlabel="batch", ylabel="training loss (log scale)",
                   title=f"lr={trial.lr:.2g}: {trial.verdict} (accuracy {trial.accuracy:.2f})")
    fig.tight_layout()
    fig.trial = trial
    return fig


def lr_finder_explorer(finder: tuple, make_learner: Callable, suggestions: dict | None = None, lr: float | None = None,
                       epochs: int = 1, lr_range: tuple[float, float] | None = None):
    """Return a panel: an lr slider (log scale, from 10**lr_range[0] to 10**lr_range[1]; by default from the finder's
    first rate to 10, where `lr_find` ends) that moves a marker on the finder's curve, and a button that trains a
    short one-cycle run at that lr and draws it with its verdict (see `plot_lr_trial`).

    Below the controls a label says the last run's verdict (`lr=1: diverging`); the panel's `figure` attribute
    holds the current figure. `make_learner()` must return a fresh `Learner`, on a small part of the data.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.display import display

    lo, hi = lr_range if lr_range is not None else (float(np.floor(np.log10(min(finder[0])))), 1.0)
    value = lr if lr is not None else 10 ** ((lo + hi) / 2)
    slider = widgets.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.1,
                                    description="lr", readout_format=".1e", continuous_update=False)
    button = widgets.Button(description="train at this lr", button_style="primary")
    verdict, out = widgets.Label(), widgets.Output()
    panel = widgets.VBox([widgets.HBox([slider, button]), verdict, out])
    panel.trial = None

    def draw(trial: LRTrial | None) -> None:
        fig = plot_lr_trial(finder, slider.value, suggestions=suggestions, trial=trial)
        panel.figure = fig
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    def train(*_):
        button.disabled, verdict.value = True, f"lr={slider.value:.2g}: training..."
        try:
            panel.trial = try_lr(make_learner, slider.value, epochs)
        finally:
            button.disabled = False
        verdict.value = f"lr={panel.trial.lr:.2g}: {panel.trial.verdict}"
        draw(panel.trial)

    slider.observe(lambda change: draw(panel.trial), names="value")
    button.on_click(train)
    train()
    return panel


__all__ += ["LRTrial", "lr_verdict", "try_lr", "plot_lr_trial", "lr_finder_explorer"]


# -- chapter 9: class activation maps, one image and one class at a time --------------------------------------

def cam_maps(model: torch.nn.Module, images: torch.Tensor, n_classes: int, method: str = "cam",
             layer: torch.nn.Module | None = None) -> torch.Tensor:
    """Return the maps of every class for every image, normalised to [0, 1] and resized to the images:
    `(n_images, n_classes, h, w)`. `method` is 'cam' (`class_activation_map`) or 'grad_cam' (at `layer`)."""
    from .cam import class_activation_map, grad_cam, normalize_cam, resize_cam

    if method not in ("cam", "grad_cam"):
        raise ValueError(f"cam_maps: method must be 'cam' or 'grad_cam'; got {method!r}.")
    maps = []
    for k in range(n_classes):
        cam = class_activation_map(model, images, k) if method == "cam" else grad_cam(model, images, k, layer=layer)
        maps.append(resize_cam(normalize_cam(cam), tuple(images.shape[-2:])))
    return torch.stack(maps, 1).cpu()


def plot_cam_panel(img: torch.Tensor, cam: torch.Tensor, probs: torch.Tensor, vocab: list, cls: int,
                   label: int | None = None, figsize: tuple = (8, 2.6)):
    """Return a figure: the image, the map of class `cls` over it, and the predicted probability of each class."""
    import matplotlib.pyplot as plt

    from .cam import show_cam
    from .plots import show_image

    fig, (ax_img, ax_cam, ax_p) = plt.subplots(1, 3, figsize=figsize, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    show_image(img.cpu(), ax=ax_img, title="image" if label is None else f"image (label: {vocab[label]})")
    show_cam(img.cpu(), cam, ax=ax_cam, title=f"map of {vocab[cls]}")
    colors = ["tab:orange" if k == cls else "tab:gray" for k in range(len(vocab))]
    ax_p.barh(range(len(vocab)), probs.cpu().float(), color=colors)
    ax_p.set(yticks=range(len(vocab)), yticklabels=vocab, xlim=(0, 1), xlabel="probability", title="prediction")
    ax_p.invert_yaxis()
    fig.tight_layout()
    return fig


def cam_explorer(model: torch.nn.Module, images: torch.Tensor, vocab: list, labels: torch.Tensor | None = None,
                 method: str = "cam", layer: torch.nn.Module | None = None, index: int = 0, cls: int | None = None):
    """Return a panel: an image slider over `images`, one toggle button per class of `vocab`, a label
    (`dog: probability 0.73 (image 3, predicted dog)`) and the figure of `plot_cam_panel`.

    Maps and probabilities are computed once, for every image and class; the panel's `figure` attribute
    holds the current figure, `text` the label's text, so it can be used (and tested) without a frontend.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .utils import evaluating

    images = images.detach()
    maps = cam_maps(model, images, len(vocab), method, layer)
    with torch.no_grad(), evaluating(model):
        probs = torch.softmax(model(images), dim=1).cpu()
    preds = probs.argmax(1)
    slider = widgets.IntSlider(value=index, min=0, max=len(images) - 1, description="image", continuous_update=False)
    toggle = widgets.ToggleButtons(options=[(name, k) for k, name in enumerate(vocab)],
                                   value=int(preds[index]) if cls is None else cls, description="class")
    label, out = widgets.Label(), widgets.Output()
    panel = widgets.VBox([widgets.HBox([slider]), toggle, label, out])
    panel.maps, panel.probs = maps, probs

    def redraw(*_):
        i, k = slider.value, toggle.value
        fig = plot_cam_panel(images[i], maps[i, k], probs[i], vocab, k, None if labels is None else int(labels[i]))
        panel.figure, panel.text = fig, f"{vocab[k]}: probability {probs[i, k]:.2f} (image {i}, predicted {vocab[preds[i]]})"
        with out:
            out.clear_output(wait=True)
            display(fig)
        label.value = panel.text
        plt.close(fig)

    slider.observe(redraw, names="value")
    toggle.observe(redraw, names="value")
    redraw()
    return panel


__all__ += ["cam_maps", "plot_cam_panel", "cam_explorer"]
