"""The course's model zoo: from a two-layer net to the ResNets of the CIFAR-10 lesson.

`simple_net` is the MNIST chapter's first neural net. `BnLayer`, `ResnetLayer`, `Resnet` and
`Resnet2` are the fast.ai CIFAR-10 lesson's models (conv -> ReLU -> BatchNorm; `x + f(x)`).
`cifar_resnet` is a small ResNet for 32x32 images, built like torchvision's ResNets (a body, then
`avgpool` and `fc`), so `vision_learner` cuts it the same way and can load the course's own
pretrained weights for it. torchvision's `resnet18/34/50` are re-exported for the bigger chapters.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18, resnet34, resnet50
from torchvision.models.resnet import BasicBlock

__all__ = ["simple_net", "BnLayer", "ResnetLayer", "Resnet", "Resnet2", "CifarResNet", "cifar_resnet",
           "cifar8_resnet", "Flatten", "AdaptiveConcatPool2d", "load_course_weights", "resnet18", "resnet34", "resnet50"]

WEIGHTS_DIR = Path(__file__).parent / "weights"  # the course's own pretrained weights (small, shipped)


def simple_net(n_in: int = 28 * 28, n_hidden: int = 30, n_out: int = 1) -> nn.Sequential:
    """Return the MNIST chapter's neural net: Linear(n_in, n_hidden), ReLU, Linear(n_hidden, n_out)."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


class Flatten(nn.Flatten):
    """Flatten everything but the batch dimension: `(bs, c, 1, 1)` -> `(bs, c)` (fastai's name for `nn.Flatten()`)."""


class AdaptiveConcatPool2d(nn.Module):
    """Average-pool and max-pool to `size`, and stack both on the channel axis (twice the channels)."""

    def __init__(self, size: int = 1):
        super().__init__()
        self.ap, self.mp = nn.AdaptiveAvgPool2d(size), nn.AdaptiveMaxPool2d(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mp(x), self.ap(x)], dim=1)


class BnLayer(nn.Module):
    """The lesson's building block: a conv (`stride` 2 halves the image), ReLU, then BatchNorm.

    (The lesson wrote BatchNorm by hand; this uses `nn.BatchNorm2d`, which also keeps running
    statistics for evaluation. The padding keeps the size for any odd `kernel_size`.)
    """

    def __init__(self, ni: int, nf: int, stride: int = 2, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(ni, nf, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class ResnetLayer(BnLayer):
    """A `BnLayer` plus its input: `x + BnLayer(x)` (needs `ni == nf` and `stride=1`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class Resnet(nn.Module):
    """The lesson's ResNet: a 5x5 conv stem, then per stage a `BnLayer` and two `ResnetLayer`s.

    `layers` lists the channels, e.g. `[10, 20, 40, 80, 160]`; each stage halves the image.
    Returns raw scores (logits): train it with cross-entropy (the lesson returned log-softmax + NLL).
    """

    def __init__(self, layers: list[int], c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, layers[0], kernel_size=5, stride=1, padding=2)
        pairs = list(zip(layers[:-1], layers[1:]))
        self.layers = nn.ModuleList([BnLayer(i, o) for i, o in pairs])
        self.layers2 = nn.ModuleList([ResnetLayer(o, o, 1) for _, o in pairs])
        self.layers3 = nn.ModuleList([ResnetLayer(o, o, 1) for _, o in pairs])
        self.out = nn.Linear(layers[-1], c)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the pooled features, `(bs, layers[-1])`."""
        x = self.conv1(x)
        for l1, l2, l3 in zip(self.layers, self.layers2, self.layers3):
            x = l3(l2(l1(x)))
        return F.adaptive_max_pool2d(x, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class Resnet2(Resnet):
    """`Resnet` with a bigger stem (`BnLayer(3, layers[0], stride=1, kernel_size=7)`) and dropout `p` before the output."""

    def __init__(self, layers: list[int], c: int, p: float = 0.5):
        super().__init__(layers, c)
        self.conv1 = BnLayer(3, layers[0], stride=1, kernel_size=7)
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.features(x)))


class CifarResNet(nn.Module):
    """A small ResNet for 32x32 images: a 3x3 stem, three stages of `BasicBlock`s, `avgpool`, `fc`.

    Stages have `widths` channels and `blocks` blocks each; the 2nd and 3rd halve the image (32 -> 8).
    Named like torchvision's ResNet (`layer1`, `avgpool`, `fc`), so tools that cut those cut this too.
    """

    def __init__(self, n_out: int = 10, widths: tuple = (32, 64, 128), blocks: tuple = (1, 1, 1), n_in: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(n_in, widths[0], 3, padding=1, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        chans = [widths[0], *widths]
        for i, (ni, nf, n) in enumerate(zip(chans[:-1], chans[1:], blocks)):
            setattr(self, f"layer{i + 1}", _stage(ni, nf, n, stride=1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _stage(ni: int, nf: int, n_blocks: int, stride: int) -> nn.Sequential:
    """Return `n_blocks` BasicBlocks; the first changes channels/size, with a 1x1 conv on its shortcut."""
    down = None
    if stride != 1 or ni != nf:
        down = nn.Sequential(nn.Conv2d(ni, nf, 1, stride=stride, bias=False), nn.BatchNorm2d(nf))
    return nn.Sequential(BasicBlock(ni, nf, stride, down), *[BasicBlock(nf, nf) for _ in range(n_blocks - 1)])


def _course_resnet(name: str, n_out: int, weights: str | None, **kwargs) -> CifarResNet:
    """Return a `CifarResNet`, with the course's weights file `name` loaded when `weights='course'`."""
    model = CifarResNet(n_out=n_out, **kwargs)
    if weights is not None:
        if weights != "course":
            raise ValueError(f"{name}: weights must be None or 'course'; got {weights!r}.")
        load_course_weights(model, name)
    return model


def cifar_resnet(n_out: int = 10, weights: str | None = None, **kwargs) -> CifarResNet:
    """Return the course's ResNet-8 for 32x32 images (about 310k parameters).

    `weights='course'` loads the weights the course trained on CIFAR-10 (in `coursekit/weights/`, no
    download; they need `n_out=10`). `vision_learner(dls, cifar_resnet)` does this for you.
    """
    return _course_resnet("cifar_resnet", n_out, weights, **kwargs)


cifar_resnet.course_weights = "cifar_resnet"  # tells vision_learner that pretrained weights ship with the course


def cifar8_resnet(n_out: int = 8, weights: str | None = None, **kwargs) -> CifarResNet:
    """Return the course's ResNet-8; `weights='course'` loads weights that never saw a cat or a dog.

    They were trained on the eight other CIFAR-10 classes (see `coursekit/weights/README.md`; they need
    `n_out=8`), so fine-tuning them on cats vs dogs is real transfer learning (chapter 6).
    """
    return _course_resnet("cifar8_resnet", n_out, weights, **kwargs)


cifar8_resnet.course_weights = "cifar8_resnet"


def _n_out(state: dict) -> int | str:
    """Return the number of outputs the weights in `state` were trained for ('?' if they have no `fc`)."""
    return state["fc.weight"].shape[0] if "fc.weight" in state else "?"


def load_course_weights(model: nn.Module, name: str) -> nn.Module:
    """Load the course's weights `coursekit/weights/<name>.pt` into `model` (stored in fp16) and return it."""
    file = WEIGHTS_DIR / f"{name}.pt"
    if not file.exists():
        have = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
        raise FileNotFoundError(f"No course weights {file}; the course ships weights for {have or 'nothing'}. "
                                "Run `python tools/train_weights.py` to make them, or use pretrained=False.")
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise RuntimeError(f"The course weights {file.name} do not fit this {type(model).__name__}: create it with "
                           f"the default arguments (n_out={_n_out(state)}, default widths) before loading. {e}") from None
    return model
