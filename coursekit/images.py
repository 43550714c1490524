"""Images as numbers: open them, turn them into tensors, look at their pixels in a table."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

__all__ = ["tensor", "load_image", "pixel_frame"]


def tensor(x: Any, *rest: Any, **kwargs: Any) -> torch.Tensor:
    """Return `x` as a tensor: a number, list, NumPy array, tensor or PIL image (its pixels).

    `tensor(1, 2, 3)` is a shortcut for `tensor([1, 2, 3])`, as in fastai.
    """
    if rest:
        x = (x, *rest)
    if isinstance(x, Image.Image):
        x = np.array(x)
    if isinstance(x, torch.Tensor):
        return x.to(**kwargs) if kwargs else x
    if isinstance(x, (list, tuple)) and any(isinstance(o, (np.ndarray, torch.Tensor)) for o in x):
        x = np.stack([np.asarray(o) for o in x])  # a list of arrays becomes one array first
    return torch.as_tensor(x, **kwargs)


def load_image(path: str | Path, mode: str | None = None) -> Image.Image:
    """Open the image file at `path` (converting it to `mode`, e.g. 'L' or 'RGB', if given)."""
    im = Image.open(path)
    im.load()
    return im.convert(mode) if mode else im


def pixel_frame(img: Any, rows: slice = slice(None), cols: slice = slice(None)):
    """Return a pandas table of the pixel values of `img`, shaded from white (0) to black (255).

    `rows` and `cols` pick the part to show; a whole 28x28 digit is already a big table.
    """
    import pandas as pd

    values = np.asarray(tensor(img))[rows, cols]
    if values.ndim != 2:
        raise ValueError(f"pixel_frame needs a greyscale image (2 dimensions); got shape {values.shape}. "
                         "Pick one channel first, e.g. img[..., 0].")
    df = pd.DataFrame(values)
    styler = df.style.set_properties(**{"font-size": "6pt", "text-align": "center"})
    return styler.background_gradient("Greys").set_uuid("pixels")
