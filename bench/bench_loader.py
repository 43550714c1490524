"""Benchmark: coursekit's tensor fast path against `torch.utils.data.DataLoader` over `list(zip(x, y))`.

Run:  .venv/bin/python bench/bench_loader.py [--rounds 7] [--bs 64]
For 2,000 and 12,000 MNIST-shaped items (784 floats and a label each), prints the time of one
shuffled epoch (all batches, consumed) for:
  torch list      torch.utils.data.DataLoader(list(zip(x, y)), batch_size=bs, shuffle=True)
  ours tensors    DataLoader.from_tensors(x, y, bs=bs, shuffle=True)
  ours list       DataLoader(list(zip(x, y)), bs=bs, shuffle=True)  (stacks the pairs once, then the fast path)
and the ratios torch / ours (how many times faster the fast path is). Building the loaders is timed
separately (`ours list` pays for stacking there). Best time over rounds, runs alternating.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coursekit.loaders import DataLoader  # noqa: E402


def epoch_time(dl) -> float:
    """Return the seconds taken to go through every batch of `dl` once."""
    start = time.perf_counter()
    for xb, yb in dl:
        pass
    return time.perf_counter() - start


def build_time(make) -> tuple[float, object]:
    """Return (seconds to build, the loader)."""
    start = time.perf_counter()
    dl = make()
    return time.perf_counter() - start, dl


def bench(n: int, bs: int, rounds: int) -> None:
    """Time the three loaders on `n` items and print one line."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 28 * 28, generator=g), torch.randint(0, 2, (n, 1), generator=g).float()
    pairs = list(zip(x, y))
    makers = {
        "torch list": lambda: torch.utils.data.DataLoader(pairs, batch_size=bs, shuffle=True),
        "ours tensors": lambda: DataLoader.from_tensors(x, y, bs=bs, shuffle=True),
        "ours list": lambda: DataLoader(pairs, bs=bs, shuffle=True),
    }
    built = {k: build_time(m) for k, m in makers.items()}
    times: dict[str, list[float]] = {k: [] for k in makers}
    for r in range(rounds + 1):
        for k in (list(makers) if r % 2 == 0 else list(makers)[::-1]):
            t = epoch_time(built[k][1])
            if r:  # round 0 warms up
                times[k].append(t)
    med = {k: min(v) * 1000 for k, v in times.items()}  # best of the rounds
    print(f"{n:6d} items  torch list {med['torch list']:7.2f} ms  ours tensors {med['ours tensors']:6.2f} ms "
          f"(x{med['torch list'] / med['ours tensors']:5.1f} faster)  ours list {med['ours list']:6.2f} ms "
          f"(x{med['torch list'] / med['ours list']:5.1f}; built in {built['ours list'][0] * 1000:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--bs", type=int, default=64)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU tensors, bs={args.bs}, "
          f"one shuffled epoch, best of {args.rounds} rounds")
    for n in (2_000, 12_000):
        bench(n, args.bs, args.rounds)


if __name__ == "__main__":
    main()
