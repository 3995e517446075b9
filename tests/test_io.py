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
