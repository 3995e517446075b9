"""Issue 26.1: the janitor removes a kill -9'd process's temporaries at once (conchshell.io._Janitor)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conchshell import io
from conchshell.io import atomic_path

REPO = Path(__file__).resolve().parents[1]

#: Guards its temporaries, opens a temporary file and a temporary folder, prints the janitor's pid, then
#: kill -9's itself (argv[2] == "kill") or exits normally.
WRITER = """
import os, signal, sys
from pathlib import Path
from conchshell import io
from conchshell.io import atomic_path, guard_temporaries
guard_temporaries()
out = Path(sys.argv[1])
with atomic_path(out / "audio.h5") as f, atomic_path(out / "samples", replace_dir=True) as d:
    f.write_bytes(b"half an HDF5 file")
    d.mkdir()
    (d / "sub").mkdir()
    (d / "sub" / "a.wav").write_bytes(b"half")
    os.symlink(out / "keep", d / "link")  # a link inside is removed, never followed
    print(io._JANITOR.process.pid, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.exit(3)
"""


def writer(out: Path, how: str) -> tuple[subprocess.CompletedProcess, int]:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", WRITER, str(out), how], cwd=REPO, capture_output=True, text=True
    )
    return proc, int(proc.stdout)


def left(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie of an exited process counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (FileNotFoundError, ProcessLookupError):
        return True


def poll(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_killed_writers_temporaries_are_removed_within_seconds(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious.txt").write_text("mine")
    proc, pid = writer(tmp_path, "kill")
    assert proc.returncode == -signal.SIGKILL
    assert poll(lambda: left(tmp_path) == ["keep"]), left(tmp_path)
    assert (tmp_path / "keep" / "precious.txt").read_text() == "mine"
    assert poll(lambda: gone(pid))


def test_a_normal_exit_leaves_no_janitor_and_no_warning(tmp_path):
    proc, pid = writer(tmp_path, "exit")
    assert proc.returncode == 3 and proc.stderr == ""
    assert left(tmp_path) == []  # atomic_path removed its own temporaries; the janitor had nothing to do
    assert gone(pid)  # reaped at exit, not left behind


@pytest.fixture
def fresh(monkeypatch) -> io._Janitor:
    """An enabled janitor of this test's own (started by its first temporary), closed afterwards."""
    janitor = io._Janitor()
    janitor.enabled = True
    monkeypatch.setattr(io, "_JANITOR", janitor)
    yield janitor
    janitor.close()


def test_without_an_interpreter_registering_is_a_silent_no_op(tmp_path, monkeypatch, fresh):
    monkeypatch.setattr(sys, "executable", "")
    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("whole")
    assert fresh.broken and fresh.process is None
    assert left(tmp_path) == ["x.txt"]


def test_a_dead_janitor_is_not_an_error(tmp_path, fresh):
    """The janitor was killed (say by the OOM killer): writing to its pipe fails, the atomic write still succeeds."""
    fresh.register(tmp_path / "warm-up")
    os.kill(fresh.process.pid, signal.SIGKILL)
    fresh.process.wait()
    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("whole")
    assert fresh.broken and left(tmp_path) == ["x.txt"]


def test_a_live_writers_temporary_stays_and_a_finished_one_is_released(tmp_path, fresh):
    """Registered and released in order: closing the janitor (a normal exit) removes only the forgotten one."""
    with atomic_path(tmp_path / "done.txt") as tmp:
        tmp.write_text("whole")
    forgotten = tmp_path / ".x.tmp"
    forgotten.write_text("half")
    fresh.register(forgotten)
    assert fresh.process.poll() is None and forgotten.exists()
    fresh.close()
    assert fresh.process.returncode == 0 and left(tmp_path) == ["done.txt"]


@pytest.mark.parametrize("name", ["new\nline.txt", "x" * 5000])
def test_unframeable_names_are_not_registered(tmp_path, monkeypatch, fresh, name):
    monkeypatch.setattr(fresh, "_pipe", lambda: pytest.fail("sent to the janitor"))
    fresh.register(tmp_path / name)
