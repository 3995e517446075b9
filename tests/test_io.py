"""Atomic outputs and safe checkpoint loading."""

import pickle

import pytest
import torch

from conchshell.errors import ConchError
from conchshell.io import atomic_path, load_torch, save_torch, state_dict_sha256


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
    with atomic_path(target) as tmp:
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
