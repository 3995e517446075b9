"""Picture → 8 s piano piece: the loop behind `conchshell generate`, and where each piece is written.

Imports no torch: `generate` runs any pipeline with `run(pictures uint8 [B,H,W,3]) -> (wave float32 [B,T],
label int64 [B])` and the attributes image_size, sample_rate and categories — the eager PyTorch
`conchshell.inference.pipeline.Pipeline`, or the ONNX Runtime `conchshell.inference.runtime.OrtPipeline`, which needs no torch.

`plan_outputs(pictures, out)` decides and checks every wav's destination before any model loads: it never
names a folder, an input picture or (without `overwrite`) an existing file, and never the same file twice.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conchshell.data.images import read_picture
from conchshell.errors import ConchError


@dataclass
class Result:
    """One picture's outcome: `wave` float32 [T] and its category, or `error` (one line)."""

    picture: Path
    wave: np.ndarray | None = None
    category: str | None = None
    error: str | None = None


def generate(
    pipeline,
    pictures: Iterable[str | os.PathLike],
    batch_size: int = 1,
    seed: int = 0,
    postprocess: Callable[[np.ndarray, int], np.ndarray] | None = None,
    progress: bool = True,
) -> Iterable[Result]:
    """Yield a Result per picture path, in order; a picture that cannot be read gives a Result with `error`.

    Pictures are read (any Pillow format, EXIF rotation applied) and run through `pipeline.run` in batches
    of `batch_size`; `postprocess(wave [T], rate)` (e.g. denoising) is applied to each wave.
    """
    paths = [Path(p) for p in pictures]
    if "torch" in sys.modules:  # an eager pipeline: the models draw nothing at inference, but any draw is seeded
        sys.modules["torch"].manual_seed(seed)
    bar = progress_bar(len(paths), progress and len(paths) > 1)
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        read, results = [], {}
        for k, path in enumerate(batch):
            try:
                read.append((k, read_picture(path, pipeline.image_size)))
            except ConchError as err:
                results[k] = Result(path, error=str(err))
        if read:
            waves, labels = pipeline.run(np.stack([picture for _, picture in read]))
            for (k, _), wave, label in zip(read, waves, labels.tolist()):
                if postprocess is not None:
                    wave = postprocess(wave, pipeline.sample_rate)
                results[k] = Result(batch[k], np.asarray(wave, np.float32), pipeline.categories[label])
        for k in range(len(batch)):
            bar.update(1)
            yield results[k]
    bar.close()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, show: bool, desc: str = "generate"):
    """A tqdm bar over `total` pictures when `show`, else one that shows nothing (and tqdm is not imported)."""
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="picture")


# -- output planning ------------------------------------------------------------------------------------
def plan_outputs(pictures: list[Path], out: Path, overwrite: bool = False) -> list[Path]:
    """Every picture's wav destination, checked before any model loads; ConchError listing every problem.

    One picture and OUT ending in .wav (and not a folder): OUT itself. Otherwise OUT is a folder
    (created if needed) and picture `x.png` goes to OUT/x.wav; pictures sharing a stem, or whose
    name is taken, get OUT/x-1.wav, x-2.wav, ... so no two pieces share a file (names compared
    case-insensitively, as some file systems do). A destination that is a folder or one of the input
    pictures is refused; an existing file is refused unless `overwrite`. The folder must be writable.
    """
    single = len(pictures) == 1 and out.suffix.lower() == ".wav" and not out.is_dir()
    folder = out.parent if single else out
    _check_folder(folder, out, single)
    targets = [out] if single else _unique_names(pictures, folder)
    inputs = {_file_id(p) for p in pictures} - {None}
    problems = [why for t in targets if (why := _target_problem(t, inputs, overwrite))]
    if problems:
        raise ConchError("\n".join(problems))
    _check_writable(folder)
    return targets


def _unique_names(pictures: list[Path], folder: Path) -> list[Path]:
    """folder/<stem>.wav per picture; later pictures whose name is taken get <stem>-<n>.wav, first free n."""
    taken: set[str] = set()
    names: list[str | None] = [None] * len(pictures)
    for i, picture in enumerate(pictures):  # a picture's own name first, in order ...
        if f"{picture.stem}.wav".casefold() not in taken:
            names[i] = f"{picture.stem}.wav"
            taken.add(names[i].casefold())
    for i, picture in enumerate(pictures):  # ... then numbered names for the rest
        n = 1
        while names[i] is None:
            candidate = f"{picture.stem}-{n}.wav"
            if candidate.casefold() not in taken:
                names[i] = candidate
                taken.add(candidate.casefold())
            n += 1
    return [folder / name for name in names]


def _target_problem(target: Path, inputs: set[tuple[int, int]], overwrite: bool) -> str | None:
    if not os.path.lexists(target):
        return None
    if target.is_dir() and not target.is_symlink():
        return f"{target}: is a folder; a piece is never written over a folder (choose another -o)"
    if _file_id(target) in inputs:
        return f"{target}: is one of the input pictures; it is never overwritten (choose another -o)"
    if not overwrite:
        return f"{target}: already exists (pass --overwrite to replace it, or choose another -o)"
    return None


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` leads to (links followed), None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _check_folder(folder: Path, out: Path, single: bool) -> None:
    """The output folder, or its nearest existing parent, must be a folder."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        why = "several pictures need a folder" if not single and existing == out else "it is not a folder"
        raise ConchError(f"{out}: {existing} is a file, and {why} (-o names a .wav for one picture, else a folder)")


def _check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written there (a probe file, removed at once)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".conchshell-probe-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConchError(f"{folder}: cannot write there ({err.strerror or err})") from err
