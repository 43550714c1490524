"""Images for the loaders: find the files, label them, decode and resize them, batch and augment them.

`ImageDataLoaders.from_folder` labels each image by its folder, `from_name_re` and `from_name_func` by its
file name (`RegexLabeller`). Each image is decoded and resized once on the CPU (`Resize`, the item
transform) and cached in one uint8 tensor; each batch is then normalised (`Normalize`) and, for training,
augmented on the device (`aug_transforms`: flips, turns and crops in one resampling). `show_batch` and
`summary` show what comes out. The generic half, `DataLoader` and `DataLoaders`, is in `loaders.py`
and knows nothing about images (as fastai keeps `data/load.py` apart from `vision/data.py`).
"""
from __future__ import annotations

import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .lists import L
from .loaders import DataLoader, DataLoaders
from .utils import _as_list

__all__ = ["ImageDataLoaders", "Resize", "Normalize", "get_image_files", "imagenet_stats", "parent_label",
           "RegexLabeller", "using_attr", "AffineAugment", "aug_transforms"]

imagenet_stats = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


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

    def __repr__(self) -> str:
        stats = "" if self.mean is None else f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
        return f"Normalize({stats})"


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


def get_image_files(path: str | Path, folders: Sequence[str] | None = None) -> L:
    """Return the image files under `path` (only inside `folders` if given), sorted, as an `L`."""
    roots = [Path(path) / f for f in folders] if folders else [Path(path)]
    files = [p for r in roots for p in r.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS]
    return L(sorted(files))


def parent_label(o: str | Path) -> str:
    """Return the name of the folder a file is in: the label when each class has its own folder."""
    return Path(o).parent.name


class RegexLabeller:
    """Label function: the first group of the regular expression `pat` found in `str(o)` (at its start if `match`)."""

    def __init__(self, pat: str, match: bool = False):
        self.pat, self.match = re.compile(pat), match

    def __call__(self, o: Any) -> str:
        s = o.as_posix() if isinstance(o, Path) else str(o)
        found = (self.pat.match if self.match else self.pat.search)(s)
        if found is None:
            raise ValueError(f"RegexLabeller: the pattern {self.pat.pattern!r} does not match {s!r}; "
                             "try it on this name with re.findall(pattern, name).")
        if not found.groups():
            raise ValueError(f"RegexLabeller: the pattern {self.pat.pattern!r} has no group: put the part that is "
                             "the label in parentheses, e.g. r'^(.+)_\\d+.jpg$'.")
        return found.group(1)

    def __repr__(self) -> str:
        return f"RegexLabeller({self.pat.pattern!r})"


class using_attr:
    """Label function: `f` applied to attribute `attr` of its input (`using_attr(f, 'name')` reads a file's name)."""

    def __init__(self, f: Callable, attr: str):
        self.f, self.attr = f, attr

    def __call__(self, o: Any) -> Any:
        return self.f(getattr(o, self.attr))

    def __repr__(self) -> str:
        return f"using_attr({getattr(self.f, '__name__', None) or repr(self.f)}, {self.attr!r})"


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


class AffineAugment:
    """Batch transform: flip, rotate and zoom into each image at random, then resample it once to `size`.

    `min_scale`: the smallest part of the image (as a fraction of its area) a crop keeps. Presize first (a
    `Resize` larger than `size`), so cropping loses no detail and rotated corners are filled from the picture
    (`pad_mode='reflection'`) rather than left empty ('zeros'). `valid` only resizes, for validation batches.
    """

    def __init__(self, size: int | tuple[int, int] | None = None, min_scale: float = 1.0, max_rotate: float = 10.0,
                 do_flip: bool = True, pad_mode: str = "reflection", mode: str = "bilinear"):
        if not 0 < min_scale <= 1:
            raise ValueError(f"AffineAugment: min_scale is a fraction of the image, in (0, 1]; got {min_scale}.")
        self.size = (size, size) if isinstance(size, int) else None if size is None else tuple(size)
        self.min_scale, self.max_rotate, self.do_flip, self.pad_mode, self.mode = (min_scale, max_rotate, do_flip,
                                                                                     pad_mode, mode)

    def matrices(self, n: int) -> torch.Tensor:
        """Return `n` random affine matrices `(n, 2, 3)`: where each output pixel is read from, in [-1, 1] units."""
        angle = (torch.rand(n) * 2 - 1) * math.radians(self.max_rotate)
        side = torch.empty(n).uniform_(self.min_scale, 1).sqrt()  # side of the crop, as a fraction of the image
        flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0) if self.do_flip else torch.ones(n)
        shift = (torch.rand(n, 2) * 2 - 1) * (1 - side)[:, None]  # the crop stays inside the image
        cos, sin = angle.cos() * side, angle.sin() * side
        return torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                            torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)

    def _resample(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Return the images `x` read through the matrices `theta`, at `size` (one interpolation per pixel)."""
        if not x.is_floating_point():
            raise TypeError(f"AffineAugment works on float images; got {x.dtype}: put it after Normalize.")
        size = self.size or tuple(x.shape[-2:])
        grid = F.affine_grid(theta.to(x.device, x.dtype), [len(x), x.shape[1], *size], align_corners=False)
        return F.grid_sample(x, grid, mode=self.mode, padding_mode=self.pad_mode, align_corners=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._resample(x, self.matrices(len(x)))

    def valid(self, x: torch.Tensor) -> torch.Tensor:
        """Return validation images resized to `size` the same way, without flips, turns or crops."""
        identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(len(x), 2, 3)
        return x if self.size in (None, tuple(x.shape[-2:])) else self._resample(x, identity)

    def __repr__(self) -> str:
        return (f"AffineAugment(size={self.size}, min_scale={self.min_scale}, max_rotate={self.max_rotate}, "
                f"do_flip={self.do_flip}, pad_mode={self.pad_mode!r})")


def aug_transforms(size: int | tuple[int, int] | None = None, min_scale: float = 1.0, max_rotate: float = 10.0,
                   do_flip: bool = True, pad_mode: str = "reflection", mode: str = "bilinear") -> list[AffineAugment]:
    """Return the usual augmentations for `batch_tfms`: random flips, turns and crops to `size`, on the batch."""
    return [AffineAugment(size, min_scale, max_rotate, do_flip, pad_mode, mode)]


def _split_files(files: list[Path], valid_pct: float, seed: int | None) -> tuple[list[Path], list[Path]]:
    """Return (training files, validation files): a random `valid_pct` of `files` for validation."""
    tr, va = _split(len(files), valid_pct, seed)
    return [files[i] for i in tr], [files[i] for i in va]


def _only_classes(files: list[Path], vocab: Sequence[str]) -> list[Path]:
    """Return the files whose folder is one of `vocab`, or say which folders there are when `vocab` names others."""
    folders = {f.parent.name for f in files}
    missing = [c for c in vocab if c not in folders]
    if missing:
        raise ValueError(f"from_folder(vocab=...): no folder for {missing}; the folders are {sorted(folders)}.")
    return [f for f in files if f.parent.name in vocab]


class ImageDataLoaders(DataLoaders):
    """`DataLoaders` of image files, labelled by their folder or their name, cached as one tensor."""

    @classmethod
    def from_folder(cls, path: str | Path, train: str = "train", valid: str = "valid",
                    valid_pct: float | None = None, seed: int | None = None, item_tfms: Any = None,
                    bs: int = 64, normalize: Any = None, convert: str | None = "RGB",
                    batch_tfms: Any = None, device: Any = None, vocab: Sequence[str] | None = None) -> "ImageDataLoaders":
        """Return loaders over `path/train/<class>/*` and `path/valid/<class>/*`.

        With `valid_pct`, all images under `path` are split at random (same split for the same `seed`).
        `vocab` keeps only the images of those classes (e.g. `vocab=['cat', 'dog']` of CIFAR-10's ten).
        `normalize` is None (pixels in [0, 1]), 'imagenet' or a `(mean, std)` pair. `batch_tfms`:
        functions applied, after normalising, to each training batch of images (augmentation).
        """
        path = Path(path)
        if valid_pct is None:
            train_files, valid_files = get_image_files(path, [train]), get_image_files(path, [valid])
        else:
            train_files, valid_files = _split_files(get_image_files(path), valid_pct, seed)
        if vocab is not None:
            train_files, valid_files = _only_classes(train_files, vocab), _only_classes(valid_files, vocab)
        if not train_files or not valid_files:
            raise FileNotFoundError(f"from_folder found {len(train_files)} training and {len(valid_files)} validation "
                                    f"images under {path} (looking in '{train}' and '{valid}', or pass valid_pct).")
        return cls._from_files(train_files, valid_files, parent_label, item_tfms, batch_tfms, bs, normalize, convert,
                               device)

    @classmethod
    def from_name_func(cls, path: str | Path, fnames: Sequence, label_func: Callable, valid_pct: float = 0.2,
                       seed: int | None = None, item_tfms: Any = None, batch_tfms: Any = None, bs: int = 64,
                       normalize: Any = None, convert: str | None = "RGB", device: Any = None) -> "ImageDataLoaders":
        """Return loaders over the image files `fnames`, labelled by `label_func(file name)`; `valid_pct` for validation."""
        fnames = [Path(f) for f in fnames]
        if len(fnames) < 2:
            raise FileNotFoundError(f"from_name_func needs at least 2 image files; got {len(fnames)} "
                                    "(get_image_files(path) lists them).")
        train_files, valid_files = _split_files(fnames, valid_pct, seed)
        dls = cls._from_files(train_files, valid_files, using_attr(label_func, "name"), item_tfms, batch_tfms, bs,
                              normalize, convert, device)
        dls.path = Path(path)
        return dls

    @classmethod
    def from_name_re(cls, path: str | Path, fnames: Sequence, pat: str, **kwargs: Any) -> "ImageDataLoaders":
        """Return loaders over `fnames`, labelled by the first group of the regular expression `pat` in each name."""
        return cls.from_name_func(path, fnames, RegexLabeller(pat), **kwargs)

    @classmethod
    def _from_files(cls, train_files, valid_files, label_func, item_tfms, batch_tfms, bs, normalize, convert,
                    device) -> "ImageDataLoaders":
        """Return loaders for the two lists of files, labelled by `label_func(file)`."""
        train_labels, valid_labels = [label_func(f) for f in train_files], [label_func(f) for f in valid_files]
        vocab = sorted(set(train_labels))
        unknown = sorted(set(valid_labels) - set(vocab))
        if unknown:
            raise ValueError(f"Validation classes {unknown[:5]} have no training images; training classes are "
                             f"{vocab[:10]}{' ...' if len(vocab) > 10 else ''} ({len(vocab)}).")
        o2i = {c: i for i, c in enumerate(vocab)}
        resize, tfms = _as_resize(item_tfms), _as_list(batch_tfms)
        x = _load_images(train_files + valid_files, resize, convert)
        y = torch.tensor([o2i[c] for c in train_labels + valid_labels])
        norm, n = Normalize(*_norm_stats(normalize)), len(train_files)
        valid_tfms = [t.valid for t in tfms if hasattr(t, "valid")]
        dls = cls(DataLoader.from_tensors(x[:n], y[:n], bs=bs, shuffle=True, drop_last=True,
                                          after_batch=_Chain([norm, *tfms]) if tfms else norm),
                  DataLoader.from_tensors(x[n:], y[n:], bs=bs, after_batch=_Chain([norm, *valid_tfms]) if valid_tfms
                                          else norm), device=device)
        dls.train.items, dls.valid.items = train_files, valid_files
        dls.vocab, dls.resize, dls.convert, dls.label_func, dls.batch_tfms = vocab, resize, convert, label_func, tfms
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

    def show_batch(self, max_n: int = 9, nrows: int | None = None, unique: bool = False, ds_idx: int = 0,
                   figsize: tuple | None = None):
        """Show `max_n` images of a training batch (`ds_idx=1`: validation) titled with their labels; return the figure.

        `unique=True` shows the first image `max_n` times, each time through the batch transforms (augmented).
        """
        from .plots import show_images

        dl = self.loaders[ds_idx]
        if unique:
            x, y = (t[:1].repeat_interleave(max_n, 0).to(self.device) for t in dl.tensors)
            xb, yb = dl.after_batch(x) if dl.after_batch else x, y
        else:
            xb, yb = dl.one_batch()
        xb, yb = self.decode(xb[:max_n]), yb[:max_n]
        nrows = nrows or math.ceil(len(xb) / math.ceil(math.sqrt(len(xb))))
        return show_images(list(xb.cpu()), nrows=nrows, titles=[self.vocab[int(i)] for i in yb], figsize=figsize)

    def summary(self) -> None:
        """Print what each step of the pipeline does to the first training item, and warn about likely bugs."""
        from PIL import Image

        f, dl = self.train.items[0], self.train
        label = self.label_func(f)
        print(f"1 items      {self.train.n} training and {self.valid.n} validation files; the first: {f.name!r}")
        print(f"2 label      {self.label_func!r} gives {label!r}: class {self.vocab.index(label)} of {len(self.vocab)}")
        with Image.open(f) as img:
            print(f"3 decode     PIL image, {img.width}x{img.height} (width x height), mode {img.mode}")
        print(f"4 item tfm   {self.resize!r}: {_shape(dl.tensors[0][0])} (each image once, on the CPU, then cached)")
        xb = dl.tensors[0][:dl.bs].to(self.device)
        print(f"5 batch      {dl.bs} items stacked: {_shape(xb)}")
        warnings = _label_warnings(self.vocab, self.train.n)
        for tfm in getattr(dl.after_batch, "funcs", [dl.after_batch]):
            out = tfm(xb)
            print(f"6 batch tfm  {tfm!r}: {_shape(out)}")
            if out.shape[-1] > xb.shape[-1]:
                warnings.append(f"{type(tfm).__name__} enlarges the images from {xb.shape[-1]} to {out.shape[-1]} "
                                "pixels: presize them (item_tfms=Resize) to at least the final size.")
            xb = out
        for w in warnings:
            print(f"! {w}")


def _shape(x: torch.Tensor) -> str:
    """Return a tensor described for `summary`: dtype, shape and range of values."""
    return f"{str(x.dtype).removeprefix('torch.')} {tuple(x.shape)}, values {float(x.min()):.2f} to {float(x.max()):.2f}"


def _label_warnings(vocab: list, n_items: int) -> list[str]:
    """Return warnings about the labels: one class only, or about as many classes as items."""
    if len(vocab) == 1:
        return [f"every item has the label {vocab[0]!r}: check the label function."]
    if len(vocab) > n_items / 2:
        return [f"{len(vocab)} classes for {n_items} items: the label function probably keeps part of the name "
                "that is not the class (a number?)."]
    return []


class _Chain:
    """Apply functions one after the other (a training batch: normalise, then augment)."""

    def __init__(self, funcs: list[Callable]):
        self.funcs = funcs

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for f in self.funcs:
            x = f(x)
        return x

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Return `x` with each function that can be undone (`decode`) undone, last first."""
        for f in reversed(self.funcs):
            x = f.decode(x) if hasattr(f, "decode") else x
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
