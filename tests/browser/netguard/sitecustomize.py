"""Refuse and log every network connection that leaves 127.0.0.1, in the test's JupyterLab server and kernels.

The browser tests put this folder on PYTHONPATH, so Python imports it at start-up in the server and in
every kernel the server launches; the test then asserts the log stayed empty.
"""
import os
import sys

_LOG = os.environ.get("COURSEKIT_NETGUARD_LOG")
_LOOPBACK = {"127.0.0.1", "::1", "localhost", b"localhost", "", None}


def _host(event: str, args: tuple):
    if event == "socket.connect" and isinstance(args[1], tuple):
        return args[1][0]
    if event == "socket.getaddrinfo":
        return args[0]
    return None


def _guard(event: str, args: tuple) -> None:
    if not event.startswith("socket.") or _host(event, args) in _LOOPBACK:
        return
    host = _host(event, args)
    with open(_LOG, "a") as log:
        log.write(f"pid {os.getpid()} {event} {host!r} ({sys.argv[0]})\n")
    raise ConnectionRefusedError(f"browser tests: no network beyond 127.0.0.1 (tried {host!r})")


if _LOG:
    sys.addaudithook(_guard)
