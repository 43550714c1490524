"""Class activation maps: which parts of an image made the model choose a class.

CAM (Zhou et al., 2016) works for models that end in average pooling and one `Linear` layer: the
score of class k is the average over positions of `sum_c W[k, c] * A[c, y, x]`, where `A` are the
last convolutional features. So the map `sum_c W[k, c] * A[c]` says how much each position adds.
A model can also end the way fast.ai's lesson 7 does: a `Conv2d` with one output channel per class, then
average pooling (a "class convolution"). Its output channel k *is* the map of class k, and the class
score is that map's average. `class_activation_map` handles both heads.
Grad-CAM (Selvaraju et al., 2017) works for any model: it weights each channel of a hooked layer's
activations by the average gradient of the class score with respect to that channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import hook_output
from .plots import show_image
from .utils import evaluating, to_np

__all__ = ["class_activation_map", "grad_cam", "normalize_cam", "resize_cam", "show_cam", "cam_peak", "pointing_game"]

_POOLING = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)


def _split_model(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Return (body, head) of a `vision_learner` model or of a torchvision-style ResNet (`avgpool`, `fc`)."""
    if isinstance(model, nn.Sequential) and len(model) == 2:
        return model[0], model[1]
    names = [n for n, _ in model.named_children()]
    if "avgpool" in names and "fc" in names:
        children = list(model.children())
        return nn.Sequential(*children[:names.index("avgpool")]), nn.Sequential(model.avgpool, nn.Flatten(), model.fc)
    raise ValueError(f"Cannot tell the body from the head of this {type(model).__name__}: pass body= "
                     "(the convolutional part) and head_linear= (the last Linear layer), or layer= for grad_cam.")


def _head_linear(head: nn.Module) -> nn.Linear | nn.Conv2d:
    """Return the head's single Linear layer (or its class convolution), checking that the rest only pools or flattens."""
    mods = [m for m in head.modules() if not isinstance(m, nn.Sequential)]
    if mods and isinstance(mods[0], nn.Conv2d) and all(isinstance(m, _POOLING) for m in mods[1:]):
        return mods[0]  # lesson 7's head: Conv2d(nf, n_classes), AdaptiveAvgPool2d(1), Flatten()
    others = [type(m).__name__ for m in mods[:-1] if not isinstance(m, _POOLING)]
    if not mods or not isinstance(mods[-1], nn.Linear) or others:
        raise ValueError(f"CAM needs a head that only averages the features and applies one Linear layer; this head "
                         f"also has {others or 'no final Linear'}. Use grad_cam(model, x, layer=<body>) instead, "
                         "or a learner made with vision_learner(..., concat_pool=False, first_bn=False, lin_ftrs=[], ps=0).")
    return mods[-1]


def _targets(target: int | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
    """Return one class index per image: `target` as a tensor, or the predicted classes if None."""
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor(target, device=logits.device).long().flatten()
    return t.expand(len(logits)) if t.numel() == 1 else t


def class_activation_map(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor | None = None,
                         body: nn.Module | None = None, head_linear: nn.Linear | nn.Conv2d | None = None) -> torch.Tensor:
    """Return the CAM of class `target` (default: the predicted one) for each image of `x`: `(bs, h, w)`.

    `h, w` is the size of the body's feature map (e.g. 8x8 for 32x32 images): see `resize_cam`. With a
    class convolution as `head_linear` (lesson 7's head), the map is that convolution's output channel.
    """
    if body is None or head_linear is None:
        b, head = _split_model(model)
        body, head_linear = body or b, head_linear or _head_linear(head)
    with torch.no_grad(), evaluating(model):
        feats = body(x)
        n_in = head_linear.in_channels if isinstance(head_linear, nn.Conv2d) else head_linear.in_features
        if feats.shape[1] != n_in:
            raise ValueError(f"The body gives {feats.shape[1]} channels but the {type(head_linear).__name__} layer "
                             f"takes {n_in}: CAM needs the features to go straight into it.")
        t = _targets(target, model(x))
        if isinstance(head_linear, nn.Conv2d):
            return head_linear(feats)[torch.arange(len(t)), t]
        return torch.einsum("bc,bchw->bhw", head_linear.weight[t], feats)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor | None = None,
             layer: nn.Module | None = None) -> torch.Tensor:
    """Return the Grad-CAM of class `target` (default: predicted) at `layer` (default: the body): `(bs, h, w)`."""
    layer = layer if layer is not None else _split_model(model)[0]
    x = x.detach().clone().requires_grad_(True)  # so gradients flow even through a frozen model
    with torch.enable_grad(), evaluating(model), hook_output(layer, detach=False) as hook:
        logits = model(x)
        t = _targets(target, logits)
        acts = hook.stored
        grads, = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), acts)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # one weight per channel: its average gradient
    return F.relu((weights * acts).sum(1)).detach()


def normalize_cam(cam: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Return each map of `cam` (`(bs, h, w)` or one `(h, w)`) rescaled to [0, 1]: minus its min, over its range."""
    flat = cam.flatten(-2)
    lo, hi = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    return ((flat - lo) / (hi - lo + eps)).view_as(cam)


def resize_cam(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Return maps `(bs, h, w)` (or one `(h, w)`) resized smoothly to `size` = (height, width)."""
    batch = cam[None] if cam.ndim == 2 else cam
    out = F.interpolate(batch[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    return out[0] if cam.ndim == 2 else out


def show_cam(img: torch.Tensor, cam: torch.Tensor, ax=None, alpha: float = 0.6, cmap: str = "magma",
             title: str | None = None, figsize: tuple = (3, 3)):
    """Draw image `img` (values in [0, 1]; use `dls.decode`) with the heat map `cam` over it; return the axes."""
    ax = show_image(img, ax=ax, figsize=figsize, title=title)
    h, w = ax.get_images()[0].get_array().shape[:2]
    ax.imshow(to_np(cam.float()), alpha=alpha, cmap=cmap, extent=(0, w, h, 0), interpolation="bilinear")
    return ax


def cam_peak(cam: torch.Tensor) -> torch.Tensor:
    """Return the (row, column) of the highest value of each map of `cam` (`(bs, h, w)`): `(bs, 2)`."""
    idx = cam.flatten(1).argmax(1)
    return torch.stack([idx // cam.shape[-1], idx % cam.shape[-1]], 1)


def pointing_game(cam: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Return, for each map of `cam` (`(bs, h, w)`), whether its peak falls inside its box (top, left, height, width).

    The maps must have the image's size (`resize_cam`) so that the boxes' pixel coordinates apply.
    """
    if boxes.shape != (len(cam), 4):
        raise ValueError(f"pointing_game: boxes must be (bs, 4) = (top, left, height, width) for {len(cam)} maps; "
                         f"got shape {tuple(boxes.shape)}.")
    r, c = cam_peak(cam).unbind(1)
    top, left, h, w = boxes.to(cam.device).unbind(1)
    return (r >= top) & (r < top + h) & (c >= left) & (c < left + w)
