"""Atomic outputs and safe checkpoint loading."""

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conchshell.errors import ConchError
from conchshell.io import atomic_path, load_torch, save_torch, state_dict_sha256, sweep_stale_temps, temp_name

REPO = Path(__file__).resolve().parents[1]


def test_atomic_file_is_renamed_only_on_success(tmp_path):
    target = tmp_path / "out" / "x.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_atomic_directory_replaces_the_old_one(tmp_path):
    target = tmp_path / "prepared"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target, replace_dir=True) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]


def test_load_torch_round_trip_and_errors(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_torch({"model": {"w": torch.ones(2)}}, path)
    assert torch.equal(load_torch(path)["model"]["w"], torch.ones(2))
    with pytest.raises(ConchError, match="checkpoint not found"):
        load_torch(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ConchError, match="junk.pt: not a readable checkpoint"):
        load_torch(junk)


def test_load_torch_refuses_arbitrary_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(ConchError, match="evil.pt: not a readable checkpoint"):
        load_torch(path)


def test_state_dict_hash_tracks_values():
    a = {"w": torch.zeros(3)}
    b = {"w": torch.zeros(3)}
    assert state_dict_sha256(a) == state_dict_sha256(b)
    b["w"][0] = 1
    assert state_dict_sha256(a) != state_dict_sha256(b)


def test_save_torch_same_object_same_bytes(tmp_path):
    """No temporary file name inside the zip: two saves of one checkpoint (to different names) are equal."""
    torch.manual_seed(0)
    state = {"model": {"w": torch.randn(5, 3), "b": torch.zeros(3)}, "step": 7, "rng": torch.get_rng_state()}
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "b.pt"
    save_torch(state, a)
    save_torch(state, b)
    assert a.read_bytes() == b.read_bytes()
    save_torch(state, a)  # over an existing file
    assert a.read_bytes() == b.read_bytes()
    assert b".tmp" not in a.read_bytes() and b"a.pt" not in a.read_bytes()


@pytest.mark.parametrize("replace_dir", [False, True])
def test_a_file_never_replaces_a_folder(tmp_path, replace_dir):
    """`-o precious.wav` where precious.wav is a folder: the folder and its contents survive."""
    target = tmp_path / "precious.wav"
    target.mkdir()
    (target / "photo.jpg").write_bytes(b"irreplaceable")
    with pytest.raises(ConchError, match="precious.wav: is a folder"):
        with atomic_path(target, replace_dir=replace_dir) as tmp:
            tmp.write_bytes(b"RIFF")
    assert (target / "photo.jpg").read_bytes() == b"irreplaceable"
    assert [p.name for p in tmp_path.iterdir()] == ["precious.wav"]


def test_a_folder_is_replaced_only_when_asked(tmp_path):
    target = tmp_path / "prepared"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(ConchError, match="is a folder"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
    assert (target / "old.txt").read_text() == "old"


KILLED_WRITER = """
import os, signal, sys
from conchshell.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    if sys.argv[2] == "dir":
        tmp.mkdir()
        (tmp / "half.png").write_bytes(b"half")
    else:
        tmp.write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_kill_9_leftovers_are_swept_by_the_next_writer(tmp_path, kind):
    target = tmp_path / ("prepared" if kind == "dir" else "audio.h5")
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target), kind], cwd=REPO, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.startswith(f".{target.name}.")]
    assert len(left) == 1 and left[0].name.endswith(".tmp") and not target.exists()
    with atomic_path(target, replace_dir=True) as tmp:
        tmp.write_text("whole") if kind == "file" else tmp.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_live_writers_temporary_is_kept_and_old_style_names_are_swept(tmp_path):
    target = tmp_path / "audio.h5"
    live = temp_name(target)  # this process: alive
    live.write_bytes(b"in progress")
    legacy = tmp_path / ".audio.h5.k2_x9q0a.tmp"  # tempfile.mkdtemp name of earlier versions
    legacy.mkdir()
    other = tmp_path / ".audio.h5.old.bak"  # not a temporary name: never touched
    other.write_bytes(b"user file")
    assert sweep_stale_temps(target) == [legacy]
    assert live.exists() and other.exists() and not legacy.exists()


def test_temporary_names_are_git_ignored():
    names = [
        "data/.prepared.0a1b2c3d-123-0a1b2c3d.tmp",
        "data/features/.audio.h5.0a1b2c3d-9-ffffffff.tmp",
        "models/.gan.pt.k2_x9q0a.tmp",
    ]
    proc = subprocess.run(["git", "check-ignore", *names], cwd=REPO, capture_output=True, text=True)
    if proc.returncode == 128:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    assert proc.stdout.split() == names


def test_sweep_folders_removes_dead_writers_temporaries_only(tmp_path):
    """Issue 26.1: a stage or generate sweeps its output folders at start (a kill -9 leaves `.x.<host>-<pid>-<r>.tmp`)."""
    import subprocess
    import sys

    from conchshell.io import sweep_folders, temp_name

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale_file = tmp_path / temp_name(tmp_path / "audio.h5").name.replace(f"-{os.getpid()}-", f"-{pid}-")
    stale_dir = tmp_path / temp_name(tmp_path / "samples").name.replace(f"-{os.getpid()}-", f"-{pid}-")
    stale_file.write_bytes(b"half an HDF5 file")
    stale_dir.mkdir()
    (stale_dir / "a.wav").write_bytes(b"x")
    live = temp_name(tmp_path / "eval.json")  # this process: still writing
    live.write_text("{")
    kept = [tmp_path / "audio.h5", tmp_path / ".gitignore", tmp_path / ".notes.tmp"]
    for path in kept:
        path.write_text("mine")
    assert sorted(sweep_folders(tmp_path, tmp_path / "missing")) == sorted([stale_file, stale_dir])
    assert sorted(tmp_path.iterdir()) == sorted([live, *kept])
