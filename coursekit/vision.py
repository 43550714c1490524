"""Transfer learning for images: `vision_learner`, its pieces (`create_body`, `create_head`), and `tta`.

`vision_learner(dls, arch)` takes a model family (`resnet18`, `cifar_resnet`, ...), keeps its body
(everything before the final pooling), adds a new head for `dls`'s classes, and returns a `Learner`
whose parameters are split into groups (body..., head) so that `freeze`, `fine_tune` and
discriminative learning rates work.

Pretrained weights, and why the course never downloads by surprise:
- `cifar_resnet`: the course's own weights, trained on CIFAR-10 images and shipped in
  `coursekit/weights/` -- `pretrained=True` loads them, offline.
- torchvision models (`resnet18/34/50`): ImageNet weights live on download.pytorch.org. They are used
  if already in torch's cache, or downloaded (once) if you opt in with `pretrained='imagenet'` or the
  environment variable `COURSEKIT_FULL=1`. Otherwise `pretrained=True` stops with an error saying so,
  rather than silently training from random weights. `pretrained=False` never needs the network.
"""
from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .callbacks import Callback
from .learner import Learner
from .models import AdaptiveConcatPool2d, Flatten
from .utils import evaluating

__all__ = ["vision_learner", "cnn_learner", "create_body", "create_head", "default_split", "resnet_split", "tta",
           "tta_tfms"]


def _imagenet_weights(arch: Callable) -> Any:
    """Return the torchvision weights enum entry (`ResNet18_Weights.DEFAULT`) for `arch`, or None."""
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _in_torch_cache(weights: Any) -> bool:
    """Tell whether torchvision's checkpoint for `weights` is already downloaded (then no network is needed)."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)).exists()


def _name(arch: Any) -> str:
    return getattr(arch, "__name__", type(arch).__name__)


def _make_model(arch: Callable, pretrained: bool | str) -> nn.Module:
    """Return `arch()` with pretrained weights if asked: the course's own, or ImageNet's (see the module doc)."""
    if isinstance(arch, nn.Module):
        raise TypeError(f"vision_learner takes a function that makes a model (e.g. resnet18), not a model "
                        f"({type(arch).__name__}); to train a model you built, use Learner(dls, model).")
    imagenet = _imagenet_weights(arch)
    if not pretrained:
        return arch(weights=None) if imagenet is not None else arch()
    if getattr(arch, "course_weights", None) and pretrained is True:
        return arch(weights="course")
    if imagenet is None:
        have = "only the course's own: use pretrained=True" if getattr(arch, "course_weights", None) else "none"
        raise ValueError(f"pretrained={pretrained!r}: there are no such weights for {_name(arch)} ({have}); "
                         "or pass pretrained=False.")
    opted_in = pretrained == "imagenet" or os.environ.get("COURSEKIT_FULL") == "1"
    if not (opted_in or _in_torch_cache(imagenet)):
        raise RuntimeError(f"Pretrained {_name(arch)} needs ImageNet weights ({imagenet}) from {imagenet.url}, and the "
                           "course does not download unless you ask. Pass pretrained='imagenet' (or set the environment "
                           "variable COURSEKIT_FULL=1) to download them once; or use pretrained=False; or use the "
                           "course's offline pretrained model, cifar_resnet.")
    return arch(weights=imagenet)


def _cut_index(model: nn.Module, cut: int | None) -> int:
    """Return how many children of `model` form the body: `cut`, or everything before the first pooling layer."""
    if cut is not None:
        return cut
    pools = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, AdaptiveConcatPool2d)
    for i, child in enumerate(model.children()):
        if isinstance(child, pools):
            return i
    raise ValueError(f"Cannot find where the body of {type(model).__name__} ends (no adaptive pooling layer among "
                     "its children): pass cut=<number of children to keep> or cut=<function of the model>.")


def _adapt_first_conv(body: nn.Module, n_in: int) -> None:
    """Make the first Conv2d take `n_in` channels, each getting the average of the old input weights (x 3/n_in)."""
    conv = next((m for m in body.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None or conv.in_channels == n_in:
        return
    w = conv.weight.detach().sum(1, keepdim=True) / n_in  # a grey image then gives the same output as before
    conv.weight = nn.Parameter(w.repeat(1, n_in, 1, 1).contiguous())
    conv.in_channels = n_in


def create_body(arch: Callable, n_in: int = 3, pretrained: bool | str = True, cut: int | Callable | None = None) -> nn.Sequential:
    """Return the convolutional body of `arch()`: its children before the final pooling (or up to `cut`).

    `cut` may be a number of children or a function `cut(model) -> body`. Child names are kept
    (`body.layer3`). With `n_in` other than 3, the first convolution is changed to take `n_in` channels.
    """
    model = _make_model(arch, pretrained)
    if callable(cut):
        body = cut(model)
    else:
        children = list(model.named_children())[:_cut_index(model, cut)]
        body = nn.Sequential(OrderedDict(children))
    _adapt_first_conv(body, n_in)
    return body


def _lin_bn_drop(ni: int, no: int, bn: bool, p: float, act: bool) -> list[nn.Module]:
    """Return BatchNorm1d (if `bn`), Dropout (if `p`), Linear, and ReLU (if `act`)."""
    layers = ([nn.BatchNorm1d(ni)] if bn else []) + ([nn.Dropout(p)] if p else []) + [nn.Linear(ni, no)]
    return layers + ([nn.ReLU(inplace=True)] if act else [])


def create_head(nf: int, n_out: int, lin_ftrs: list[int] | None = None, ps: float = 0.5, concat_pool: bool = True,
                first_bn: bool = True, bn_final: bool = False) -> nn.Sequential:
    """Return fastai's head: pool (avg+max), flatten, then [BatchNorm, Dropout, Linear, ReLU] blocks to `n_out`.

    `lin_ftrs` are the hidden sizes (default `[512]`); dropout is `ps/2` before hidden layers, `ps` before
    the last. `concat_pool=False, first_bn=False, lin_ftrs=[], ps=0` gives avg-pool + one Linear (what CAM needs).
    """
    nf = nf * 2 if concat_pool else nf
    sizes = [nf, *([512] if lin_ftrs is None else lin_ftrs), n_out]
    drops = [ps / 2] * (len(sizes) - 2) + [ps]
    layers: list[nn.Module] = [AdaptiveConcatPool2d() if concat_pool else nn.AdaptiveAvgPool2d(1), Flatten()]
    for i, (ni, no, p) in enumerate(zip(sizes[:-1], sizes[1:], drops)):
        last = i == len(sizes) - 2
        layers += _lin_bn_drop(ni, no, bn=first_bn or i > 0, p=p, act=not last)
    if bn_final:
        layers.append(nn.BatchNorm1d(n_out, momentum=0.01))
    return nn.Sequential(*layers)


def _num_features(body: nn.Module, n_in: int, size: int = 64) -> int:
    """Return the number of channels `body` outputs, by running a blank `size`x`size` image through it."""
    with torch.no_grad(), evaluating(body):
        return body(torch.zeros(1, n_in, size, size, device=next(body.parameters()).device)).shape[1]


def default_split(model: nn.Module) -> list[list[nn.Parameter]]:
    """Return two parameter groups of a `vision_learner` model: body, head."""
    return [list(model[0].parameters()), list(model[1].parameters())]


def resnet_split(model: nn.Module) -> list[list[nn.Parameter]]:
    """Return three parameter groups of a ResNet `vision_learner` model: body up to `layer3`, the rest of the body, head."""
    names = [n for n, _ in model[0].named_children()]
    k = names.index("layer3")
    children = list(model[0].children())
    return [[p for c in children[:k] for p in c.parameters()], [p for c in children[k:] for p in c.parameters()],
            list(model[1].parameters())]


def _n_channels(dls: Any) -> int:
    """Return the number of channels of `dls`'s images (3 if it cannot tell)."""
    try:
        xb = dls.one_batch()[0]
    except Exception:  # data that cannot give a batch here: assume RGB, the model will say otherwise
        return 3
    return xb.shape[1] if getattr(xb, "ndim", 0) == 4 else 3


def vision_learner(dls: Any, arch: Callable, pretrained: bool | str = True, n_out: int | None = None,
                   loss_func: Callable | None = None, metrics: Any = None, lr: float = 1e-3, cut: Any = None,
                   splitter: Callable | None = None, n_in: int | None = None, lin_ftrs: list[int] | None = None,
                   ps: float = 0.5, concat_pool: bool = True, first_bn: bool = True, **kwargs: Any) -> Learner:
    """Return a `Learner` for `arch`'s body plus a new head with `n_out` outputs (default: `len(dls.vocab)`).

    Frozen (only the head trains) if `pretrained`. `n_in` defaults to the channels of `dls`'s images.
    Other keyword arguments go to `Learner` (`opt_func`, `cbs`, `wd`, ...).
    """
    n_out = n_out if n_out is not None else _vocab_size(dls)
    n_in = n_in or _n_channels(dls)
    body = create_body(arch, n_in, pretrained, cut)
    head = create_head(_num_features(body, n_in), n_out, lin_ftrs, ps, concat_pool, first_bn)
    model = nn.Sequential(body, head)
    if splitter is None:
        splitter = resnet_split if "layer3" in dict(body.named_children()) else default_split
    learn = Learner(dls, model, loss_func=loss_func, metrics=metrics, lr=lr, splitter=splitter, **kwargs)
    if pretrained:
        learn.freeze()
    return learn


def cnn_learner(*args: Any, **kwargs: Any) -> Learner:
    """Return `vision_learner(*args, **kwargs)`; `cnn_learner` is fastai's old name, kept for the book's code."""
    warnings.warn("cnn_learner has been renamed vision_learner; please use vision_learner (same arguments).",
                  DeprecationWarning, stacklevel=2)
    return vision_learner(*args, **kwargs)


def _vocab_size(dls: Any) -> int:
    """Return the number of classes of `dls`, or explain that `n_out` is needed."""
    vocab = getattr(dls, "vocab", None)
    if vocab is None:
        raise ValueError("vision_learner cannot tell how many outputs the model needs (dls.vocab is None): pass n_out=.")
    return len(vocab)


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Return images `x` moved `dy` pixels down and `dx` right, the borders repeated into the gap."""
    if dy == dx == 0:
        return x
    p, (h, w) = max(abs(dy), abs(dx)), x.shape[-2:]
    padded = F.pad(x, (p, p, p, p), mode="replicate" if x.is_floating_point() else "constant")
    return padded[..., p - dy:p - dy + h, p - dx:p - dx + w]


def tta_tfms(n: int = 4, flip: bool = True, shift: int | None = None) -> list[Callable]:
    """Return `n` augmentations for `tta`: horizontal flip, then shifts by `shift` pixels (with and without flip).

    `shift` defaults to 1/16 of the image width (2 pixels for 32x32). Use `flip=False` for digits or text.
    """
    moves = [(0, 0), (1, 1), (-1, -1), (1, -1), (-1, 1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    combos = [(f, m) for m in moves for f in ((True, False) if flip else (False,)) if f or m != (0, 0)]
    return [_TTATfm(f, dy, dx, shift) for f, (dy, dx) in (combos * n)[:n]]


class _TTATfm:
    """One test-time augmentation of a batch of images: an optional flip, then a shift by (dy, dx) steps."""

    def __init__(self, flip: bool, dy: int, dx: int, shift: int | None):
        self.flip, self.dy, self.dx, self.shift = flip, dy, dx, shift

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"tta augments batches of images (bs, channels, height, width); got shape {tuple(x.shape)}.")
        d = self.shift if self.shift is not None else max(1, x.shape[-1] // 16)
        return _shift(x.flip(-1) if self.flip else x, self.dy * d, self.dx * d)

    def __repr__(self) -> str:
        return f"TTA(flip={self.flip}, shift=({self.dy}, {self.dx}))"


class _AugmentBatch(Callback):
    """Apply `tfm` to each batch of inputs before the model sees it."""

    order, name = -5, "tta_augment"

    def __init__(self, tfm: Callable):
        self.tfm = tfm

    def before_batch(self) -> None:
        """Replace the inputs by their augmented version."""
        self.learn.xb = (self.tfm(self.learn.xb[0]), *self.learn.xb[1:])


def tta(learn: Learner, ds_idx: int = 1, dl: Any = None, n: int = 4, beta: float = 0.25, flip: bool = True,
        shift: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return `(preds, targs)` like `get_preds`, with test-time augmentation: `n` augmented passes averaged.

    preds = `beta * plain + (1 - beta) * mean(augmented)` (probabilities; `beta=1`: plain `get_preds`).
    The augmentations are `tta_tfms(n, flip, shift)`, applied to each batch of images on the device.
    """
    preds, targs = learn.get_preds(ds_idx=ds_idx, dl=dl)
    aug = torch.zeros_like(preds)
    for tfm in tta_tfms(n, flip, shift):
        cb = _AugmentBatch(tfm)
        learn.add_cb(cb)
        try:
            aug += learn.get_preds(ds_idx=ds_idx, dl=dl)[0] / n
        finally:
            learn.remove_cb(cb)
    return beta * preds + (1 - beta) * aug, targs
