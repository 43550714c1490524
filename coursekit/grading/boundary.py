"""The boundary a submission's kernel runs behind: a bubblewrap (`bwrap`) sandbox, Linux namespaces.

`coursekit grade --sandbox bwrap` (the default where `self_test` passes) starts every kernel as
`python -m coursekit.grading.boundary ... -- KERNEL COMMAND`, a launcher that runs outside the sandbox for a
few milliseconds: it opens the folders the kernel needs (so that bwrap reaches them whatever their parents'
permissions), gives the submission's private folder to the sandbox's user, and replaces itself with `bwrap`,
whose own arguments it passes through a pipe (`--args`), so that no command line visible inside names a
folder of the host but the private one and the interpreter's. A grader running as root runs bwrap as root
(it makes the mounts), and inside it `setpriv` drops to `SANDBOX_UID` (`nobody`) and a second, unprivileged
`bwrap` makes the user namespace (`_as_user`); a grader of another user runs one unprivileged bwrap.
Inside, the kernel sees only
- `/usr` (and `/bin`, `/lib*`, `/sbin` as the host has them) and a few files of `/etc`, read-only;
- the interpreter (`sys.base_prefix`) and the virtualenv (`sys.prefix`), read-only, at their own paths;
- the `coursekit` package folder alone, read-only, at `/opt/coursekit/coursekit` (never the course folder,
  which holds `solutions/`); `PYTHONPATH=/opt/coursekit` makes it the one `import coursekit` finds;
- the submission's private folder (`sandbox.Sandbox`), read-write, at its own path: the kernel's ZMQ
  channels are unix sockets there (`transport="ipc"`);
- its own `/proc` (its own pid namespace: no process of the host is visible, let alone signalled), a
  minimal `/dev`, and `/tmp` and `/dev/shm` as tmpfs of `TMP_MB` MiB each (tmpfs memory is not counted by
  `RLIMIT_DATA`, so it must be capped on its own).
It has its own network namespace (no network at all: not even the host's 127.0.0.1), its own user, IPC,
UTS and cgroup namespaces, no capabilities, no way to make new user namespaces (`--disable-userns`), and
it dies with the grader (`--die-with-parent`). Its uid is an unprivileged one, so `RLIMIT_NPROC`
(`sandbox.PROCESS_LIMIT`, which root would be exempt from) stops a fork bomb: the count is per user
namespace, so each sandbox has its own. The private folder's total size is watched by the grader
(`kernel.DiskWatch`). `--sandbox none` runs the kernel with only the audit-hook guard of `sandbox.py`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

SANDBOXES = ("bwrap", "none")
SANDBOX_UID = 65534  # `nobody`: the uid a root grader's kernels run as
TMP_MB = 64  # the size of the sandbox's /tmp and of its /dev/shm
SETPRIV = "/usr/bin/setpriv"
PACKAGE_AT = "/opt/coursekit"  # where the coursekit package folder is bound inside
ETC = ("ld.so.cache", "localtime", "fonts", "nsswitch.conf", "passwd", "group", "mime.types")
INSTALL = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, or `tools/install_bwrap.sh`); in a "
           "container, allow namespaces (see README, 'Grading inside Docker or Podman'); or pass `--sandbox none` "
           "knowingly: the kernels then run with only the audit-hook guard, which is no security boundary")


def package_folder() -> Path:
    """Return the folder of the `coursekit` package (the one folder of the course the sandbox may see)."""
    return Path(__file__).resolve().parents[1]


def sandbox_uid() -> int | None:
    """Return the uid the kernels run as: `SANDBOX_UID` when the grader is root, else None (the grader's own)."""
    return SANDBOX_UID if os.geteuid() == 0 else None


def bwrap_path() -> str | None:
    """Return the path of `bwrap`, or None when it is not installed."""
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]:
        path = os.path.join(folder, "bwrap")
        if folder and os.access(path, os.X_OK):
            return path
    return None


def _system_mounts() -> list[str]:
    """Return bwrap's arguments for `/usr`, the top-level links or folders into it, and a few files of /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _isolation(privileged: bool) -> list[str]:
    """Return bwrap's arguments for the namespaces, /proc, /dev, the capped tmpfs and the process's fate.

    Run by root (`privileged`), bwrap makes no user namespace (it would map the sandbox's uid to root): the
    inner command (`_as_user`) becomes the sandbox user and makes it there.
    """
    size = str(TMP_MB * 2**20)
    spaces = (["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
              if privileged else ["--unshare-all", "--unshare-user", "--disable-userns"])
    return [*spaces, "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", size, "--tmpfs", "/tmp", "--perms", "1777", "--size", size, "--tmpfs",
            "/dev/shm", "--hostname", "sandbox"]


def _as_user(uid: int | None, bwrap: str) -> list[str]:
    """Return the command prefix that, inside a root-made sandbox, becomes `uid` in a user namespace of its own.

    `setpriv` drops to `uid` with no groups and no capabilities; the inner `bwrap` (unprivileged now) makes a
    user namespace where `uid` is itself, forbids any further one (`--disable-userns`), and changes nothing
    else (`--dev-bind / /`). An unprivileged uid is what makes `RLIMIT_NPROC` count: root is exempt from it.
    """
    if uid is None:
        return []
    return [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--", bwrap, "--unshare-user", "--disable-userns", "--die-with-parent", "--dev-bind", "/", "/", "--"]


def test_command(bwrap: str) -> list[str]:
    """Return the self-test: `true` in a sandbox made as a kernel's is (namespaces, the uid, the mounts)."""
    uid = sandbox_uid()
    return [bwrap, *_isolation(uid is not None), *_system_mounts(), "--", *_as_user(uid, bwrap), "true"]


@lru_cache(maxsize=1)
def self_test() -> str:
    """Return "" when a bwrap sandbox starts here, else why not (once per process)."""
    bwrap = bwrap_path()
    if bwrap is None:
        return "bwrap (bubblewrap) is not installed"
    try:
        read_only_folders()
    except RuntimeError as e:
        return str(e)
    if sandbox_uid() is not None and not os.access(SETPRIV, os.X_OK):
        return f"{SETPRIV} (util-linux) is missing; as root the grader needs it to drop to an unprivileged uid"
    try:
        done = subprocess.run(test_command(bwrap), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"`bwrap ... true` could not run ({type(e).__name__}: {e})"
    if done.returncode != 0:
        return f"`bwrap ... true` (a sandbox as a kernel's, with `true` inside) failed here: " \
               f"{done.stderr.strip()[:300] or done.returncode}"
    return ""


def require(sandbox: str) -> None:
    """Raise ValueError, saying what to do, when `sandbox` is unknown or is "bwrap" and bwrap cannot run here."""
    if sandbox not in SANDBOXES:
        raise ValueError(f"unknown sandbox {sandbox!r}: use one of {', '.join(SANDBOXES)}")
    if sandbox == "bwrap":
        why = self_test()
        if why:
            raise ValueError(f"the bwrap sandbox cannot run here: {why}. To grade, {INSTALL}.")


def default_sandbox() -> str:
    """Return "bwrap"; `require` then says what to do where it cannot run (never a silent fall-back)."""
    return "bwrap"


def describe(sandbox: str) -> str:
    """Return how a gradebook names the sandbox that graded a submission."""
    return {"bwrap": "bwrap (namespaces: no network, no course folder, unprivileged uid)",
            "none": "none (audit-hook guard only; not a security boundary)"}[sandbox]


def launcher(root: Path, connection_file: str, kernel: list[str]) -> list[str]:
    """Return the command that starts `kernel` inside a bwrap sandbox around the private folder `root`."""
    return [sys.executable, "-m", "coursekit.grading.boundary", "--root", str(root),
            "--connection-file", connection_file, "--", *kernel]


# ---------------------------------------------------------------- the launcher (outside, a few milliseconds)

def _give(root: Path, connection_file: Path, uid: int | None) -> None:
    """Make the private folder and the connection file the sandbox user's (the grader, as root, reads all)."""
    if uid is None:
        return
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, uid, uid)
    os.chown(connection_file, uid, uid)


def _bind_fds(folders: list[tuple[Path, str]]) -> tuple[list[str], list[int]]:
    """Open each folder here (as the grader, who can reach it) and return bwrap's `--ro-bind-fd` arguments."""
    args, fds = [], []
    for source, dest in folders:
        fd = os.open(source, os.O_PATH | os.O_DIRECTORY)
        os.set_inheritable(fd, True)
        args += ["--ro-bind-fd", str(fd), dest]
        fds.append(fd)
    return args, fds


def read_only_folders() -> list[tuple[Path, str]]:
    """Return the folders bound read-only besides /usr: interpreter, virtualenv, the coursekit package.

    Raises RuntimeError when one of them holds a `solutions` folder (a virtualenv made in the course folder).
    """
    folders: list[tuple[Path, str]] = []
    for prefix in dict.fromkeys([sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]):
        path = Path(prefix).resolve()
        if not str(path).startswith("/usr/") and path != Path("/usr") and \
                not any(str(path).startswith(str(p) + "/") or path == p for p, _ in folders):
            folders.append((path, str(path)))
    folders.append((package_folder(), f"{PACKAGE_AT}/coursekit"))
    for source, _ in folders:
        if (source / "solutions").exists():
            raise RuntimeError(f"{source} holds a `solutions` folder and would be visible in the sandbox; "
                               "make the virtualenv outside the course folder")
    return folders


def _parents(paths: list[str]) -> list[str]:
    """Return bwrap's arguments making the folders above `paths` readable by all (bwrap would make them 0700)."""
    made: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made and str(parent) not in ("/usr", "/tmp", "/dev"):
                made.append(str(parent))
    return [a for folder in made for a in ("--perms", "0755", "--dir", folder)]


def bwrap_args(root: Path, uid: int | None) -> tuple[list[str], list[int]]:
    """Return bwrap's arguments for a kernel whose private folder is `root`, and the descriptors they name."""
    folders = read_only_folders()
    binds, fds = _bind_fds(folders)
    args = [*_isolation(uid is not None), *_system_mounts(), *_parents([d for _, d in folders] + [str(root)]),
            *binds, "--bind", str(root), str(root),
            "--chdir", str(root / "work"), "--setenv", "PYTHONPATH", PACKAGE_AT, "--unsetenv", "JPY_PARENT_PID"]
    return args, fds


def main(argv: list[str] | None = None) -> None:
    """Launch a kernel in its sandbox: prepare, drop privileges, and become `bwrap` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m coursekit.grading.boundary")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--connection-file", type=Path, required=True)
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    uid, bwrap = sandbox_uid(), bwrap_path()
    if bwrap is None:
        sys.exit(f"coursekit: bwrap is not installed; {INSTALL}")
    _give(args.root, args.connection_file, uid)
    options, fds = bwrap_args(args.root, uid)
    read, write = os.pipe()
    os.write(write, b"".join(a.encode() + b"\0" for a in options))
    os.close(write)
    os.set_inheritable(read, True)
    keep = {0, 1, 2, read, *fds}
    for fd in os.listdir("/proc/self/fd"):
        if int(fd) not in keep:
            try:
                os.close(int(fd))
            except OSError:
                pass
    os.execv(bwrap, [bwrap, "--args", str(read), "--", *_as_user(uid, bwrap), *kernel])


if __name__ == "__main__":
    main()
