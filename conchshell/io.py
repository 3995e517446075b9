"""Atomic outputs and safe checkpoint loading (the only file I/O helpers the package shares)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch

from conchshell.errors import ConchError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Works for files and for directories (the block creates whichever it needs). An interrupted
    stage therefore never leaves a half-written output for DVC to cache.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.rmdir()  # the caller creates a file or a directory here
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """torch.save into memory, then written through a temporary file and a rename.

    torch.save names the zip's root folder after the file it writes to (a random temporary name here);
    saved to a BytesIO the root is always `archive/`, so equal objects give equal bytes.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_torch(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """torch.load(weights_only=True) with one-line errors for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise ConchError(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure to unpickle is the file's fault
        raise ConchError(f"{path}: not a readable {what} ({_why_unreadable(err)})") from err


def _why_unreadable(err: Exception) -> str:
    """A user-facing reason for a torch.load failure."""
    text = str(err).strip()
    if "Weights only load failed" in text:
        return "it holds pickled Python objects, not just weights; refused for safety (weights_only=True)"
    if isinstance(err, (RuntimeError, KeyError, EOFError, ValueError)) or "pickle" in type(err).__name__.lower():
        return "not a PyTorch checkpoint file, or a truncated one"
    return text.splitlines()[0] if text else type(err).__name__


def check_state_dict(expected: dict, found: dict, where: str | os.PathLike, what: str) -> None:
    """Raise a one-line ConchError `<where>: <what>: ...` naming the first missing/unexpected keys or a wrong shape."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = [f"{len(m)} {label} ({_first(m)})" for label, m in (("missing", missing), ("unexpected", unexpected)) if m]
        raise ConchError(f"{where}: {what}: {'; '.join(parts)} keys")
    for name, tensor in found.items():
        if not torch.is_tensor(tensor):
            raise ConchError(f"{where}: {what}: entry {name} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ConchError(f"{where}: {what}: {name} has shape {list(tensor.shape)}, expected {list(expected[name].shape)}")


def _first(names: list[str], n: int = 3) -> str:
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(sorted(names)[:n]) + more


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """Hex SHA-256 over a state dict's names and tensor bytes: identifies weights, not files."""
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
