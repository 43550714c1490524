"""Small helpers every module uses: seeding, devices, first items, numpy conversion."""
from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch


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


def _path_ls(self: Path) -> list[Path]:
    """Return the entries of this folder, sorted, as a list of `Path`s."""
    return sorted(self.iterdir())


def patch_path_ls() -> None:
    """Give `pathlib.Path` an `ls()` method, as fastai does (`path.ls()` lists a folder)."""
    if not hasattr(Path, "ls"):
        Path.ls = _path_ls


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Context manager: put `model` in eval mode (BatchNorm statistics fixed, no dropout), then restore it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
