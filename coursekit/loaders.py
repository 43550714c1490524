"""From data to mini-batches: `collate`, `DataLoader` and `DataLoaders`.

A `DataLoader` cuts a dataset into batches. When the data are already tensors (a `TensorDataset`,
an `(x, y)` pair of tensors, or a list of `(x, y)` tensor pairs, which it stacks once), it takes
the fast path: each batch is one slice of the big tensors, with no Python work per item.
Anything else that has `len` and `[i]` (a list, a `range`, a string, a `Dataset`) is batched item
by item and collated, as `torch.utils.data.DataLoader` does.

Nothing here knows about images: reading, resizing and normalising them, and
`ImageDataLoaders.from_folder`, are in `image_data.py`. Their names can still be imported from here.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .utils import default_device

IMAGE_NAMES = ["ImageDataLoaders", "Resize", "Normalize", "get_image_files", "imagenet_stats"]  # in image_data.py
__all__ = ["DataLoader", "DataLoaders", "collate", *IMAGE_NAMES]

DEVICE_CACHE_BYTES = 2 * 1024**3  # tensor datasets up to this size are copied to the GPU once


def collate(items: list) -> Any:
    """Return a list of samples as one batch: tensors stacked, numbers as a tensor, strings as a tuple."""
    x = items[0]
    if isinstance(x, torch.Tensor):
        return torch.stack(items)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.stack(items))
    if isinstance(x, (bool, int, float, np.number)):
        return torch.tensor(items)
    if isinstance(x, (tuple, list)):
        return tuple(collate(list(field)) for field in zip(*items))
    return tuple(items)


def _to(b: Any, device: torch.device | None) -> Any:
    """Return batch `b` (a tensor or a tuple of them) moved to `device` (no move if None)."""
    if device is None:
        return b
    if isinstance(b, torch.Tensor):
        return b.to(device, non_blocking=True)
    if isinstance(b, (tuple, list)):
        return tuple(_to(o, device) for o in b)
    return b


def _stack_pairs(items: Sequence) -> tuple[torch.Tensor, ...] | None:
    """Return a list of equal-shaped `(x, y, ...)` tensor/number tuples as tensors, else None."""
    if not isinstance(items, (list, tuple)) or len(items) == 0 or not isinstance(items[0], (tuple, list)):
        return None
    k = len(items[0])
    if k == 0 or any(not isinstance(it, (tuple, list)) or len(it) != k for it in items):
        return None
    try:
        return tuple(torch.stack(f) if isinstance(f[0], torch.Tensor) else torch.tensor(f)
                     for f in zip(*items))
    except (TypeError, RuntimeError, ValueError):  # mixed types or shapes: use the general path
        return None


def _as_tensors(dataset: Any) -> tuple[torch.Tensor, ...] | None:
    """Return the tensors behind `dataset` when it is made of tensors, else None."""
    if isinstance(dataset, TensorDataset):
        return tuple(dataset.tensors)
    if isinstance(dataset, torch.Tensor):
        return (dataset,)
    if (isinstance(dataset, tuple) and dataset and all(isinstance(t, torch.Tensor) and t.ndim > 0 for t in dataset)
            and len({len(t) for t in dataset}) == 1):
        return dataset
    return _stack_pairs(dataset)


class DataLoader:
    """Batches of `dataset`, shuffled each epoch if `shuffle`, moved to `device` if given.

    `after_batch`, if given, is applied to the inputs `xb` of each batch once on the device
    (e.g. `Normalize`). `batch_size` is accepted as another name for `bs`, as in PyTorch.
    """

    def __init__(self, dataset: Any = (), bs: int = 64, shuffle: bool = False, drop_last: bool = False,
                 device: str | torch.device | None = None, batch_size: int | None = None,
                 after_batch: Callable | None = None):
        self.bs = int(batch_size if batch_size is not None else bs)
        if self.bs < 1:
            raise ValueError(f"DataLoader: bs must be at least 1, got {self.bs}.")
        self.tensors = _as_tensors(dataset)
        self.dataset = TensorDataset(*self.tensors) if isinstance(dataset, tuple) and self.tensors else dataset
        self.single = isinstance(dataset, torch.Tensor)  # a bare tensor gives bare tensor batches
        self.shuffle, self.drop_last, self.after_batch = shuffle, drop_last, after_batch
        self.device = None if device is None else torch.device(device)
        self._on_device: tuple | None = None

    @classmethod
    def from_tensors(cls, *tensors: torch.Tensor, bs: int = 64, **kwargs: Any) -> "DataLoader":
        """Return a fast `DataLoader` over tensors that share their first dimension: `from_tensors(x, y)`."""
        sizes = [len(t) for t in tensors]
        if not tensors or len(set(sizes)) != 1:
            raise ValueError(f"from_tensors needs tensors with the same number of items; got sizes {sizes}.")
        return cls(tuple(tensors), bs=bs, **kwargs)

    @property
    def n(self) -> int:
        """Return the number of items."""
        return len(self.tensors[0]) if self.tensors is not None else len(self.dataset)

    def __len__(self) -> int:
        return self.n // self.bs if self.drop_last else math.ceil(self.n / self.bs)

    def __iter__(self) -> Iterator:
        idxs = torch.randperm(self.n) if self.shuffle else None
        if self.tensors is None:
            for b in self._item_batches(idxs):
                yield self._finish(b)
            return
        ts = self._device_tensors()  # the fast path: each batch is one slice of the tensors
        moved = self.device is None or ts[0].device == self.device
        idxs = idxs.to(ts[0].device) if idxs is not None else None
        for i in self._starts():
            if idxs is None:
                b = tuple(t[i:i + self.bs] for t in ts)
            else:  # index_select: several times faster than t[j] on the CPU
                j = idxs[i:i + self.bs]
                b = tuple(t.index_select(0, j) for t in ts)
            yield self._finish(b, moved)

    def _starts(self) -> range:
        """Return the start position of each batch."""
        return range(0, len(self) * self.bs, self.bs)

    def _item_batches(self, idxs: torch.Tensor | None) -> Iterator:
        """Yield batches by reading each item and collating them (the general path)."""
        order = idxs.tolist() if idxs is not None else range(self.n)
        for i in self._starts():
            yield collate([self.dataset[j] for j in order[i:i + self.bs]])

    def _device_tensors(self) -> tuple:
        """Return the tensors, copied once to `device` when they fit (else batches move one by one)."""
        dev, ts = self.device, self.tensors
        if dev is None or all(t.device == dev for t in ts):
            return ts
        if sum(t.numel() * t.element_size() for t in ts) > DEVICE_CACHE_BYTES:
            return ts
        if self._on_device is None or self._on_device[0].device != dev:
            self._on_device = tuple(t.to(dev) for t in ts)
        return self._on_device

    def _finish(self, b: tuple, moved: bool = False) -> Any:
        """Return batch `b` on the device (unless already `moved` there), `after_batch` applied to its inputs."""
        if not moved:
            b = _to(b, self.device)
        if self.after_batch is not None:
            b = (self.after_batch(b[0]), *b[1:])
        return b[0] if self.single else b

    def one_batch(self) -> Any:
        """Return the first batch."""
        if len(self) == 0:
            raise ValueError(f"This DataLoader gives no batches ({self.n} items, bs={self.bs}, "
                             f"drop_last={self.drop_last}): use a smaller bs.")
        return next(iter(self))

    def new(self, **kwargs: Any) -> "DataLoader":
        """Return a copy of this loader with some settings changed, e.g. `new(shuffle=False)`."""
        dl = copy.copy(self)
        for k, v in kwargs.items():
            if not hasattr(dl, k):
                raise AttributeError(f"DataLoader has no setting {k!r}.")
            setattr(dl, k, v)
        return dl

    def subset(self, idxs: Sequence[int]) -> "DataLoader":
        """Return a loader over the items at `idxs` only, with the same settings: `dls.train.subset(range(256))`."""
        idxs = torch.as_tensor(list(idxs), dtype=torch.long)
        if len(idxs) and (idxs.min() < -self.n or idxs.max() >= self.n):
            raise IndexError(f"subset: indices must be below the loader's {self.n} items; got {idxs.min()} to {idxs.max()}.")
        if self.tensors is None:
            return self.new(dataset=torch.utils.data.Subset(self.dataset, idxs.tolist()))
        return self.new(tensors=tuple(t[idxs] for t in self.tensors), _on_device=None)  # drop the copy of all items

    def __repr__(self) -> str:
        kind = "tensors" if self.tensors is not None else type(self.dataset).__name__
        return f"DataLoader({self.n} items from {kind}, bs={self.bs}, shuffle={self.shuffle}, device={self.device})"


class DataLoaders:
    """A training and a validation `DataLoader` (`.train`, `.valid`), both on one device."""

    def __init__(self, *loaders: DataLoader, device: str | torch.device | None = None):
        if len(loaders) < 2:
            raise ValueError(f"DataLoaders needs a training and a validation DataLoader; got {len(loaders)}.")
        self.loaders = list(loaders)
        self.device = device if device is not None else default_device()
        self.vocab: list | None = None

    @property
    def device(self) -> torch.device:
        """Return the device every batch is moved to."""
        return self._device

    @device.setter
    def device(self, device: str | torch.device) -> None:
        """Move every batch to `device` from now on."""
        self._device = torch.device(device)
        for dl in self.loaders:
            dl.device = self._device

    train = property(lambda self: self.loaders[0], doc="The training `DataLoader`.")
    valid = property(lambda self: self.loaders[1], doc="The validation `DataLoader`.")

    def __getitem__(self, i: int) -> DataLoader:
        return self.loaders[i]

    def __len__(self) -> int:
        return len(self.loaders)

    @classmethod
    def from_dsets(cls, train_ds: Any, valid_ds: Any, bs: int = 64, device: Any = None, **kwargs: Any) -> "DataLoaders":
        """Return loaders over two datasets; the training one shuffles and drops its last partial batch."""
        return cls(DataLoader(train_ds, bs=bs, shuffle=True, drop_last=True, **kwargs),
                   DataLoader(valid_ds, bs=bs, **kwargs), device=device)

    def one_batch(self) -> Any:
        """Return the first training batch."""
        return self.train.one_batch()

    def decode(self, xb: torch.Tensor) -> torch.Tensor:
        """Return inputs `xb` with the batch transform undone (images in [0, 1]); unchanged if none."""
        decode = getattr(self.valid.after_batch, "decode", None)
        return decode(xb) if decode is not None else xb

    def item_to_tensor(self, item: Any) -> torch.Tensor:
        """Return one raw item (here: anything `torch.as_tensor` accepts) as an input tensor."""
        return torch.as_tensor(item)

    def test_dl(self, items: Sequence, bs: int | None = None) -> DataLoader:
        """Return a `DataLoader` of inputs only (no labels) for new `items`, prepared like the validation set."""
        x = torch.stack([self.item_to_tensor(o) for o in items])
        return DataLoader(x, bs=bs or self.valid.bs, device=self.device, after_batch=self.valid.after_batch)

    def __repr__(self) -> str:
        return f"DataLoaders(train: {self.train.n} items, valid: {self.valid.n} items, device={self.device})"


def __getattr__(name: str) -> Any:
    """Return a name that moved to `image_data.py`, so `from coursekit.loaders import Resize` still works."""
    if name in IMAGE_NAMES:
        from . import image_data  # imported on first use: image_data itself imports this module

        return getattr(image_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
