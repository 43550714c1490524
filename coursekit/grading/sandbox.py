"""The sandbox a submission runs in: a private folder, a kernel with limits, and a guard on what it touches.

Each submission gets a fresh private folder (`Sandbox`) holding
- `work/`, the kernel's working directory, with a copy of the submission and nothing else;
- `home/`, its `HOME`, temp folder and caches (IPython, matplotlib, the course's data); matplotlib's font
  list starts as a copy of the grader's (`font_cache`), so that no kernel has to rebuild it by running
  `fc-list`, which the guard refuses;
- `guard.log`, where the guard records what it refused.
The kernel is `python -m coursekit.grading.sandbox`, which sets the limits below and then starts an ordinary
IPython kernel (ipykernel), so nbclient drives it like any other:
- memory: `RLIMIT_DATA` (heap and private mappings; unlike `RLIMIT_AS` it does not count the gigabytes of
  address space that PyTorch's libraries map), so a huge allocation fails with `MemoryError`;
- files it may write: at most 256 MB each (`RLIMIT_FSIZE`), no core dumps;
- a guard (a `sys.addaudithook` hook, which Python offers no way to remove) that refuses, with a
  `PermissionError`: reading or listing the protected folders (the solutions, the submissions, the
  gradebook, other submissions' sandboxes), looking at other processes in `/proc` (the grader's command
  line names those folders), writing anywhere but `work/` and `home/`, starting other programs
  (`subprocess`, `os.system`, `!cmd`), signalling other processes, and opening network connections.
  Reaching a protected folder or another process is logged as tampering; the rest is only refused.
The kernel's environment is built from scratch (of the grader's variables only `PATH`, and `PYTHONPATH`
when set, pass), and the protected folders reach the guard as (device, inode) pairs and as digests of their
paths (behind bwrap they are not there at all, and a try is still reported), not as paths: nothing given
to the kernel names the solutions folder.

What the guard alone (`--sandbox none`) does not do: it is no security boundary against a determined
attacker. Code in the kernel runs as the grader's user, so with `ctypes` or a library's native file reader it
gets around the guard and reads whatever that user can read. The boundary is the bwrap sandbox
(`boundary.py`, the default): there the solutions, the other submissions, the gradebook, the course folder
and the network are not there at all, and the guard and the tamper scan (`tamper.py`) stay on as a second
layer that reports what a submission tried.
"""
from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

FILE_LIMIT = 256 * 2**20
DISK_FULL = "DiskLimit"  # the error name of a cell whose kernel was stopped for filling its folder past the limit
PROCESS_LIMIT = 256  # processes and threads of one bwrap sandbox (RLIMIT_NPROC, counted per user namespace)
LOG_LINES = 100  # a submission that tries a million files gets a short log

# Audit events (see the table "Audit events" of the Python docs) and the positions of the paths they carry.
READS = {"open": (0,), "os.listdir": (0,), "os.scandir": (0,), "glob.glob": (0,), "glob.glob/2": (0,),
         "shutil.copyfile": (0,), "shutil.copytree": (0,), "shutil.move": (0,), "os.link": (0,),
         "sqlite3.connect": (0,), "sqlite3.connect/handle": ()}
WRITES = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.link": (1,),
          "os.symlink": (1,), "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,),
          "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
          "shutil.copymode": (1,), "shutil.copystat": (1,), "shutil.chown": (0,)}
SPAWNS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
          "pty.spawn", "os.startfile"}
SIGNALS = {"os.kill", "os.killpg"}
NETWORK = {"socket.connect", "socket.sendto", "socket.sendmsg"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


@dataclass(frozen=True)
class Limits:
    """How long and how much one submission may take: seconds per cell and per notebook, MiB of memory and disk."""
    cell_timeout: float = 30
    timeout: float = 600
    memory_mb: int = 2048
    disk_mb: int = 1024


def font_cache(folder: Path) -> None:
    """Copy matplotlib's font list into `folder`, building it first if need be (here, where `fc-list` may run)."""
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401  (importing it builds the font list when it is missing)
    except ImportError:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for path in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
        shutil.copy(path, folder / path.name)


class Sandbox:
    """The private folders of one submission's run, created under `parent` and removed by `cleanup`."""

    def __init__(self, parent: Path, fonts: Path | None = None, kind: str = "none"):
        """Create the sandbox's folders in a new folder under `parent`; `fonts` holds a copy of the font list.

        `kind` is the boundary the kernel runs behind: "bwrap" (see `boundary.py`) or "none".
        """
        self.kind = kind
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=parent)).resolve()
        self.work, self.home, self.log = self.root / "work", self.root / "home", self.root / "guard.log"
        for folder in [self.work, self.home, self.home / "tmp"]:
            folder.mkdir()
        if fonts is not None and fonts.is_dir():
            shutil.copytree(fonts, self.home / ".matplotlib")

    def env(self) -> dict[str, str]:
        """Return the kernel's whole environment: paths into the sandbox, one thread, nothing of the grader's."""
        home = str(self.home)
        env = {"HOME": home, "TMPDIR": f"{home}/tmp", "IPYTHONDIR": f"{home}/.ipython",
               "MPLCONFIGDIR": f"{home}/.matplotlib", "XDG_CACHE_HOME": f"{home}/.cache",
               "XDG_CONFIG_HOME": f"{home}/.config", "COURSEKIT_DATA": f"{home}/data", "TORCH_HOME": f"{home}/.torch",
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "LANG": "C.UTF-8",
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if self.kind == "none" and os.environ.get("PYTHONPATH"):  # a course installed by PYTHONPATH, not pip
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env

    def refusals(self) -> list[dict]:
        """Return what the guard refused, one dict a line of its log: kind, what, path."""
        if not self.log.is_file():
            return []
        entries = []
        for line in self.log.read_text(errors="replace").splitlines()[:LOG_LINES]:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return [e for e in entries if isinstance(e, dict)]

    def cleanup(self) -> None:
        """Remove the sandbox and all that the submission wrote in it."""
        shutil.rmtree(self.root, ignore_errors=True)


def path_digest(path: str) -> str:
    """Return a short digest of the absolute path `path`: how the guard knows a protected folder by name."""
    return hashlib.sha256(os.fsencode(path)).hexdigest()[:16]


def digests(paths: Iterable[Path]) -> str:
    """Return the digests of the real paths of the folders `paths`, joined by commas (names never travel)."""
    return ",".join(path_digest(os.path.realpath(p)) for p in paths)


def identities(paths: Iterable[Path]) -> str:
    """Return the folders `paths` as `dev:inode` pairs joined by commas: what the guard compares, not names."""
    pairs = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:  # a folder of the grader's machine, on a worker of a cluster
            continue
        pairs.append(f"{st.st_dev}:{st.st_ino}")
    return ",".join(pairs)


def kernel_command(sandbox: Sandbox, limits: Limits, protected: Iterable[Path]) -> list[str]:
    """Return the command that starts a sandboxed kernel (`{connection_file}` is filled in by jupyter_client).

    Behind bwrap it is wrapped by `boundary.launcher`, and the kernel also gets the `PROCESS_LIMIT`.
    """
    inner = [sys.executable, "-m", "coursekit.grading.sandbox", "--memory-mb", str(limits.memory_mb),
             "--root", str(sandbox.root), "--protect", identities(protected), "--protect-names", digests(protected),
             *(["--processes", str(PROCESS_LIMIT)] if sandbox.kind == "bwrap" else []),
             "-f", "{connection_file}", "--HistoryManager.enabled=False"]
    if sandbox.kind != "bwrap":
        return inner
    from .boundary import launcher
    return launcher(sandbox.root, "{connection_file}", inner)


# ---------------------------------------------------------------- inside the kernel process

def _path_text(value: object) -> str | None:
    """Return an audit event's path argument as text, or None for a file descriptor or nothing."""
    if value is None or isinstance(value, int):
        return None
    try:
        return os.fsdecode(os.fspath(value))
    except TypeError:
        return None


def _under(path: str, folder: str) -> bool:
    """Return True when `path` is `folder` or inside it (both real, absolute paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _opens_for_writing(args: tuple) -> bool:
    """Return True when the arguments of an `open` audit event ask for writing."""
    _, mode, flags = (tuple(args) + (None, None, None))[:3]
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & WRITE_FLAGS)


def make_guard(root: str, protected: set[tuple[int, int]], log: Callable[[dict], None],
               names: frozenset[str] = frozenset()) -> Callable:
    """Return the audit hook that keeps a kernel inside its sandbox `root` (see the module docstring).

    `protected` are the protected folders' (device, inode) pairs, `names` the digests of their paths
    (`path_digest`): behind bwrap they do not exist inside, and a try to reach them is still reported.
    """
    root, pid = os.path.realpath(root), os.getpid()
    writable = (os.path.join(root, "work"), os.path.join(root, "home"), "/dev")

    @lru_cache(maxsize=4096)
    def in_protected(folder: str) -> bool:
        """Return True when `folder` or a folder above it is protected (by identity, so links do not help)."""
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in protected:
                return True
        except OSError:
            pass
        if path_digest(folder) in names:
            return True
        parent = os.path.dirname(folder)
        return parent != folder and in_protected(parent)

    def other_process(real: str) -> bool:
        """Return True for a path under /proc/<pid> of another process (its command line names your folders)."""
        parts = real.split(os.sep)
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int(parts[2]) != pid

    def refuse(kind: str, what: str, path: str | None = None) -> None:
        """Log the refusal and raise the PermissionError the student's code sees."""
        log({"kind": kind, "what": what, "path": path})
        raise PermissionError(errno.EACCES, f"coursekit grader: a submission may not {what} while it is graded")

    def check_path(path: str, writing: bool) -> None:
        """Refuse reading or writing `path` when the rules of the module docstring say so."""
        real = os.path.realpath(path)
        if _under(real, root):
            if writing and not any(_under(real, w) for w in writable):
                refuse("refused", "write outside its own folder", real)
            return
        if other_process(real):
            refuse("protected", "look at other processes", real)
        if in_protected(real if os.path.isdir(real) else os.path.dirname(real)):
            refuse("protected", "write into the grader's folders" if writing else "read the grader's folders", real)
        if writing and not any(_under(real, w) for w in writable):
            refuse("refused", "write outside its own folder", real)

    def guard(event: str, args: tuple) -> None:
        """The audit hook: look at one event, refuse it or let it pass."""
        if event in SPAWNS:
            refuse("refused", "start another program")
        if event in SIGNALS and args and args[0] not in (0, pid, -pid) and args[0] != os.getpgid(0):
            refuse("protected", "signal another process")
        if event in NETWORK:
            refuse("refused", "open network connections")
        reads, writes = READS.get(event, ()), WRITES.get(event, ())
        if event == "open" and _opens_for_writing(args):
            reads, writes = (), (0,)
        for i, writing in [(i, False) for i in reads] + [(i, True) for i in writes]:
            path = _path_text(args[i]) if i < len(args) else None
            if path is not None:
                check_path(path, writing)

    return guard


def _logger(path: str) -> Callable[[dict], None]:
    """Return a function appending one JSON line to `path` through a descriptor opened now (no audit event later)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    written = [0]

    def log(entry: dict) -> None:
        """Append `entry` as one line, up to `LOG_LINES` lines."""
        if written[0] < LOG_LINES:
            written[0] += 1
            os.write(fd, (json.dumps(entry) + "\n").encode())
    return log


def _set_limits(memory_mb: int, processes: int | None = None) -> None:
    """Cap the kernel's memory, the size of the files it writes, core dumps, and (in bwrap) its processes."""
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _preload() -> None:
    """Do before the guard is on what the kernel's own start would do by running other programs.

    PyTorch's import (every questionnaire of the course imports it) looks for libraries with `ldconfig`,
    and ipykernel's debugger asks `platform` for the processor's name, which runs `uname -p`; both are
    cached once done.
    """
    import platform
    platform.processor()
    try:
        import torch  # noqa: F401
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> None:
    """Start a kernel inside the sandbox: set the limits, install the guard, then run ipykernel."""
    parser = argparse.ArgumentParser(prog="python -m coursekit.grading.sandbox")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--protect", default="")
    parser.add_argument("--protect-names", default="")
    parser.add_argument("--processes", type=int, default=None)
    args, kernel_args = parser.parse_known_args(argv)
    protected = {tuple(int(n) for n in pair.split(":")) for pair in args.protect.split(",") if pair}
    _set_limits(args.memory_mb, args.processes)
    _preload()
    names = frozenset(n for n in args.protect_names.split(",") if n)
    sys.addaudithook(make_guard(args.root, protected, _logger(os.path.join(args.root, "guard.log")), names))
    if sys.path and sys.path[0] in ("", os.getcwd()):  # as ipykernel_launcher does: no imports from the cwd
        del sys.path[0]
    sys.argv = [sys.argv[0], *kernel_args]
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
