"""Pictures that teach: show images, grids of images and plots of functions."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .utils import to_np

__all__ = ["show_image", "show_images", "plot_function"]


def _as_image(im: Any) -> np.ndarray:
    """Return an image (tensor, array or PIL) as an array matplotlib can draw (channels last)."""
    arr = to_np(im)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)  # PyTorch stores channels first
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def show_image(im: Any, ax=None, figsize: tuple | None = (2, 2), title: str | None = None,
               cmap: str | None = None, **kwargs):
    """Draw one image (a tensor, array or PIL image) without axes; return the matplotlib axes."""
    import matplotlib.pyplot as plt

    arr = _as_image(im)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.imshow(arr, cmap=cmap or ("Greys" if arr.ndim == 2 else None), **kwargs)
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax


def show_images(ims: Sequence, nrows: int = 1, ncols: int | None = None, titles: Sequence | None = None,
                figsize: tuple | None = None, suptitle: str | None = None, **kwargs):
    """Draw images in a grid of `nrows` rows; return the figure."""
    import matplotlib.pyplot as plt

    ncols = ncols or math.ceil(len(ims) / nrows)
    fig, axs = plt.subplots(nrows, ncols, figsize=figsize or (1.3 * ncols, 1.4 * nrows), squeeze=False)
    titles = list(titles) if titles is not None else [None] * len(ims)
    for ax, im, t in zip(axs.flat, ims, titles):
        show_image(im, ax=ax, title=t, **kwargs)
    for ax in list(axs.flat)[len(ims):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_function(f: Callable, tx: str | None = None, ty: str | None = None, title: str | None = None,
                  min: float = -2, max: float = 2, figsize: tuple = (5, 3), ax=None):
    """Plot `f` (which takes a tensor) between `min` and `max`; return the matplotlib axes."""
    import matplotlib.pyplot as plt

    x = torch.linspace(min, max, 100)
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.plot(x.numpy(), torch.as_tensor(f(x)).detach().numpy())
    ax.set_xlabel(tx or "x")
    ax.set_ylabel(ty or "f(x)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax
