"""Atomic outputs and safe checkpoint loading (the only file I/O helpers the package shares)."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch takes seconds to import; the ONNX Runtime generate path never needs it
    import torch

from conchshell.errors import ConchError

#: Temporary names end in this suffix (git-ignored: `.*.tmp`); `sweep_stale_temps` removes dead writers' ones.
TMP_SUFFIX = ".tmp"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_OURS = re.compile(r"^(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-[0-9a-f]{8}\.tmp$")  # ".<name>." + this
_LEGACY = re.compile(r"^[a-z0-9_]{8}\.tmp$")  # tempfile.mkdtemp names of earlier versions
_ANY_OURS = re.compile(r"^\..+\.(?P<rest>[0-9a-f]{8}-[0-9]+-[0-9a-f]{8}\.tmp)$")  # `temp_name` of any path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, replace_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Works for files and for directories (the block creates whichever it needs). An interrupted
    stage therefore never leaves a half-written output for DVC to cache; the temporary name
    (`.<name>.<host>-<pid>-<random>.tmp`) records its writer, so the next writer of `path` sweeps
    what a killed one left (`sweep_stale_temps`), and after `guard_temporaries` the janitor removes it
    as soon as the writer dies.

    A directory at `path` is never deleted, unless `replace_dir` (a stage replacing its own output
    folder with a new folder): otherwise, and always for a file written over a folder, ConchError.
    """
    path = Path(path)
    _refuse_folder(path, replace_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path)
    tmp = temp_name(path)
    _JANITOR.register(tmp)
    try:
        yield tmp
        _refuse_folder(path, replace_dir and tmp.is_dir())
        if path.is_dir() and not path.is_symlink():
            _replace_folder(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        _remove(tmp)
        _JANITOR.release(tmp)


def _replace_folder(tmp: Path, path: Path) -> None:
    """Move the folder at `path` aside, rename `tmp` onto `path`, then remove the old one: never half-deleted."""
    old = temp_name(path)
    _JANITOR.register(old)
    try:
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        _JANITOR.release(old)


def _refuse_folder(path: Path, replace_dir: bool) -> None:
    if path.is_dir() and not path.is_symlink() and not replace_dir:
        raise ConchError(f"{path}: is a folder; refusing to replace it (choose another name or remove it yourself)")


def guard_temporaries() -> None:
    """From now on a kill -9 of this process leaves no `atomic_path` temporary (`_Janitor`).

    Called at the start of each DVC stage, whose outputs DVC may restore from its run cache without
    running any code of ours. The janitor is a second interpreter, started with the first temporary.
    """
    _JANITOR.enabled = True


def temp_name(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path` that records this writer: `.<name>.<host>-<pid>-<random>.tmp`."""
    path = Path(path)
    return path.parent / f".{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}"


def sweep_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of `path` whose writer is gone (killed mid-write); returns what was removed.

    A temporary of a live writer on this host stays; one from another host is removed once it is a
    day old; names from earlier versions (no writer recorded) are always stale.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        entries = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(prefix) and _is_stale(entry, entry.name[len(prefix) :]):
            _remove(entry)
            removed.append(entry)
    return removed


def sweep_folders(*folders: str | os.PathLike) -> list[Path]:
    """Remove every dead writer's temporary (`temp_name`) directly in `folders`; returns what was removed.

    Called at the start of each stage and of `generate`, in the folders it writes: a killed run's temporary
    is otherwise swept only by the next write to the same path (`sweep_stale_temps`)."""
    removed = []
    for folder in folders:
        try:
            entries = list(Path(folder).iterdir())
        except OSError:
            continue
        for entry in entries:
            ours = _ANY_OURS.match(entry.name)
            if ours is not None and _is_stale(entry, ours["rest"]):
                _remove(entry)
                removed.append(entry)
    return removed


def _is_stale(entry: Path, rest: str) -> bool:
    ours = _OURS.match(rest)
    if ours is None:
        return _LEGACY.match(rest) is not None
    if ours["host"] != _HOST:
        try:
            return time.time() - entry.lstat().st_mtime > 24 * 3600
        except OSError:
            return False
    return not _alive(int(ours["pid"]))


def _alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a pid we cannot ask about: assume it is writing
    return True


def _remove(path: Path) -> None:
    """Remove a temporary file or folder, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# -- the janitor ----------------------------------------------------------------------------------
#: The janitor's program (`_Janitor`): standard library `os` and `sys` only, so it starts in milliseconds.
_JANITOR_PROGRAM = r"""
import os, sys

def remove(path):
    inside = []
    if os.path.isdir(path) and not os.path.islink(path):  # bottom-up; links are removed, never followed
        inside = [os.path.join(top, n) for top, dirs, files in os.walk(path, topdown=False) for n in files + dirs]
    for p in inside + [path]:
        try:
            os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        except OSError:
            pass

live = set()
for line in sys.stdin.buffer:
    if line.endswith(b"\n"):
        (live.add if line[:1] == b"+" else live.discard)(line[1:-1])
for path in live:
    remove(path)
"""


class _Janitor:
    """A helper process that removes this process's temporaries when it dies, even by kill -9.

    Why: a stage killed mid-write leaves its `atomic_path` temporary; the next run of a stage sweeps it
    (`sweep_folders`), but when DVC restores the outputs from its run cache instead of re-running, no code
    of ours runs. Once `enabled` (`guard_temporaries`), the first `register` starts the janitor, a bare
    `python -I -S` reading a pipe: "+path" registers a temporary, "-path" releases it; at the pipe's end
    (the owner exited or was killed) it removes what is still registered, then exits. If it cannot start,
    or dies, registering does nothing more: the sweeps at the next start remain.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.process: subprocess.Popen | None = None
        self.owner = 0  # the pid that started `process` (a forked child must not wait for it)
        self.broken = False  # spawning failed or the janitor died: registering is a no-op from then on
        self.lock = threading.Lock()  # one janitor, whichever thread writes first

    def register(self, path: Path) -> None:
        """The janitor removes `path` (file or folder) if this process ends before `release(path)`."""
        if self.enabled and not self.broken:
            self._send(b"+", path)

    def release(self, path: Path) -> None:
        """`path` was renamed into place or removed: no longer the janitor's."""
        if self.process is not None and not self.broken:
            self._send(b"-", path)

    def _send(self, op: bytes, path: Path) -> None:
        line = op + os.fsencode(os.path.abspath(path)) + b"\n"
        if line.count(b"\n") > 1 or len(line) > 4096:  # one atomic pipe write (PIPE_BUF) per line
            return
        try:
            os.write(self._pipe(), line)
        except (OSError, ValueError, subprocess.SubprocessError):
            self.broken = True

    def _pipe(self) -> int:
        """The write end of the janitor's stdin, starting the janitor first if needed."""
        with self.lock:
            if self.process is None:
                if not sys.executable:
                    raise OSError("no Python interpreter to run the janitor")
                self.process = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _JANITOR_PROGRAM],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # outside the owner's process group: a Ctrl-C or killpg spares it
                    bufsize=0,
                )
                self.owner = os.getpid()
                atexit.register(self.close)
        return self.process.stdin.fileno()

    def close(self) -> None:
        """At a normal exit: end the janitor's input and reap it (normally it has nothing left to remove)."""
        if self.process is None or os.getpid() != self.owner:
            return
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


_JANITOR = _Janitor()


def write_json(path: str | os.PathLike, data: Any, sort_keys: bool = True) -> None:
    """`data` as indented JSON (2 spaces, a final newline; keys sorted unless `sort_keys` is False), atomically:
    the one writer of metrics/*.json."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """torch.save into memory, then written through a temporary file and a rename.

    torch.save names the zip's root folder after the file it writes to (a random temporary name here);
    saved to a BytesIO the root is always `archive/`, so equal objects give equal bytes.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_torch(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """torch.load(weights_only=True) with one-line errors for a missing or unreadable file."""
    import torch

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
    import torch

    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = [
            f"{len(m)} {label} ({_first(m)})" for label, m in (("missing", missing), ("unexpected", unexpected)) if m
        ]
        raise ConchError(f"{where}: {what}: {'; '.join(parts)} keys")
    for name, tensor in found.items():
        if not torch.is_tensor(tensor):
            raise ConchError(f"{where}: {what}: entry {name} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ConchError(
                f"{where}: {what}: {name} has shape {list(tensor.shape)}, expected {list(expected[name].shape)}"
            )


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
