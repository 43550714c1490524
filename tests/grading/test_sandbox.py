"""The sandbox's guard and environment, checked in this process: what a kernel may read, write and run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from coursekit.grading.sandbox import Sandbox, digests, make_guard, path_digest


@pytest.fixture
def guarded(tmp_path):
    """Return (guard, log, sandbox, a protected folder holding key.txt, an unprotected folder)."""
    secret, elsewhere = tmp_path / "solutions", tmp_path / "elsewhere"
    for folder in (secret, elsewhere):
        folder.mkdir()
    (secret / "key.txt").write_text("answers")
    box = Sandbox(tmp_path)
    st = os.stat(secret)
    log: list[dict] = []
    return make_guard(str(box.root), {(st.st_dev, st.st_ino)}, log.append), log, box, secret, elsewhere


def test_reading_a_protected_folder_is_refused_and_logged_as_protected(guarded):
    guard, log, _, secret, _ = guarded
    for event, args in [("open", (str(secret / "key.txt"), "r", 0)), ("os.listdir", (str(secret),)),
                        ("os.scandir", (str(secret / ".." / "solutions"),))]:
        with pytest.raises(PermissionError, match="read the grader's folders"):
            guard(event, args)
    assert [e["kind"] for e in log] == ["protected"] * 3


def test_a_link_from_the_sandbox_into_a_protected_folder_does_not_help(guarded):
    guard, log, box, secret, _ = guarded
    (box.work / "link").symlink_to(secret)
    with pytest.raises(PermissionError):
        guard("open", (str(box.work / "link" / "key.txt"), "r", 0))


def test_reading_elsewhere_and_writing_in_the_sandbox_pass(guarded):
    guard, log, box, _, elsewhere = guarded
    guard("open", (str(elsewhere / "data.csv"), "r", 0))
    guard("open", (str(box.work / "out.npy"), "wb", os.O_WRONLY | os.O_CREAT))
    guard("open", (str(box.home / ".cache" / "x"), None, os.O_RDWR | os.O_CREAT))
    guard("os.rename", (str(box.work / "a"), str(box.work / "b"), None, None))
    assert log == []


def test_writing_outside_the_sandbox_is_refused_but_only_a_protected_folder_is_tampering(guarded):
    guard, log, box, secret, elsewhere = guarded
    with pytest.raises(PermissionError, match="write outside its own folder"):
        guard("open", (str(elsewhere / "x"), "w", 0))
    with pytest.raises(PermissionError, match="write into the grader's folders"):
        guard("os.remove", (str(secret / "key.txt"), None))
    with pytest.raises(PermissionError, match="write outside its own folder"):
        guard("open", (str(box.log), "a", 0))  # its own log sits outside work/ and home/
    assert [e["kind"] for e in log] == ["refused", "protected", "refused"]


@pytest.mark.parametrize("event, args", [("subprocess.Popen", ("cat", ["cat"], None, None)),
                                         ("os.system", (b"ls",)), ("socket.connect", (None, ("1.2.3.4", 80))),
                                         ("os.kill", (1, 9))])
def test_programs_network_and_other_processes_are_refused(guarded, event, args):
    guard = guarded[0]
    with pytest.raises(PermissionError):
        guard(event, args)


def test_a_kernel_may_signal_itself(guarded):
    guarded[0]("os.kill", (os.getpid(), 9))


def test_the_kernel_environment_holds_nothing_of_the_graders(guarded, monkeypatch):
    monkeypatch.setenv("SOLUTIONS_DIR", "/somewhere/secret")
    env = guarded[2].env()
    assert "SOLUTIONS_DIR" not in env and env["HOME"] == str(guarded[2].home)
    assert all(not v.startswith("/somewhere") for v in env.values())


def test_a_protected_folder_that_is_not_there_is_known_by_the_digest_of_its_path(tmp_path):
    box, log, gone = Sandbox(tmp_path), [], "/nowhere/course/solutions"  # behind bwrap the folder is not there
    guard = make_guard(str(box.root), set(), log.append, frozenset(digests([Path(gone)]).split(",")))
    with pytest.raises(PermissionError, match="read the grader's folders"):
        guard("open", (gone + "/01_questionnaire.ipynb", "r", 0))
    guard("open", ("/nowhere/course/data.csv", "r", 0))
    assert [e["kind"] for e in log] == ["protected"] and path_digest(gone) not in gone
