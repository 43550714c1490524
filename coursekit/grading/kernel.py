"""A student's kernel as the grader drives it: start it in its sandbox, run cells under a time limit, ask it questions.

nbclient does the talking (the same client nbval and `jupyter execute` use). `QuietClient` keeps none of
a cell's outputs, only counts how much it printed, so a submission printing megabytes costs the grader
nothing; what the grader needs from a cell is in its execute reply (did it raise, and what). A cell past
its time limit is interrupted (SIGINT, like the stop button); a kernel that still does not answer is
"stuck", and is treated like a dead one.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient

from .probe import MAX_REPLY_BYTES
from .sandbox import DISK_FULL, Limits, Sandbox, kernel_command

TIMEOUT_NAME = "CellTimeoutError"
PROBE_TIMEOUT = 5  # seconds a stuck kernel gets to answer `pass` after an interrupt
DISK_POLL = 0.1  # seconds between two readings of a private folder's size


class KernelDied(RuntimeError):
    """Raised when the kernel process ended (it exited, was killed, or crashed)."""


class KernelStuck(RuntimeError):
    """Raised when the kernel no longer answers, even after an interrupt."""


@dataclass
class CellRun:
    """What running one cell did: status 'ok', 'error', 'timeout' or 'died', the error, how much it printed."""
    status: str
    ename: str = ""
    evalue: str = ""
    printed: int = 0


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel is started by `argv` (the sandbox's command), not by an installed kernelspec.

    `interrupt_mode="message"` asks the kernel to interrupt itself: behind bwrap a SIGINT to the process
    group would reach bwrap, which dies and takes the kernel with it.
    """

    def __init__(self, argv: list[str], interrupt_mode: str = "signal", **kwargs: Any):
        """Make a manager that starts kernels with `argv`."""
        super().__init__(**kwargs)
        self._sandbox_argv, self._interrupt_mode = argv, interrupt_mode

    @property
    def kernel_spec(self) -> KernelSpec:
        """Return the spec jupyter_client launches: the sandbox's command."""
        return KernelSpec(argv=self._sandbox_argv, display_name="coursekit sandbox", language="python",
                          interrupt_mode=self._interrupt_mode)


def disk_usage(folder: Path) -> int:
    """Return the bytes the files under `folder` take on disk (links not followed)."""
    total = 0
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_blocks * 512
            except OSError:
                pass
    return total


class DiskWatch(threading.Thread):
    """A thread that kills the kernel (its process group) when its private folder grows past `limit` bytes."""

    def __init__(self, folder: Path, limit: int, pid: int, every: float = DISK_POLL):
        """Watch `folder` every `every` seconds; `pid` leads the kernel's process group."""
        super().__init__(daemon=True)
        self.folder, self.limit, self.pid, self.every = folder, limit, pid, every
        self.used = 0
        self.tripped = False
        self._stop = threading.Event()

    def run(self) -> None:
        """Poll until stopped; on the first reading past the limit, kill the kernel and stop."""
        while not self._stop.wait(self.every):
            self.used = disk_usage(self.folder)
            if self.used > self.limit:
                self.tripped = True
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:
                    pass
                return

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()


class QuietClient(NotebookClient):
    """An nbclient that drops every output and counts the characters printed (see the module docstring)."""

    printed = 0

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> None:
        """Count the characters of an output message, and keep nothing."""
        content = msg.get("content", {})
        self.printed += len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        return None


class Kernel:
    """A sandboxed kernel for one submission; use it in a `with` block."""

    def __init__(self, sandbox: Sandbox, limits: Limits, protected: Iterable[Path]):
        """Prepare a kernel for `sandbox`, guarding the `protected` folders; `with` starts it."""
        self.sandbox, self.limits, self.protected = sandbox, limits, list(protected)
        self.reply: dict = {}
        self.trouble: list[tuple[str, str]] = []  # what went wrong with the grader's requests: (kind, note)

    def __enter__(self) -> "Kernel":
        """Start the kernel in the sandbox and connect to it."""
        boxed = self.sandbox.kind == "bwrap"  # ZMQ over unix sockets: the sandbox has no network at all
        km = SandboxKernelManager(kernel_command(self.sandbox, self.limits, self.protected),
                                  interrupt_mode="message" if boxed else "signal",
                                  connection_file=str(self.sandbox.root / "kernel.json"),
                                  **({"transport": "ipc", "ip": str(self.sandbox.root / "zmq")} if boxed else {}))
        self.client = QuietClient(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell()]), km=km,
                                  allow_errors=True, interrupt_on_timeout=True, record_timing=False,
                                  error_on_timeout={"ename": TIMEOUT_NAME, "evalue": "", "traceback": []},
                                  iopub_timeout=2, startup_timeout=120, shutdown_kernel="immediate",
                                  on_cell_executed=self._remember)
        self.client.start_new_kernel(cwd=str(self.sandbox.work), env=self.sandbox.env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.watch = DiskWatch(self.sandbox.root, self.limits.disk_mb * 2**20, km.provisioner.process.pid)
        self.watch.start()
        self.client.start_new_kernel_client()
        return self

    def __exit__(self, *exc: Any) -> None:
        """Kill the kernel and close the connection."""
        self.watch.stop()
        try:
            self.client._cleanup_kernel()  # kills the kernel at once (shutdown_kernel="immediate")
        except Exception:
            pass

    def _remember(self, cell: Any, cell_index: int, execute_reply: dict | None) -> None:
        """Keep the execute reply of the cell just run (nbclient's `on_cell_executed` hook)."""
        self.reply = (execute_reply or {}).get("content", {})

    def run(self, source: str, timeout: float) -> CellRun:
        """Run `source` as one cell with at most `timeout` seconds; return what happened."""
        self.reply, self.client.printed, self.client.timeout = {}, 0, max(1, round(timeout))
        cell = nbformat.v4.new_code_cell(source)
        try:
            self.client.execute_cell(cell, 0, store_history=True)
        except Exception:  # DeadKernelError, or the channels failing because the process is gone
            why = DISK_FULL if self.watch.tripped else ""
            return CellRun("died", why, printed=self.client.printed)
        printed = self.client.printed
        if self.reply.get("status") != "error":
            return CellRun("ok", printed=printed)
        name, value = str(self.reply.get("ename", "")), str(self.reply.get("evalue", ""))
        return CellRun("timeout" if name == TIMEOUT_NAME else "error", name, value[:300], printed)

    def responsive(self) -> bool:
        """Return True when the kernel runs an empty cell within `PROBE_TIMEOUT` seconds."""
        return self.run("pass", PROBE_TIMEOUT).status == "ok"

    def ask(self, request: dict) -> dict | None:
        """Return the kernel's answer to a grader's request (see `probe.py`), or None when it gave none in time.

        Raises KernelDied when the kernel is gone and KernelStuck when it stopped answering.
        """
        reply = self.sandbox.work / f".grader-{secrets.token_hex(8)}.json"
        source = (f'__import__("coursekit.grading.probe", fromlist=["answer"]).answer('
                  f'{json.dumps(request)!r}, {str(reply)!r})')
        try:
            run = self.run(source, self.limits.cell_timeout)
            if run.status == "died":
                raise KernelDied("the kernel died while the grader read the answers")
            if run.status == "timeout":
                self.trouble.append(("timeout", "a call the grader made into the notebook ran past the cell "
                                                "limit (a function that does not return?)"))
                if not self.responsive():
                    raise KernelStuck("the kernel stopped answering the grader")
            elif run.status == "error":
                self.trouble.append(("error", f"a request of the grader failed in the notebook's kernel "
                                              f"({run.ename}: {run.evalue[:100]})"))
            return _read_reply(reply)
        finally:
            for path in (reply, reply.with_name(reply.name + ".part")):
                path.unlink(missing_ok=True)


def _read_reply(path: Path) -> dict | None:
    """Return the JSON reply at `path`, or None when it is missing, too big or not a JSON object."""
    try:
        if path.stat().st_size > MAX_REPLY_BYTES:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
