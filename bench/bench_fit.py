"""Benchmark: `Learner.fit` against a hand-written PyTorch loop (same model, data, seed, optimiser).

Run:  .venv/bin/python bench/bench_fit.py [--rounds 5] [--epochs 3]
Prints the time per epoch of both and their ratio (Learner / hand loop), for the MNIST 3-vs-7 linear
model (SGD, lr=1, `mnist_loss`, `batch_accuracy`) and a small CNN (Adam, cross-entropy, accuracy);
then `fit_one_cycle` against the hand loop with PyTorch's `OneCycleLR`. All loops do the same work
per epoch: shuffle, forward, loss, backward, step, keep each batch's loss, then a validation pass
computing loss and metric. Runs alternate (in reverse order every other round), so that all see the
same machine load. The best time over rounds is the main figure (as `timeit` advises: the others
measure the machine's noise), with the median in brackets.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coursekit.all import (Adam, DataLoader, DataLoaders, Learner, SGD, accuracy, batch_accuracy,  # noqa: E402
                           default_device, mnist_loss, set_seed)


def mnist_3_7() -> tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (source, train_x, train_y, valid_x, valid_y): the real 3-vs-7 subset if available, else random."""
    try:
        from coursekit.all import ImageDataLoaders, URLs, untar_data

        dls = ImageDataLoaders.from_folder(untar_data(URLs.MNIST_SAMPLE), convert="L", device="cpu")
        three = dls.vocab.index("3")
        xs = [dl.tensors[0].float().div(255) for dl in (dls.train, dls.valid)]
        ys = [(dl.tensors[1] == three).float()[:, None] for dl in (dls.train, dls.valid)]
        return "untar_data(URLs.MNIST_SAMPLE)", xs[0], ys[0], xs[1], ys[1]
    except Exception as e:  # the data module may not exist yet: timings do not depend on pixel values
        print(f"(real MNIST sample not available: {e!r}; using random MNIST-shaped data, 12396 + 2038 items)")
        g = torch.Generator().manual_seed(0)
        x = torch.rand(14434, 1, 28, 28, generator=g)
        y = (torch.rand(14434, 1, generator=g) > 0.5).float()
        return "random", x[:12396], y[:12396], x[12396:], y[12396:]


def linear_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1))


def small_cnn() -> nn.Module:
    conv = lambda ci, co: nn.Sequential(nn.Conv2d(ci, co, 3, stride=2, padding=1), nn.BatchNorm2d(co), nn.ReLU())
    return nn.Sequential(conv(1, 8), conv(8, 16), conv(16, 32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 2))


def hand_loop(model, opt, loss_func, metric, data, epochs: int, bs: int, device, one_cycle=None) -> float:
    """Train with a plain PyTorch loop (with `OneCycleLR` if `one_cycle` is given); return seconds per epoch."""
    x, y, vx, vy = [t.to(device) for t in data]
    steps = epochs * ((len(x) + bs - 1) // bs)
    sched = one_cycle(opt, steps) if one_cycle else None
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        losses = []
        perm = torch.randperm(len(x)).to(device)
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]  # index_select: the same (fastest) gather as the Learner's loader
            loss = loss_func(model(x.index_select(0, idx)), y.index_select(0, idx))
            loss.backward()
            opt.step()
            opt.zero_grad()
            if sched is not None:
                sched.step()
            losses.append(loss.detach())
        model.eval()
        sums = []
        with torch.no_grad():
            for i in range(0, len(vx), bs):
                pred, yb = model(vx[i:i + bs]), vy[i:i + bs]
                sums.append((len(yb), [loss_func(pred, yb), metric(pred, yb)]))
        _ = torch.stack(losses).tolist(), [[float(v) * n for v in row] for n, row in sums]
    return (time.perf_counter() - start) / epochs


def learner_fit(model, opt_func, lr, loss_func, metric, data, epochs: int, bs: int, device, one_cycle=False,
                show=False) -> float:
    """Train with `Learner.fit` (or `fit_one_cycle`), quiet unless `show`; return seconds per epoch."""
    x, y, vx, vy = data
    dls = DataLoaders(DataLoader.from_tensors(x, y, bs=bs, shuffle=True), DataLoader.from_tensors(vx, vy, bs=bs),
                      device=device)
    learn = Learner(dls, model, loss_func=loss_func, opt_func=opt_func, lr=lr, metrics=metric)
    learn.logging = learn.progress = show
    learn.create_opt()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        learn.fit_one_cycle(epochs, lr) if one_cycle else learn.fit(epochs, lr)
        return (time.perf_counter() - start) / epochs


def torch_one_cycle(lr: float, cycle_momentum: bool):
    """Return a maker of PyTorch's `OneCycleLR` with fastai's defaults (div 25, div_final 1e5, pct_start 0.25)."""
    return lambda opt, steps: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=steps, pct_start=0.25, div_factor=25, final_div_factor=1e5 / 25,
        cycle_momentum=cycle_momentum, base_momentum=0.85, max_momentum=0.95)


def compare(name, make_model, torch_opt, opt_func, lr, loss_func, metric, data, args, device, momentum) -> None:
    """Time the loops in alternating rounds; print median times per epoch and the ratios."""
    runs = {
        "hand": lambda: hand_loop(*_fresh(make_model, torch_opt, lr, device), loss_func, metric, data, args.epochs,
                                  args.bs, device),
        "fit": lambda: learner_fit(make_model(), opt_func, lr, loss_func, metric, data, args.epochs, args.bs, device),
        "fit_shown": lambda: learner_fit(make_model(), opt_func, lr, loss_func, metric, data, args.epochs, args.bs,
                                         device, show=True),
        "hand_1cycle": lambda: hand_loop(*_fresh(make_model, torch_opt, lr, device), loss_func, metric, data,
                                         args.epochs, args.bs, device, torch_one_cycle(lr, momentum)),
        "fit_one_cycle": lambda: learner_fit(make_model(), opt_func, lr, loss_func, metric, data, args.epochs, args.bs,
                                             device, one_cycle=True),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds + 1):  # round 0 warms up; odd rounds run in reverse order
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            set_seed(r)
            t = runs[k]()
            if r:
                times[k].append(t)
    best = {k: min(v) * 1000 for k, v in times.items()}
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"{name}  (ms per epoch, best of {args.rounds} rounds; median in brackets)")
    rows = [("hand loop", "hand", "hand"), ("Learner.fit", "fit", "hand"),
            ("Learner.fit, bar and table shown", "fit_shown", "hand"),
            ("hand loop + OneCycleLR", "hand_1cycle", "hand_1cycle"), ("fit_one_cycle", "fit_one_cycle", "hand_1cycle")]
    for label, k, ref in rows:
        ratio = "" if k == ref else f"  ratio {best[k] / best[ref]:.3f} ({med[k] / med[ref]:.3f})"
        print(f"  {label:<34} {best[k]:7.1f} ({med[k]:7.1f}){ratio}")


def _fresh(make_model, torch_opt, lr, device):
    """Return a new model on `device` and its PyTorch optimiser."""
    m = make_model().to(device)
    return m, torch_opt(m.parameters(), lr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bs", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = default_device()
    source, *data = mnist_3_7()
    print(f"data: {source}; device: {device}; torch {torch.__version__}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads; bs={args.bs}, {args.epochs} epochs x {args.rounds} rounds")
    adam = lambda ps, lr: torch.optim.AdamW(ps, lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    compare("linear (SGD, lr=1)", linear_model, torch.optim.SGD, SGD, 1.0, mnist_loss, batch_accuracy, data, args,
            device, momentum=False)
    ce_data = [data[0], data[1].long().squeeze(1), data[2], data[3].long().squeeze(1)]
    compare("small CNN (Adam)", small_cnn, adam, Adam, 1e-3, F.cross_entropy, accuracy, ce_data, args, device,
            momentum=True)


if __name__ == "__main__":
    main()
