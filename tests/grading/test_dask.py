"""Grading on a Dask cluster: a `LocalCluster` of 2 worker processes on 127.0.0.1 grades a crafted class.

Its gradebook must equal the local pool's (same rows, statuses and scores); a worker killed mid-run loses
no submission (the scheduler gives its work to another), and a rerun resumes from the cache.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from coursekit.grading import boundary
from coursekit.grading.grade import grade
from coursekit.grading.sandbox import Limits

from crafted import ASSIGNMENT, SOLUTIONS, add_cell, answered, fresh, with_cell, write

distributed = pytest.importorskip("distributed", reason="the `cluster` extra (distributed) is not installed")
WHY = boundary.self_test()
SANDBOX = "bwrap" if not WHY else "none"  # the executor is under test here; test_boundary.py tests the sandbox
LIMITS = Limits(cell_timeout=5, timeout=60)


def _class(root):
    """Write a small crafted class: right, blank, partial, wrong, raising, killing its kernel, empty, reading the key."""
    subs = root / "submissions"
    nb = lambda student: subs / student / f"{ASSIGNMENT}.ipynb"  # noqa: E731
    right = answered()
    write(right, nb("perfect"))
    write(fresh(), nb("fresh"))
    write(answered(only=["q1a-answer", "q1bc-answer", "q4-answer"]), nb("partial"))
    write(with_cell(right, "q1a-answer", 'q1a = "a"'), nb("wrong"))
    write(add_cell(right, "1 / 0", after="q3-check"), nb("raises"))
    write(add_cell(right, "import os\nos._exit(1)", after="q3-check"), nb("exits_kernel"))
    write(add_cell(fresh(), f"key = open({str(SOLUTIONS / (ASSIGNMENT + '.ipynb'))!r}).read()", after="setup"),
          nb("reads_key"))
    (subs / "empty").mkdir()
    (subs / "empty" / f"{ASSIGNMENT}.ipynb").write_bytes(b"")
    return subs


@pytest.fixture(scope="module")
def cluster():
    """Start a LocalCluster of 2 worker processes, one thread each, on 127.0.0.1."""
    from distributed import LocalCluster
    environ = dict(os.environ)  # Dask's nanny sets OMP_NUM_THREADS=1 (and more) in *this* process's environment
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                          silence_logs=logging.ERROR) as c:
            yield c
    finally:  # put it back, or every kernel started after this test (nbval's too) computes with one thread
        os.environ.clear()
        os.environ.update(environ)


def _kill_a_worker_when(cluster, ready, stop: threading.Event) -> list[int]:
    """Start a thread that, once `ready()` holds, kills one worker process (SIGKILL); return the list it fills."""
    from distributed import Client
    killed: list[int] = []

    def run() -> None:
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            pids = sorted(client.run(os.getpid).values())
            while not stop.is_set() and not ready():
                time.sleep(0.2)
            if not stop.is_set():
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
    threading.Thread(target=run, daemon=True).start()
    return killed


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cluster):
    """Grade the class locally, then on the cluster with a worker killed mid-run; return both folders and books."""
    root = tmp_path_factory.mktemp("dask")
    subs = _class(root)
    local = grade(subs, ASSIGNMENT, out=root / "local", solutions=SOLUTIONS, workers=2, limits=LIMITS,
                  progress=False, log=None, sandbox=SANDBOX)
    results, stop = root / "dask" / ".results", threading.Event()
    killed = _kill_a_worker_when(cluster, lambda: len(list(results.glob("*.json"))) >= 3, stop)
    try:
        on_dask = grade(subs, ASSIGNMENT, out=root / "dask", solutions=SOLUTIONS, limits=LIMITS, progress=False,
                        log=None, sandbox=SANDBOX, scheduler=cluster.scheduler_address)
    finally:
        stop.set()
    return root, local, on_dask, killed, subs


def test_the_cluster_grades_as_the_local_pool_does(graded):
    root, local, on_dask, _, _ = graded
    assert (root / "dask" / "grades.csv").read_text() == (root / "local" / "grades.csv").read_text()
    assert [r["status"] for r in on_dask["students"]] == [r["status"] for r in local["students"]]
    assert on_dask["run"]["scheduler"].startswith("tcp://127.0.0.1:") and local["run"]["scheduler"] == "local"


def test_a_killed_worker_loses_no_submission(graded):
    _, local, on_dask, killed, _ = graded
    assert len(killed) == 1
    assert "grader-error" not in {r["status"] for r in on_dask["students"]}
    assert on_dask["run"]["graded_now"] == len(local["students"])


def test_a_rerun_on_the_cluster_resumes_from_the_cache(graded, cluster):
    root, local, _, _, subs = graded
    again = grade(subs, ASSIGNMENT, out=root / "dask", solutions=SOLUTIONS, limits=LIMITS, progress=False, log=None,
                  sandbox=SANDBOX, scheduler=cluster.scheduler_address)
    assert again["run"]["graded_now"] == 0 and again["run"]["from_cache"] == len(local["students"])
    assert (root / "dask" / "grades.csv").read_text() == (root / "local" / "grades.csv").read_text()


def test_no_scheduler_is_a_clear_error(tmp_path):
    import dask
    _class(tmp_path)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            pytest.raises(ValueError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        grade(tmp_path / "submissions", ASSIGNMENT, out=tmp_path / "grades", solutions=SOLUTIONS, limits=LIMITS,
              progress=False, log=None, sandbox=SANDBOX, scheduler="tcp://127.0.0.1:9")
