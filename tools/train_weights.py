"""Train the course's own pretrained weights for `cifar_resnet` on CIFAR-10 images, on the CPU.

    python tools/train_weights.py            # ~10 minutes on 2 CPU cores
    python tools/train_weights.py --name cifar8_resnet --leave-out cat dog --per-class 1000 --epochs 5
                                             # the backbone of chapter 6: never saw a cat or a dog

Reads the JPEGs straight from the CIFAR-10 archive (`../shared/data/cifar10_train_jpg.tar.gz`,
or `--data`), leaves out every image that the course vendors in `coursekit/datasets/cifar10.tar.gz`
(so that fine-tuning in the chapters starts from weights that never saw those images), takes the
last `--per-class` of the remaining images of each class (the last 10% of them for validation),
leaves out whole classes if asked (`--leave-out cat dog`: a backbone for transfer learning to those),
trains with one-cycle SGD and flip + shift augmentation, and writes to `coursekit/weights/`:
`<name>.pt` (an fp16 state_dict), `<name>.log` (this run's log) and its section of `README.md`.
Plain PyTorch, so it does not depend on the rest of the library beyond the model.
"""
from __future__ import annotations

import argparse
import datetime
import io
import re
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from coursekit.models import cifar_resnet  # noqa: E402
from coursekit.utils import set_seed  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cifar10_train_jpg.tar.gz"
VENDORED = ROOT / "coursekit" / "datasets" / "cifar10.tar.gz"
OUT = ROOT / "coursekit" / "weights"
NAME = re.compile(r"(?:^|/)([a-z]+)/(\d+)\.(?:jpg|png)$")


def log(msg: str, lines: list[str]) -> None:
    """Print `msg` and keep it for the log file."""
    print(msg, flush=True)
    lines.append(msg)


def vendored_keys(path: Path) -> set[tuple[str, str]]:
    """Return the (class, number) of every image in the course's vendored CIFAR subset (empty if none)."""
    if not path.exists():
        return set()
    with tarfile.open(path) as tar:
        return {m.groups() for m in map(NAME.search, tar.getnames()) if m}


def choose(data: Path, exclude: set, per_class: int, leave_out: tuple = ()) -> tuple[list, list, list]:
    """Return (train, valid, classes); train/valid list (member name, class index): the last `per_class` non-excluded images per class."""
    with tarfile.open(data) as tar:
        found = [(m.groups(), name) for name in tar.getnames() if (m := NAME.search(name))]
    every = {c for (c, _), _ in found}
    if set(leave_out) - every:
        raise SystemExit(f"--leave-out {sorted(set(leave_out) - every)}: no such class; the classes are {sorted(every)}")
    classes = sorted(every - set(leave_out))
    train, valid = [], []
    for i, c in enumerate(classes):
        names = sorted(name for (cc, num), name in found if cc == c and (cc, num) not in exclude)[-per_class:]
        n_valid = len(names) // 10
        train += [(n, i) for n in names[:-n_valid]]
        valid += [(n, i) for n in names[-n_valid:]]
    return train, valid, classes


def read_images(data: Path, items: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the images of `items` as uint8 (n, 3, 32, 32) and their labels."""
    wanted = {n: i for i, (n, _) in enumerate(items)}
    x = np.zeros((len(items), 32, 32, 3), dtype=np.uint8)
    with tarfile.open(data) as tar:
        for m in tar:
            if m.name in wanted:
                img = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
                x[wanted[m.name]] = np.asarray(img)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.tensor([y for _, y in items])


def augment(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Return a batch with random horizontal flips and random shifts of up to `pad` pixels (reflected borders)."""
    flip = torch.rand(len(x)) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (pad,) * 4, mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, len(x))).tolist()
    return torch.stack([padded[i, :, a:a + 32, b:b + 32] for i, (a, b) in enumerate(zip(dy, dx))])


def evaluate(model, x: torch.Tensor, y: torch.Tensor, bs: int = 500) -> tuple[float, float]:
    """Return (mean loss, accuracy) of `model` on uint8 images `x` with labels `y`."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out = model(x[i:i + bs].float() / 255)
            loss += F.cross_entropy(out, y[i:i + bs], reduction="sum").item()
            correct += (out.argmax(1) == y[i:i + bs]).sum().item()
    return loss / len(x), correct / len(x)


def train(model, xt, yt, xv, yv, epochs: int, bs: int, lr: float, lines: list) -> float:
    """Train with one-cycle SGD (momentum 0.9, weight decay 5e-4); log each epoch; return the final accuracy."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = epochs * (len(xt) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25)
    log("epoch  train_loss  valid_loss  accuracy  time", lines)
    for epoch in range(epochs):
        model.train()
        start, perm, losses = time.time(), torch.randperm(len(xt)), []
        for i in range(0, len(xt) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(augment(xt[idx]).float() / 255), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        vl, acc = evaluate(model, xv, yv)
        log(f"{epoch:5d}  {np.mean(losses):10.4f}  {vl:10.4f}  {acc:8.4f}  {time.time() - start:4.0f}s", lines)
    return acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--per-class", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=7)
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--name", default="cifar_resnet", help="file name of the weights, log and README section")
    p.add_argument("--leave-out", nargs="*", default=[], metavar="CLASS", help="classes the model must never see")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    set_seed(a.seed)
    lines: list[str] = []
    started = time.time()
    exclude = vendored_keys(VENDORED)
    log(f"{datetime.datetime.now():%Y-%m-%d %H:%M} torch {torch.__version__}, {a.threads} CPU threads, seed {a.seed}", lines)
    log(f"left out {len(exclude)} images vendored in {VENDORED.relative_to(ROOT)}"
        + ("" if VENDORED.exists() else " (not present when this ran)"), lines)
    tr, va, classes = choose(a.data, exclude, a.per_class, tuple(a.leave_out))
    if a.leave_out:
        log(f"left out the classes {', '.join(a.leave_out)}: none of their images is used", lines)
    log(f"data: {a.data.name}, last {a.per_class} usable images per class -> {len(tr)} train, {len(va)} valid", lines)
    log(f"train images, first and last: {tr[0][0]} ... {tr[-1][0]}", lines)
    xt, yt = read_images(a.data, tr)
    xv, yv = read_images(a.data, va)
    model = cifar_resnet(n_out=len(classes))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: cifar_resnet(n_out={len(classes)}), {n_params} parameters; epochs {a.epochs}, bs {a.bs}, lr {a.lr}", lines)
    acc = train(model, xt, yt, xv, yv, a.epochs, a.bs, a.lr, lines)
    a.out.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    file = a.out / f"{a.name}.pt"
    torch.save(state, file)
    minutes = (time.time() - started) / 60
    log(f"saved {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file} ({file.stat().st_size} bytes); "
        f"total time {minutes:.1f} min", lines)
    (a.out / f"{a.name}.log").write_text("\n".join(lines) + "\n")
    write_readme(a, acc, tr, va, n_params, classes, exclude, minutes)


def _numbers(items: list) -> str:
    """Return the range of per-class image numbers in `items`, e.g. '3000-4799'."""
    nums = sorted({int(NAME.search(n)[2]) for n, _ in items})
    return f"{nums[0]:04d}-{nums[-1]:04d}" if nums[-1] - nums[0] + 1 == len(nums) else f"{len(nums)} numbers"


HEADER = """# The course's own pretrained weights

Small ResNet-8s (`coursekit.models.CifarResNet`, 32x32 RGB images) trained by `tools/train_weights.py`
on CPU, shipped so that transfer learning works offline, in CI and in the test suite. Each `<name>.pt`
is an fp16 state_dict, `<name>.log` the log of the run that made it; `vision_learner(dls, <name>)`
(pretrained=True) and `<name>(weights='course')` load it with no download.
"""


def readme_section(a, acc: float, tr: list, va: list, n_params: int, classes: list, vendored: set, minutes: float) -> str:
    """Return the README section of one weights file: what it saw, how it was trained, how well it does."""
    used = {NAME.search(n).groups() for n, _ in tr + va}
    left_out = (f" The classes {', '.join(a.leave_out)} were left out entirely: not one of their images was used."
                if a.leave_out else "")
    flags = (f" --name {a.name}" if a.name != "cifar_resnet" else "") + \
        (f" --leave-out {' '.join(a.leave_out)}" if a.leave_out else "")
    return f"""<!-- weights: {a.name} -->
## `{a.name}.pt`

state_dict (fp16) of `coursekit.models.{a.name}(n_out={len(classes)})`, a ResNet-8 ({n_params} parameters); log in `{a.name}.log`.

- **Trained on** {len(tr)} CIFAR-10 training images (numbers {_numbers(tr)} of each class), validated on
  {len(va)} others (numbers {_numbers(va)}); classes {', '.join(classes)} (output index order).{left_out}
- **Data provenance**: `cifar10_train_jpg.tar.gz` of the course's shared data (the CIFAR-10 training set
  re-encoded as JPEG; A. Krizhevsky, 2009). The script leaves out every image vendored in
  `coursekit/datasets/cifar10.tar.gz`, then takes the last {a.per_class} images of each class by number. Checked when
  this file was written: the vendored archive holds {len(vendored)} images, {len(used & vendored)} of them used here.
- **Inputs**: pixels scaled to [0, 1], no mean/std normalisation (the default of `ImageDataLoaders`).
- **Training**: {a.epochs} epochs of one-cycle SGD (max lr {a.lr}, nesterov momentum 0.9, weight decay 5e-4), batch
  size {a.bs}, random horizontal flips and shifts of up to 4 pixels, seed {a.seed}, on {a.threads} CPU threads,
  in {minutes:.1f} minutes (wall time, on a shared machine).
- **Accuracy** on the {len(va)} validation images: **{acc:.1%}**.
- **Made on** {datetime.date.today():%Y-%m-%d} with torch {torch.__version__}, by:

      python tools/train_weights.py --epochs {a.epochs} --per-class {a.per_class}{flags}
<!-- end: {a.name} -->
"""


def write_readme(a, *facts) -> None:
    """Write this run's section of `README.md` next to the weights, keeping the sections of the other weights."""
    file = a.out / "README.md"
    text = file.read_text() if file.exists() else HEADER
    section = readme_section(a, *facts)
    start, end = f"<!-- weights: {a.name} -->", f"<!-- end: {a.name} -->\n"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    file.write_text(text)

if __name__ == "__main__":
    main()
