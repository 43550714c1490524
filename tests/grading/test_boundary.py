"""The bwrap boundary, attacked: a crafted class whose notebooks try every route out, graded beside honest ones.

Each attack cell ends by raising `RuntimeError("BLOCKED: <route> ...")` when the route failed inside the
sandbox, or `RuntimeError("ESCAPED: <route> ...")` when it worked; the grader records each cell's error in
the notes, and the tests read them there. The routes go around the audit-hook guard on purpose (`ctypes`,
`libc`, native readers), so that what stops them is the sandbox itself. Every attack is bounded so that it
cannot harm the machine if the limit it tests failed: at most 300 forks that sleep 2 s and exit (and are
reaped), writes of 200 MB past a cap, never more.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.grading import boundary
from coursekit.grading.grade import grade
from coursekit.grading.sandbox import PROCESS_LIMIT, Limits

from crafted import ASSIGNMENT, REPO, SOLUTION, SOLUTIONS, add_cell, answered, fresh, write

N = 23
LIMITS = Limits(cell_timeout=60, timeout=300, memory_mb=2048, disk_mb=48)  # forking a 0.5 GB kernel is slow
WHY = boundary.self_test()
pytestmark = pytest.mark.skipif(bool(WHY), reason=f"bwrap cannot run here: {WHY}")

PRELUDE = '''import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
def report(route, escaped, detail=""):
    raise RuntimeError(("ESCAPED" if escaped else "BLOCKED") + f": {route} {detail}"[:200])
'''


def _attack(route: str, body: str) -> str:
    """Return a cell running `body` (which sets `escaped` and `detail`), then reporting on `route`."""
    return f"{PRELUDE}escaped, detail = False, ''\ntry:\n" + "".join(f"    {line}\n" for line in body.splitlines()) + \
        f"except Exception as e:\n    detail = type(e).__name__\nreport({route!r}, escaped, detail)\n"


def _reads(target: str) -> list[tuple[str, str]]:
    """Return the attacks that try to read the solution notebook at `target`."""
    return [
        ("python open", f"escaped = 'answer-key' in open({target!r}).read()"),
        ("os.open", f"escaped = os.read(os.open({target!r}, os.O_RDONLY), 10**6) != b''"),
        ("ctypes libc open", f"fd = libc.open({target.encode()!r}, 0)\nescaped = fd >= 0\ndetail = str(fd)"),
        ("subprocess cat", f"import subprocess\nescaped = b'answer' in subprocess.run(['cat', {target!r}], "
                           "capture_output=True).stdout"),
        ("libc system cat", f"libc.system(b'cat {target} > leaked.txt 2>/dev/null')\n"
                            "escaped = 'answer' in open('leaked.txt').read()"),
        ("torch.from_file", f"import torch\nescaped = torch.from_file({target!r}, size=100, dtype=torch.uint8)"
                            ".numel() == 100"),
        ("numpy.fromfile", f"import numpy\nescaped = numpy.fromfile({target!r}, dtype=numpy.uint8).size > 0"),
        ("course found from /proc/<parent>", f'''paths = set()
for pid in {{"1", str(os.getppid()), "self"}}:
    for link in ("cwd", "root", "exe"):
        buf = ctypes.create_string_buffer(4096)
        n = libc.readlink(f"/proc/{{pid}}/{{link}}".encode(), buf, 4096)
        if n > 0:
            paths.add(buf.raw[:n].decode())
    fd = libc.open(f"/proc/{{pid}}/cmdline".encode(), 0)
    if fd >= 0:
        buf = ctypes.create_string_buffer(65536)
        n = libc.read(fd, buf, 65536)
        paths.update(p for p in buf.raw[:max(n, 0)].decode(errors="replace").split("\\0") if p.startswith("/"))
tried = set()
for p in paths:
    while p not in ("/", ""):
        tried.add(p)
        p = os.path.dirname(p)
found = [t for t in tried if libc.open(os.path.join(t, "solutions", {Path(target).name!r}).encode(), 0) >= 0]
escaped, detail = bool(found), f"tried {{len(tried)}} folders"'''),
    ]


def _escapes(out: Path, classmate: Path, port: int, pid: int) -> list[tuple[str, str]]:
    """Return the attacks that write outside, connect to `port` on 127.0.0.1, and signal process `pid`."""
    writes = [out / "pwned.csv", classmate, REPO / "pwned.txt", Path("/usr/pwned"), SOLUTIONS / "pwned.txt"]
    return [
        ("writes outside", f'''opened = [p for p in {[str(p) for p in writes]!r} if libc.open(p.encode(), 0o101, 0o644) >= 0]
escaped, detail = bool(opened), str(opened)'''),
        ("python connect", f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nescaped = True"),
        ("libc connect", f'''import struct
s = libc.socket(2, 1, 0)
addr = struct.pack("=H", 2) + struct.pack("!H", {port}) + bytes([127, 0, 0, 1]) + bytes(8)
escaped = libc.connect(s, addr, 16) == 0
detail = os.strerror(ctypes.get_errno())'''),
        ("python kill", f"os.kill({pid}, 15)\nescaped = True"),
        ("libc kill", f"escaped = libc.kill({pid}, 15) == 0\ndetail = os.strerror(ctypes.get_errno())"),
    ]


FORK_STORM = '''fork = ctypes.PyDLL(None).fork  # holds the GIL across the call, so the child may run Python
made = failed = 0
for i in range(300):
    if failed >= 10:  # the limit is reached: no need to fork on
        break
    pid = fork()
    if pid == 0:
        time.sleep(2)
        os._exit(0)
    made, failed = (made + 1, failed) if pid > 0 else (made, failed + 1)
reaped, until = 0, time.monotonic() + 5  # reap them: a zombie still counts against the limit
while reaped < made and time.monotonic() < until:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    reaped += pid > 0
    time.sleep(0 if pid > 0 else 0.05)
escaped, detail = failed == 0, f"{made} of 300 forks made, {reaped} reaped"'''


def _fill(path: str, how: str) -> str:
    """Return an attack writing 200 MB into `path`, through libc (`how="libc"`) or Python's open."""
    if how == "libc":
        return f'''fd = libc.open({path.encode()!r}, 0o101, 0o600)
buf = ctypes.create_string_buffer(2**20)
mb = 0
while mb < 200 and libc.write(fd, buf, 2**20) == 2**20:
    mb += 1
libc.close(fd)
libc.unlink({path.encode()!r})  # the cells after this one need room too
escaped, detail = mb == 200, f"{{mb}} MB written"'''
    return f'''mb = 0
with open({path!r}, "wb") as f:
    try:
        while mb < 200:
            f.write(bytes(2**20))
            f.flush()
            mb += 1
    except OSError as e:
        error = e.strerror
os.remove({path!r})
escaped, detail = mb == 200, f"{{mb}} MB written"'''


DISK_HOG = '''for i in range(4):
    with open(f"hog{i}.bin", "wb") as f:
        for mb in range(50):
            f.write(bytes(2**20))
raise RuntimeError("ESCAPED: the disk cap: 200 MB written")'''


def _with_attacks(attacks: list[tuple[str, str]]):
    """Return the solution's answers with one attack cell per route, after question 3's check."""
    nb = answered()
    for route, body in reversed(attacks):
        nb = add_cell(nb, _attack(route, body), after="q3-check")
    return nb


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Grade the attack class with bwrap; return (book, output folder, listener, the process to signal)."""
    root = tmp_path_factory.mktemp("attacks")
    subs, out = root / "submissions", root / "grades"
    nb = lambda student: subs / student / f"{ASSIGNMENT}.ipynb"  # noqa: E731
    write(answered(), nb("perfect"))
    write(fresh(), nb("fresh"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        write(_with_attacks(_reads(str(SOLUTION))), nb("reader"))
        write(_with_attacks(_escapes(out, nb("perfect"), listener.getsockname()[1], victim.pid)), nb("escaper"))
        write(_with_attacks([("fork storm", FORK_STORM), ("fill /tmp", _fill("/tmp/fill", "libc")),
                             ("fill /dev/shm", _fill("/dev/shm/fill", "python"))]), nb("filler"))
        write(add_cell(answered(), DISK_HOG, after="q3-check"), nb("disk_hog"))
        book = grade(subs, ASSIGNMENT, out=out, solutions=SOLUTIONS, workers=2, limits=LIMITS, progress=False,
                     log=None, sandbox="bwrap")
        alive = victim.poll() is None
        try:
            connected = listener.accept()
        except BlockingIOError:
            connected = None
        yield book, out, connected, alive
    finally:
        victim.kill()
        listener.close()


def _row(book: dict, student: str) -> dict:
    return next(r for r in book["students"] if r["student"] == student)


def _blocked(row: dict) -> dict[str, str]:
    """Return each reported route with its report: BLOCKED or ESCAPED and the detail."""
    found = {}
    for note in row["notes"]:
        for word in ("BLOCKED: ", "ESCAPED: "):
            if word in note:
                route_and_detail = note.split(word, 1)[1]
                found[route_and_detail] = word.strip(": ")
    return found


def test_honest_students_beside_the_attacks_score_as_before(attacked):
    book = attacked[0]
    assert (_row(book, "perfect")["status"], _row(book, "perfect")["total"]) == ("graded", N)
    assert (_row(book, "fresh")["status"], _row(book, "fresh")["total"]) == ("graded", 0)
    assert all(r["sandbox"] == "bwrap" for r in book["students"]) and book["run"]["sandbox"] == "bwrap"


@pytest.mark.parametrize("route", [r for r, _ in _reads("x")])
def test_every_route_to_the_solution_notebook_fails_inside(attacked, route):
    reports = _blocked(_row(attacked[0], "reader"))
    mine = {k: v for k, v in reports.items() if k.startswith(route)}
    assert list(mine.values()) == ["BLOCKED"], (route, reports)


@pytest.mark.parametrize("route", ["writes outside", "python connect", "libc connect", "python kill", "libc kill"])
def test_writes_outside_the_network_and_other_processes_are_out_of_reach(attacked, route):
    reports = _blocked(_row(attacked[0], "escaper"))
    mine = {k: v for k, v in reports.items() if k.startswith(route)}
    assert list(mine.values()) == ["BLOCKED"], (route, reports)


def test_nothing_was_written_connected_or_killed_on_the_host(attacked):
    book, out, connected, alive = attacked
    assert connected is None and alive
    assert not (out / "pwned.csv").exists() and not (REPO / "pwned.txt").exists()
    assert not (SOLUTIONS / "pwned.txt").exists() and not Path("/usr/pwned").exists()


def test_a_fork_storm_stops_at_the_process_limit(attacked):
    reports = _blocked(_row(attacked[0], "filler"))
    storm = next(k for k in reports if k.startswith("fork storm"))
    made = int(storm.split()[2])
    assert reports[storm] == "BLOCKED" and 0 < made < PROCESS_LIMIT, storm


@pytest.mark.parametrize("place", ["fill /tmp", "fill /dev/shm"])
def test_tmp_and_shm_are_capped(attacked, place):
    reports = _blocked(_row(attacked[0], "filler"))
    mine = next(k for k in reports if k.startswith(place))
    assert reports[mine] == "BLOCKED" and 0 < int(mine.split()[2]) <= boundary.TMP_MB, mine  # writable, capped


def test_the_filler_still_scores_its_answers(attacked):
    row = _row(attacked[0], "filler")
    assert row["earned"] == N, row["notes"]


def test_writing_past_the_disk_cap_stops_the_kernel(attacked):
    row = _row(attacked[0], "disk_hog")
    assert row["status"] == "kernel-died" and row["earned"] == 6, row["notes"]
    assert any(f"filled more than the {LIMITS.disk_mb} MB" in n for n in row["notes"]), row["notes"]
    assert not any("ESCAPED" in n for n in row["notes"]), row["notes"]


def test_the_self_test_failing_stops_the_grader_saying_what_to_do(monkeypatch):
    monkeypatch.setattr(boundary, "bwrap_path", lambda: None)
    boundary.self_test.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"bubblewrap.*--sandbox none"):
            boundary.require("bwrap")
        boundary.require("none")  # knowingly: no error
    finally:
        boundary.self_test.cache_clear()


def test_inside_there_is_no_course_folder_only_the_package(tmp_path):
    nb = add_cell(answered(), _attack("course", f'''import coursekit
listing = os.listdir("/")
escaped = os.path.exists({str(REPO / "solutions")!r}) or not coursekit.__file__.startswith("{boundary.PACKAGE_AT}/")
detail = ",".join(sorted(listing)) + " uid=" + str(os.getuid())'''), after="q3-check")
    write(nb, tmp_path / "subs" / "one" / f"{ASSIGNMENT}.ipynb")
    book = grade(tmp_path / "subs", ASSIGNMENT, out=tmp_path / "grades", solutions=SOLUTIONS, limits=LIMITS,
                 progress=False, log=None, sandbox="bwrap")
    reports = _blocked(book["students"][0])
    (report, verdict), = reports.items()
    assert verdict == "BLOCKED" and "uid=0" not in report, report
    assert book["students"][0]["earned"] == N


def test_sandbox_none_grades_knowingly_and_says_so(tmp_path):
    write(answered(), tmp_path / "subs" / "one" / f"{ASSIGNMENT}.ipynb")
    lines: list[str] = []
    book = grade(tmp_path / "subs", ASSIGNMENT, out=tmp_path / "grades", solutions=SOLUTIONS, limits=LIMITS,
                 progress=False, log=lines.append, sandbox="none")
    row = book["students"][0]
    assert (row["status"], row["total"], row["sandbox"]) == ("graded", N, "none")
    assert "not a security boundary" in row["notes"][-1] and "sandbox none" in lines[0]
