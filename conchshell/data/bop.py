"""Ingestion of the BOP dataset (pictures and piano pieces) from a documented folder layout.

```
<bop_root>/
  images/<category>/<file>   pictures, any format and mode Pillow reads, one folder per category
  audio/<file>               piano pieces, any format, rate and channel count soundfile reads
  annotations.csv            columns image, audio, category; paths relative to <bop_root>
```
One row per picture; several rows may name the same audio file (a piece paired with several
pictures). Picture ids are `<category>_<file stem>`, clip ids the audio file stem; characters
other than letters, digits, `-`, `_` and `.` become `_`.

Every path in the table must stay inside `<bop_root>`: an absolute path, a `..` step or a
symbolic link leading outside it is refused, so no other file on the machine can reach the
prepared set (or the DVC cache).

`scan_bop(root)` checks every row fully (empty cells, paths leaving the root, missing files, a
category that differs from the picture's folder, unknown categories, duplicate ids) and returns
the pairs of the good rows with every problem it found; `BopSource` then reads the files, and
the `prepare` stage adds any unreadable picture or audio (of good rows and rejected ones) to the
same list. `problems_error` turns the whole list into one ConchError with one problem per line
(`data/raw/annotations.csv: 3 problems:` then the problems).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from conchshell.audio.files import read_audio
from conchshell.data.images import read_picture
from conchshell.data.manifest import Pair
from conchshell.errors import ConchError

ANNOTATIONS = "annotations.csv"
REQUIRED_COLUMNS = ("image", "audio", "category")
#: At most this many problems are spelled out in one error; the rest are counted.
MAX_LISTED = 20


def safe_id(text: str) -> str:
    """A string usable as a file name: anything but letters, digits, `-`, `_`, `.` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def problems_error(where: str | os.PathLike, problems: list[str]) -> ConchError:
    """One ConchError listing `problems` one per line: `<where>: N problems:`, then each, then `... and K more`."""
    lines = [" ".join(str(p).split()) for p in problems[:MAX_LISTED]]  # each problem stays on its line
    more = [f"... and {len(problems) - MAX_LISTED} more"] if len(problems) > MAX_LISTED else []
    noun = "problem" if len(problems) == 1 else "problems"
    return ConchError("\n".join([f"{where}: {len(problems)} {noun}:", *(f"  {line}" for line in lines + more)]))


def confined(root: Path, text: str, what: str) -> tuple[Path | None, str | None]:
    """(the file `text` names under `root`, None), or (None, why) when the path would leave `root`.

    Refused: absolute paths (POSIX or with a drive), any `..` step, and a path that resolves outside
    `root` through a symbolic link.
    """
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or PureWindowsPath(text).drive or PureWindowsPath(text).root:
        return None, f"{what} {text} is an absolute path (paths are relative to {root})"
    if ".." in pure.parts:
        return None, f"{what} {text} steps out of {root} (`..`)"
    path = root.joinpath(*pure.parts)
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        return None, f"{what} {text} leads outside {root} through a symbolic link"
    return path, None


@dataclass
class BopScan:
    """What `scan_bop` found: the usable pairs, the file behind each id, and every problem.

    `rejected_images` / `rejected_audio`: existing files of rejected rows (still decoded by `prepare`,
    so a row's every problem is reported at once).
    """

    root: Path
    pairs: list[Pair] = field(default_factory=list)
    image_paths: dict[str, Path] = field(default_factory=dict)  # picture id → file
    audio_paths: dict[str, Path] = field(default_factory=dict)  # clip id → file
    problems: list[str] = field(default_factory=list)
    rejected_images: list[Path] = field(default_factory=list)
    rejected_audio: list[Path] = field(default_factory=list)

    @property
    def annotations(self) -> Path:
        return self.root / ANNOTATIONS


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConchError(f"{path}: annotations not found (expected {ANNOTATIONS} with columns image, audio, category)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's fault
        raise ConchError(f"{path}: not a readable CSV ({str(err).strip().splitlines()[0]})") from err
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise problems_error(path, [f"missing column {c}" for c in missing])
    if table.empty:
        raise ConchError(f"{path}: no rows")
    return table


def scan_bop(root: str | os.PathLike) -> BopScan:
    """Check `<root>/annotations.csv` and the files it names, without decoding them."""
    scan = BopScan(Path(root))
    if not scan.root.is_dir():
        raise ConchError(
            f"{scan.root}: BOP folder not found (data.bop_root; layout: images/<category>/, audio/, {ANNOTATIONS})"
        )
    table = _read_table(scan.annotations)
    images = scan.root / "images"
    folders = {p.name for p in images.iterdir() if p.is_dir()} if images.is_dir() else set()
    seen_pictures: dict[str, str] = {}  # picture id → the image cell that first claimed it
    seen_clips: dict[str, str] = {}  # clip id → the audio cell that first claimed it
    for row, cells in enumerate(table[list(REQUIRED_COLUMNS)].itertuples(index=False), start=2):
        image, audio, category = (c.strip() for c in cells)
        problems, image_path, audio_path = _check_row(scan.root, folders, image, audio, category)
        pid = safe_id(f"{category}_{_stem(image)}") if image and category else None
        cid = safe_id(_stem(audio)) if audio else None
        if pid is not None and pid in seen_pictures:
            problems.append(f"duplicate picture id {pid} ({image} and {seen_pictures[pid]})")
        elif pid is not None:
            seen_pictures[pid] = image
        if cid is not None and seen_clips.setdefault(cid, audio) != audio:
            problems.append(f"duplicate clip id {cid} ({audio} and {seen_clips[cid]})")
        if problems:
            scan.problems.extend(f"row {row}: {p}" for p in problems)
            scan.rejected_images += [image_path] if image_path is not None and image_path.is_file() else []
            scan.rejected_audio += [audio_path] if audio_path is not None and audio_path.is_file() else []
            continue
        scan.pairs.append(Pair(pid, category, cid))
        scan.image_paths[pid] = image_path
        scan.audio_paths[cid] = audio_path
    return scan


def _stem(cell: str) -> str:
    return PurePosixPath(cell.replace("\\", "/")).stem


def _check_row(
    root: Path, folders: set[str], image: str, audio: str, category: str
) -> tuple[list[str], Path | None, Path | None]:
    """Every problem of one row's cells (each cell checked whatever the others hold), and its two files."""
    problems = []
    empty = [c for c, v in zip(REQUIRED_COLUMNS, (image, audio, category)) if not v]
    if empty:
        problems.append(f"empty {', '.join(empty)}")
    if category and category not in folders:
        problems.append(f"unknown category {category!r} (no folder images/{category}/)")
    image_path = audio_path = None
    if image:
        image_path, why = confined(root, image, "image")
        if why:
            problems.append(why)
        else:
            parts = PurePosixPath(image.replace("\\", "/")).parts
            if len(parts) != 3 or parts[0] != "images":
                problems.append(f"image {image} is not under images/<category>/")
            elif category and parts[1] != category:
                problems.append(f"category {category!r} does not match the picture's folder images/{parts[1]}/")
            if not image_path.is_file():
                problems.append(f"{image_path}: picture not found")
    if audio:
        audio_path, why = confined(root, audio, "audio")
        if why:
            problems.append(why)
        elif not audio_path.is_file():
            problems.append(f"{audio_path}: audio file not found")
    return problems, image_path, audio_path


class BopSource:
    """The BOP dataset as the `prepare` stage reads it: pairs, pictures and pieces."""

    def __init__(self, root: str | os.PathLike, size: int, sample_rate: int, seconds: float):
        self.scan = scan_bop(root)
        self.size, self.sample_rate, self.seconds = size, sample_rate, seconds

    @property
    def where(self) -> Path:
        """The file problems are reported against (annotations.csv)."""
        return self.scan.annotations

    @property
    def pairs(self) -> list[Pair]:
        return self.scan.pairs

    @property
    def problems(self) -> list[str]:
        return list(self.scan.problems)

    def picture(self, pair: Pair) -> np.ndarray:
        """uint8 [size, size, 3]; ConchError naming the file if it cannot be read."""
        return read_picture(self.scan.image_paths[pair.id], self.size)

    def piece(self, clip: str) -> np.ndarray:
        """float32 [sample_rate * seconds], peak 0.95; ConchError naming the file if unusable."""
        return read_audio(self.scan.audio_paths[clip], self.sample_rate, self.seconds)

    def check_rejected(self) -> list[str]:
        """Decode the existing files of rejected rows (not already read for a good row): one problem per bad file."""
        problems = []
        for paths, read in (
            (self.scan.rejected_images, lambda p: read_picture(p, self.size)),
            (self.scan.rejected_audio, lambda p: read_audio(p, self.sample_rate, self.seconds)),
        ):
            used = set(self.scan.image_paths.values()) | set(self.scan.audio_paths.values())
            for path in dict.fromkeys(p for p in paths if p not in used):
                try:
                    read(path)
                except ConchError as err:
                    problems.append(str(err))
        return problems
