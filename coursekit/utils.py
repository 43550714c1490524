"""Small helpers every module uses: seeding, devices, first items, numpy conversion, fastai's `Path.ls()`."""
from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path, PurePath
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from .lists import L


def set_seed(seed: int = 42, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch so that a run gives the same numbers every time."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def default_device() -> torch.device:
    """Return CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def first(items: Iterable, default: Any = None) -> Any:
    """Return the first element of any iterable (a list, a generator, a `DataLoader`)."""
    return next(iter(items), default)


def to_np(x: Any) -> np.ndarray:
    """Return `x` (a tensor, even on the GPU or with gradients) as a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_list(x: Any) -> list:
    """Return None as [], a list or tuple as a list, anything else as a one-item list."""
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]


def _path_ls(self: Path, n_max: int | None = None, file_exts: Iterable[str] | None = None) -> L:
    """Return the entries of this folder as an `L` of `Path`s, sorted by name (fastai's are in disk order).

    `file_exts` keeps only names ending in those suffixes (`['.png']`); `n_max` keeps the first `n_max`.
    """
    exts = _as_list(file_exts)
    found = sorted(p for p in self.iterdir() if not exts or p.suffix in exts)
    return L(found[:n_max] if n_max is not None else found)


def _path_repr(self: Path) -> str:
    """Return `Path('train/3')` for a path under `Path.BASE_PATH` when that is set, else the usual repr."""
    base = getattr(Path, "BASE_PATH", None)
    if base is not None and self.is_relative_to(base):
        return f"Path({self.relative_to(base).as_posix()!r})"
    return PurePath.__repr__(self)


def patch_path_ls() -> None:
    """Give `pathlib.Path` fastai's `ls()` (an `L` of the folder's entries) and its short repr.

    As in fastai, setting `Path.BASE_PATH = path` makes paths under `path` print relative to it.
    """
    if not hasattr(Path, "ls"):  # fastai's own, if it was imported first, stays
        Path.ls = _path_ls
    if Path.__repr__ is PurePath.__repr__:
        Path.__repr__ = _path_repr


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Context manager: put `model` in eval mode (BatchNorm statistics fixed, no dropout), then restore it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
