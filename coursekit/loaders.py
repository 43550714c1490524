"""From data to mini-batches: `DataLoader`, `DataLoaders` and `ImageDataLoaders.from_folder`.

A `DataLoader` cuts a dataset into batches. When the data are already tensors (a `TensorDataset`,
an `(x, y)` pair of tensors, or a list of `(x, y)` tensor pairs, which it stacks once), it takes
the fast path: each batch is one slice of the big tensors, with no Python work per item.
Anything else that has `len` and `[i]` (a list, a `range`, a string, a `Dataset`) is batched item
by item and collated, as `torch.utils.data.DataLoader` does.
"""
from __future__ import annotations

import copy
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .utils import _as_list, default_device

__all__ = ["DataLoader", "DataLoaders", "ImageDataLoaders", "Resize", "Normalize", "collate",
           "get_image_files", "imagenet_stats"]

imagenet_stats = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
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


class Normalize:
    """Batch transform for images: uint8 -> float in [0, 1], then `(x - mean) / std` if stats are given."""

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None):
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return mean and std on the device of `x` (moved there once)."""
        if self.mean.device != x.device:
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return self.mean, self.std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        if self.mean is None:
            return x
        mean, std = self._stats(x)
        return (x - mean) / std

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Return normalised images back in [0, 1]."""
        if self.mean is None:
            return x.clamp(0, 1)
        mean, std = self._stats(x)
        return (x * std + mean).clamp(0, 1)


class Resize:
    """Item transform: resize a PIL image to `size` (an int for a square, or `(height, width)`).

    `method='crop'` scales the image to cover the size then cuts the centre; 'squish' stretches it;
    'pad' scales it to fit inside and fills the rest with black.
    """

    def __init__(self, size: int | tuple[int, int], method: str = "crop"):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if method not in ("crop", "squish", "pad"):
            raise ValueError(f"Resize: method must be 'crop', 'squish' or 'pad'; got {method!r}.")
        self.method = method

    def __call__(self, img):
        from PIL import Image

        h, w = self.size
        if self.method == "squish" or img.size == (w, h):
            return img.resize((w, h), Image.BILINEAR)
        scale = (max if self.method == "crop" else min)(w / img.width, h / img.height)
        nw, nh = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        img = img.resize((nw, nh), Image.BILINEAR)
        if self.method == "crop":
            left, top = (nw - w) // 2, (nh - h) // 2
            return img.crop((left, top, left + w, top + h))
        out = Image.new(img.mode, (w, h))
        out.paste(img, ((w - nw) // 2, (h - nh) // 2))
        return out

    def __repr__(self) -> str:
        return f"Resize({self.size}, method={self.method!r})"


def get_image_files(path: str | Path, folders: Sequence[str] | None = None) -> list[Path]:
    """Return the image files under `path` (only inside `folders` if given), sorted."""
    roots = [Path(path) / f for f in folders] if folders else [Path(path)]
    files = [p for r in roots for p in r.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files)


def _image_array(img: Any, resize: Resize | None, convert: str | None) -> np.ndarray:
    """Return a PIL image, converted to `convert` and resized, as a `(height, width, channels)` uint8 array."""
    img = img.convert(convert) if convert else img
    a = np.asarray(resize(img) if resize is not None else img, dtype=np.uint8)
    return a[..., None] if a.ndim == 2 else a


def _load_image(file: Path, resize: Resize | None, convert: str | None) -> np.ndarray:
    """Return one image file as a `(height, width, channels)` uint8 array."""
    from PIL import Image

    with Image.open(file) as img:
        return _image_array(img, resize, convert)


_IMAGE_CACHE: dict = {}  # (files, sizes, mtimes, resize, convert) -> uint8 tensor; last few loads only


def _load_images(files: list[Path], resize: Resize | None, convert: str | None) -> torch.Tensor:
    """Return all `files` as one uint8 tensor `(n, channels, height, width)`, read once per process."""
    stats = tuple((str(f), st.st_mtime_ns, st.st_size) for f in files for st in [f.stat()])
    key = (stats, repr(resize), convert)
    if key not in _IMAGE_CACHE:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            arrays = list(pool.map(lambda f: _load_image(f, resize, convert), files))
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"The images have different sizes or channels ({sorted(shapes)[:3]} ...): "
                             "pass item_tfms=Resize(size) (or an int size) to make them all the same.")
        if len(_IMAGE_CACHE) >= 2:
            _IMAGE_CACHE.clear()
        _IMAGE_CACHE[key] = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return _IMAGE_CACHE[key]


def _split(n: int, valid_pct: float, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train indices, valid indices) for a random split of `n` items."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    perm = torch.randperm(n, generator=g)
    n_valid = int(valid_pct * n)
    return perm[n_valid:].sort().values, perm[:n_valid].sort().values


def _as_resize(item_tfms: Any) -> Resize | None:
    """Return the `Resize` meant by `item_tfms` (None, an int size, a `Resize`, or a list with one)."""
    if item_tfms is None or isinstance(item_tfms, Resize):
        return item_tfms
    if isinstance(item_tfms, int):
        return Resize(item_tfms)
    if isinstance(item_tfms, (list, tuple)) and len(item_tfms) == 1:
        return _as_resize(item_tfms[0])
    raise TypeError(f"item_tfms must be None, an int size or Resize(size); got {item_tfms!r}.")


class ImageDataLoaders(DataLoaders):
    """`DataLoaders` of images read from folders named after their class, cached as one tensor."""

    @classmethod
    def from_folder(cls, path: str | Path, train: str = "train", valid: str = "valid",
                    valid_pct: float | None = None, seed: int | None = None, item_tfms: Any = None,
                    bs: int = 64, normalize: Any = None, convert: str | None = "RGB",
                    batch_tfms: Any = None, device: Any = None) -> "ImageDataLoaders":
        """Return loaders over `path/train/<class>/*` and `path/valid/<class>/*`.

        With `valid_pct`, all images under `path` are split at random (same split for the same `seed`).
        `normalize` is None (pixels in [0, 1]), 'imagenet' or a `(mean, std)` pair. `batch_tfms`:
        functions applied, after normalising, to each training batch of images (augmentation).
        """
        path = Path(path)
        if valid_pct is None:
            train_files, valid_files = get_image_files(path, [train]), get_image_files(path, [valid])
        else:
            files = get_image_files(path)
            tr, va = _split(len(files), valid_pct, seed)
            train_files, valid_files = [files[i] for i in tr], [files[i] for i in va]
        if not train_files or not valid_files:
            raise FileNotFoundError(f"from_folder found {len(train_files)} training and {len(valid_files)} validation "
                                    f"images under {path} (looking in '{train}' and '{valid}', or pass valid_pct).")
        dls = cls._from_files(train_files, valid_files, _as_resize(item_tfms), bs, normalize, convert, device)
        if batch_tfms:
            dls.train.after_batch = _Chain([dls.train.after_batch, *_as_list(batch_tfms)])
        return dls

    @classmethod
    def _from_files(cls, train_files, valid_files, resize, bs, normalize, convert, device) -> "ImageDataLoaders":
        """Return loaders for the two lists of files, labelled by their parent folder."""
        vocab = sorted({f.parent.name for f in train_files})
        o2i = {c: i for i, c in enumerate(vocab)}
        unknown = sorted({f.parent.name for f in valid_files} - set(vocab))
        if unknown:
            raise ValueError(f"Validation classes {unknown} have no training images; training classes are {vocab}.")
        x = _load_images(train_files + valid_files, resize, convert)
        y = torch.tensor([o2i[f.parent.name] for f in train_files + valid_files])
        tfm = Normalize(*_norm_stats(normalize))
        n = len(train_files)
        dls = cls(DataLoader.from_tensors(x[:n], y[:n], bs=bs, shuffle=True, drop_last=True, after_batch=tfm),
                  DataLoader.from_tensors(x[n:], y[n:], bs=bs, after_batch=tfm), device=device)
        dls.train.items, dls.valid.items = train_files, valid_files
        dls.vocab, dls.resize, dls.convert = vocab, resize, convert
        return dls

    def item_to_tensor(self, item: Any) -> torch.Tensor:
        """Return an image file or PIL image as a uint8 `(channels, height, width)` tensor, like the training images."""
        if isinstance(item, torch.Tensor):
            return item
        if isinstance(item, (str, Path)):
            a = _load_image(Path(item), self.resize, self.convert)
        else:
            a = _image_array(item, self.resize, self.convert)
        return torch.from_numpy(a.copy()).permute(2, 0, 1)


class _Chain:
    """Apply functions one after the other (a training batch: normalise, then augment)."""

    def __init__(self, funcs: list[Callable]):
        self.funcs = funcs

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for f in self.funcs:
            x = f(x)
        return x


def _norm_stats(normalize: Any) -> tuple:
    """Return (mean, std) for the `normalize` argument of `from_folder`."""
    if normalize is None:
        return (None, None)
    if normalize == "imagenet":
        return imagenet_stats
    if isinstance(normalize, (tuple, list)) and len(normalize) == 2:
        return tuple(normalize)
    raise ValueError(f"normalize must be None, 'imagenet' or (mean, std); got {normalize!r}.")
