"""Benchmark: fastai's `Learner.fit` against coursekit's, on the same task, in one process.

fastai is NOT a dependency of this project. To run this, make a separate virtual environment:

    python3.11 -m venv /tmp/fastai-venv
    /tmp/fastai-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12
    /tmp/fastai-venv/bin/python bench/bench_fastai.py [--rounds 5] [--epochs 3]

(check that pip kept torch at 2.14.1). With the project's own venv the script says fastai is
missing and exits without error. Task: chapter 4's MNIST 3-vs-7 linear model (`nn.Linear(784, 1)`,
SGD lr=1, `mnist_loss`, `batch_accuracy`, bs=256, no progress bar or table), timed per epoch:
  fastai (book)       fastai's DataLoader over list(zip(x, y)), as the book builds it
  fastai (tensors)    fastai's Learner fed by coursekit's tensor loaders (the loop's own cost)
  coursekit           coursekit's Learner over list(zip(x, y)) (stacked once into its tensor path)
  hand loop           plain PyTorch
Runs alternate; the best time over rounds is printed (median in brackets), with ratios to coursekit.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
try:
    import fastai
    import fastai.callback.progress  # noqa: F401  (adds ProgressCallback and Learner.no_bar, as fastai.basics does)
    from fastai.data.core import DataLoaders as FastaiDataLoaders
    from fastai.data.load import DataLoader as FastaiDataLoader
    from fastai.learner import Learner as FastaiLearner
    from fastai.optimizer import SGD as FastaiSGD
except ImportError as e:  # the project's own venv: fastai is deliberately absent
    print(f"fastai is not importable here ({e}); see this script's docstring for how to run it in its own venv.")
    sys.exit(0)

from coursekit.learner import Learner  # noqa: E402
from coursekit.loaders import DataLoader, DataLoaders  # noqa: E402
from coursekit.losses import mnist_loss  # noqa: E402
from coursekit.metrics import batch_accuracy  # noqa: E402
from coursekit.optim import SGD  # noqa: E402
from coursekit.utils import set_seed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fit import hand_loop, mnist_3_7  # noqa: E402


def fastai_fit(train, valid, epochs: int) -> float:
    """Return seconds per epoch of fastai's `Learner.fit` on `train`/`valid` loaders."""
    learn = FastaiLearner(FastaiDataLoaders(train, valid, device="cpu"), nn.Linear(28 * 28, 1), opt_func=FastaiSGD,
                          loss_func=mnist_loss, metrics=batch_accuracy)
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit(epochs, lr=1.0)
    return (time.perf_counter() - start) / epochs


def coursekit_fit(pairs, vpairs, epochs: int, bs: int) -> float:
    """Return seconds per epoch of coursekit's `Learner.fit`, data given as in the book."""
    dls = DataLoaders(DataLoader(pairs, bs=bs, shuffle=True), DataLoader(vpairs, bs=bs), device="cpu")
    learn = Learner(dls, nn.Linear(28 * 28, 1), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
    learn.logging = learn.progress = False
    start = time.perf_counter()
    learn.fit(epochs, lr=1.0)
    return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bs", type=int, default=256)
    args = parser.parse_args()
    source, x, y, vx, vy = mnist_3_7()
    x, vx = x.reshape(len(x), -1), vx.reshape(len(vx), -1)
    pairs, vpairs = list(zip(x, y)), list(zip(vx, vy))
    bs = args.bs
    runs = {
        "fastai (book)": lambda: fastai_fit(FastaiDataLoader(pairs, bs=bs, shuffle=True),
                                            FastaiDataLoader(vpairs, bs=bs), args.epochs),
        "fastai (tensors)": lambda: fastai_fit(DataLoader.from_tensors(x, y, bs=bs, shuffle=True),
                                               DataLoader.from_tensors(vx, vy, bs=bs), args.epochs),
        "coursekit": lambda: coursekit_fit(pairs, vpairs, args.epochs, bs),
        "hand loop": lambda: hand_loop(*_model_opt(), mnist_loss, batch_accuracy, [x, y, vx, vy], args.epochs, bs,
                                       torch.device("cpu")),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds + 1):  # round 0 warms up
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            set_seed(r)
            t = runs[k]()
            if r:
                times[k].append(t)
    print(f"data: {source}; fastai {fastai.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU, bs={bs}, {args.epochs} epochs; best of {args.rounds} rounds (median in brackets)")
    best, med = min(times["coursekit"]), statistics.median(times["coursekit"])
    for k, v in times.items():
        print(f"  {k:<17} {min(v) * 1000:7.1f} ms/epoch ({statistics.median(v) * 1000:7.1f})   "
              f"{min(v) / best:5.2f}x coursekit ({statistics.median(v) / med:5.2f}x)")


def _model_opt():
    """Return the linear model and a plain PyTorch SGD for the hand loop."""
    m = nn.Linear(28 * 28, 1)
    return m, torch.optim.SGD(m.parameters(), lr=1.0)


if __name__ == "__main__":
    main()
