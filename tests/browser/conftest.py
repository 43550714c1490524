"""Fixtures for the browser tests: `make lab`'s JupyterLab on a temporary copy of the course, token-less on
127.0.0.1, and Debian's headless Chromium driven by Playwright, neither able to reach any other host.

The suite runs only when asked for: `make test-browser`, `pytest tests/browser` (naming this folder or a
file in it), or COURSEKIT_BROWSER_TESTS=1. Any other run (`pytest tests chapters solutions --nbval`) does
not collect it at all, and says so at the end of its report.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psutil
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# Added to `make lab`'s command line: no token, and exactly our port.
LAB_TEST_ARGS = ["--IdentityProvider.token=", "--ServerApp.port_retries=0"]
# Written to the server's temporary settings folder: never autosave, never ask about (or fetch) news.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
COURSE_FOLDERS = ["chapters", "exercises"]
STOP_GRACE_S = 20

_NOT_ASKED = pytest.StashKey[bool]()
_REPORTS = pytest.StashKey[dict]()


# -- only when asked --------------------------------------------------------------------------------------

def _asked_for(config: pytest.Config) -> bool:
    """True when the run names this folder or a file in it, or sets COURSEKIT_BROWSER_TESTS=1."""
    if os.environ.get("COURSEKIT_BROWSER_TESTS") == "1":
        return True
    named = [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]
    return any(path == HERE or HERE in path.parents for path in named)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if _asked_for(config):
        return None
    config.stash[_NOT_ASKED] = True
    return True


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives JupyterLab in Chromium (runs only when asked for)")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if config.stash.get(_NOT_ASKED, False):
        terminalreporter.write_line("tests/browser: not collected; run the browser suite with `make test-browser` "
                                    "or `pytest tests/browser`.")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# -- processes ------------------------------------------------------------------------------------------------

def family(pid: int) -> list[psutil.Process]:
    """Return the process `pid` and all its descendants that run now."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def mentioning(text: str) -> list[psutil.Process]:
    """Return the processes whose command line contains `text` (a temp path only this suite uses)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(text in arg for arg in p.info["cmdline"] or []):
            found.append(p)
    return found


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Return those of `processes` that still run (zombies count as ended)."""
    def runs(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return [p for p in processes if runs(p)]


def wait_stopped(processes: list[psutil.Process], what: str) -> None:
    """Wait for `processes` to end, kill any left after STOP_GRACE_S, and fail if one had to be killed."""
    _, alive = psutil.wait_procs(still_running(processes), timeout=STOP_GRACE_S)
    alive = still_running(alive)
    for p in alive:
        p.kill()
    psutil.wait_procs(alive, timeout=5)
    left = still_running(processes)
    assert not left, f"{what}: processes still running after kill: {[p.pid for p in left]}"
    assert not alive, f"{what}: had to kill processes that did not stop in {STOP_GRACE_S}s: {[p.pid for p in alive]}"


# -- installing what the suite needs ----------------------------------------------------------------------

def _browser_missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"Debian's chromium ({CHROMIUM})"
    if importlib.util.find_spec("playwright") is None:
        return f"Playwright for Python (in {sys.prefix})"
    return None


@pytest.fixture(scope="session")
def chromium_ready() -> str:
    """Return the path of Chromium, installing it and Playwright first if needed; skip when that is impossible."""
    if _browser_missing() is None:
        return CHROMIUM
    result = subprocess.run(["bash", str(REPO / "tools" / "install_browser.sh")], cwd=REPO, text=True,
                            capture_output=True, env={**os.environ, "PYTHON": sys.executable})
    importlib.invalidate_caches()
    missing = _browser_missing()
    if missing:
        pytest.skip(f"the browser tests need {missing}, and tools/install_browser.sh could not install it "
                    f"(exit {result.returncode}):\n{(result.stdout + result.stderr)[-2000:]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Return the folder for screenshots and logs (git-ignored), without the last run's failure pictures."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("FAILED_*"):
        stale.unlink()
    return ARTIFACTS


# -- JupyterLab ------------------------------------------------------------------------------------------------

@dataclass
class Lab:
    """A running JupyterLab: its address, the course folder it serves, and its logs."""
    url: str
    root: Path
    log: Path
    netlog: Path


def make_lab_command(port: int) -> list[str]:
    """Return the command `make lab PORT=port` runs, as make prints it (`make -n`, stamp taken as done)."""
    printed = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed-stamp", "lab", f"PORT={port}"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    argv = shlex.split(printed.replace("\\\n", " "))
    assert argv[1:2] == ["lab"], f"`make -n lab` printed something unexpected: {printed!r}"
    return [str(REPO / argv[0]), *argv[1:]]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path) -> Path:
    """Copy the course's notebook folders to `dest`, so that nothing the browser does can touch the repo's copy."""
    for name in COURSE_FOLDERS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


def lab_env(tmp: Path, netlog: Path) -> dict[str, str]:
    """Return the server's environment: Jupyter, IPython and HOME folders in `tmp`, and the network guard."""
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython", "HOME": "home"}
    env = {**os.environ, **{var: str(tmp / sub) for var, sub in dirs.items()}}
    for var in ("JUPYTER_TOKEN", "JUPYTER_PASSWORD"):
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(HERE / "netguard"), env.get("PYTHONPATH", "")] if p)
    env["COURSEKIT_NETGUARD_LOG"] = str(netlog)
    for plugin, settings in LAB_SETTINGS.items():
        path = tmp / "config" / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    (tmp / "home").mkdir(exist_ok=True)
    return env


def wait_until_serving(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Poll the server's status API until it answers; fail with its log if it exits or times out."""
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with no_proxy.open(f"{url}/api/status", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer at {url} within {timeout}s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server (it shuts its kernels down) and make sure it and every kernel it started have ended."""
    processes = family(server.pid)
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    try:
        wait_stopped(processes, "JupyterLab")
    finally:
        server.wait(timeout=5)


@pytest.fixture(scope="session")
def lab(tmp_path_factory, chromium_ready, artifacts) -> Iterator[Lab]:
    """Start JupyterLab the way `make lab` does, on a free port, serving a temporary copy of the course."""
    tmp = tmp_path_factory.mktemp("lab")
    port, log, netlog = free_port(), artifacts / "jupyter_server.log", tmp / "network_attempts.log"
    command = make_lab_command(port) + LAB_TEST_ARGS
    with open(log, "w") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        server = subprocess.Popen(command, cwd=copy_course(tmp / "course"), env=lab_env(tmp, netlog),
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, server, log)
        yield Lab(url=url, root=tmp / "course", log=log, netlog=netlog)
    finally:
        stop_server(server)
    attempts = netlog.read_text() if netlog.exists() else ""
    assert not attempts, f"the server or a kernel tried to reach the network:\n{attempts}"


# -- Chromium ----------------------------------------------------------------------------------------------------

@dataclass
class Browser:
    """Chromium's (persistent) browser context, and every request it refused because it left 127.0.0.1."""
    context: object
    refused: list[str] = field(default_factory=list)


def _is_local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:", "about:"))


def _refuse_the_network(browser: Browser) -> None:
    def refuse(route):
        browser.refused.append(route.request.url)
        route.abort("blockedbyclient")
    browser.context.route(lambda url: not _is_local(url), refuse)


@pytest.fixture(scope="session")
def browser(chromium_ready, tmp_path_factory) -> Iterator[Browser]:
    """Launch Debian's Chromium headless, with a fresh profile and HOME, through Playwright."""
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("chromium")
    before = {p.pid for p in psutil.Process().children()}
    playwright = sync_playwright().start()
    drivers = [p for p in psutil.Process().children() if p.pid not in before]
    context = None
    try:
        context = playwright.chromium.launch_persistent_context(
            home / "profile", executable_path=chromium_ready, headless=True, args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": str(home)}, viewport={"width": 1280, "height": 900})
        browser = Browser(context)
        _refuse_the_network(browser)
        yield browser
    finally:   # Chromium's crash handlers leave the tree at once (their parent is init); they name our HOME
        processes = [p for driver in drivers for p in family(driver.pid)] + mentioning(f"{home}{os.sep}")
        try:
            if context is not None:
                context.close()
        finally:
            playwright.stop()
            wait_stopped(processes, "Chromium and Playwright")


@pytest.fixture
def page(browser: Browser, lab: Lab, artifacts: Path, request):
    """A new browser tab; on failure, its screenshot and HTML are saved in artifacts/browser/."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    tab, refused_before = browser.context.new_page(), len(browser.refused)
    tab.set_default_timeout(30_000)
    try:
        yield tab
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            tab.screenshot(path=artifacts / f"FAILED_{request.node.name}.png")
            (artifacts / f"FAILED_{request.node.name}.html").write_text(tab.content())
        tab.close()
    refused = browser.refused[refused_before:]
    assert not refused, f"the page tried to reach beyond 127.0.0.1 (refused): {refused}"
