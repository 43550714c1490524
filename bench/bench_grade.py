"""Load test: `coursekit grade` on a class of generated submissions of one questionnaire.

Run:  .venv/bin/python bench/bench_grade.py [--students 100] [--workers N] [--sandbox bwrap|none]
                                           [--scheduler tcp://HOST:8786 | --local-cluster N] [--keep DIR]
Generates the submissions from the chapter 1 solution with the test set's generator
(`tests/grading/crafted.py`): a fixed mix (seeded) of full marks, fresh copies, partly answered
notebooks and notebooks with wrong answers, one folder per student. Then grades them with the
default settings (one worker per core, 30 s a cell, 600 s a notebook, 2 GiB, the bwrap sandbox), on the
local pool, on the Dask cluster at `--scheduler`, or on a Dask `LocalCluster` of N worker processes started
here (`--local-cluster N`, one thread each), and prints the wall time, the wall time per submission, the mean
time one submission takes in its worker, and the statuses.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "grading")]
from coursekit.grading.grade import grade  # noqa: E402
from crafted import ASSIGNMENT, SOLUTIONS, answer_cells, answered, fresh, with_cell, write  # noqa: E402

WRONG = {"q1a-answer": 'q1a = "a"', "q3-answer": 'q3 = "d"', "q5-answer": 'q5 = "a"',
         "q4-answer": "def odd_doubled(numbers):\n    return [2 * n for n in numbers]",
         "q9-answer": "t = torch.arange(9).view(3, 3)\ndoubled = t * 2\ncorner = doubled[1:, 1:]"}


def make_class(folder: Path, students: int, seed: int = 0) -> dict[str, int]:
    """Write `students` submissions into `folder`; return how many of each kind."""
    rng, cells = random.Random(seed), sorted(answer_cells())
    kinds = {"full": 0, "fresh": 0, "partial": 0, "wrong": 0}
    for i in range(students):
        kind = rng.choices(list(kinds), weights=[3, 1, 4, 2])[0]
        kinds[kind] += 1
        if kind == "full":
            nb = answered()
        elif kind == "fresh":
            nb = fresh()
        else:
            nb = answered(only=rng.sample(cells, rng.randint(1, len(cells) - 1)))
        if kind == "wrong":
            for cell_id in rng.sample(sorted(WRONG), 2):
                nb = with_cell(nb, cell_id, WRONG[cell_id])
        write(nb, folder / f"student{i:03d}" / f"{ASSIGNMENT}.ipynb")
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU core")
    parser.add_argument("--keep", type=Path, default=None, help="write the class and gradebook here and keep them")
    parser.add_argument("--sandbox", choices=["bwrap", "none"], default=None, help="default: bwrap")
    parser.add_argument("--scheduler", default=None, help="grade on the Dask cluster at this address")
    parser.add_argument("--local-cluster", type=int, default=None, metavar="N",
                        help="start a Dask LocalCluster of N worker processes on 127.0.0.1 and grade on it")
    args = parser.parse_args()
    cluster = None
    if args.local_cluster:
        from distributed import LocalCluster
        cluster = LocalCluster(n_workers=args.local_cluster, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        args.scheduler = cluster.scheduler_address
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-grade-"))
    kinds = make_class(root / "submissions", args.students)
    print(f"{args.students} submissions of {ASSIGNMENT}: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    start = time.perf_counter()
    book = grade(root / "submissions", ASSIGNMENT, out=root / "grades", solutions=SOLUTIONS,
                 workers=args.workers, redo=True, sandbox=args.sandbox, scheduler=args.scheduler)
    wall = time.perf_counter() - start
    if cluster is not None:
        cluster.close()
    each = [row["seconds"] for row in book["students"]]
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else f"{book['run']['workers']} local workers"
    print(f"sandbox {book['run']['sandbox']}, {where}")
    print(f"wall time {wall:.1f} s: {wall / args.students:.2f} s per "
          f"submission; in its worker a submission takes {statistics.mean(each):.2f} s on average "
          f"(median {statistics.median(each):.2f}, max {max(each):.2f})")
    print("statuses:", book["summary"]["statuses"], f"mean score {book['summary']['mean']:g}/{book['max_points']:g}")
    if args.keep is None:
        import shutil
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
