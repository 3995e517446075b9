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

`scan_bop(root)` checks the table (columns, empty cells, missing files, a category that differs
from the picture's folder, duplicate ids) and returns the pairs with every problem it found;
`BopSource` then reads the files, and the `prepare` stage adds any unreadable picture or audio to
the same list. `problems_error` turns the whole list into one ConchError whose first words
summarise it (`data/raw/annotations.csv: 3 problems: ...`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from conchshell.data.audio import read_audio
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
    """One ConchError listing `problems` on one line: `<where>: N problems: a; b; ... and K more`."""
    shown = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    noun = "problem" if len(problems) == 1 else "problems"
    return ConchError(f"{where}: {len(problems)} {noun}: {shown}{more}")


@dataclass
class BopScan:
    """What `scan_bop` found: the usable pairs, the file behind each id, and every problem."""

    root: Path
    pairs: list[Pair] = field(default_factory=list)
    image_paths: dict[str, Path] = field(default_factory=dict)  # picture id → file
    audio_paths: dict[str, Path] = field(default_factory=dict)  # clip id → file
    problems: list[str] = field(default_factory=list)

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
        raise ConchError(f"{scan.root}: BOP folder not found (data.bop_root; layout: images/<category>/, audio/, {ANNOTATIONS})")
    table = _read_table(scan.annotations)
    folders = {p.name for p in (scan.root / "images").iterdir() if p.is_dir()} if (scan.root / "images").is_dir() else set()
    audio_source: dict[str, str] = {}
    for row, (image, audio, category) in enumerate(table[list(REQUIRED_COLUMNS)].itertuples(index=False), start=2):
        where = f"row {row}"
        image, audio, category = image.strip(), audio.strip(), category.strip()
        if not (image and audio and category):
            empty = [c for c, v in zip(REQUIRED_COLUMNS, (image, audio, category)) if not v]
            scan.problems.append(f"{where}: empty {', '.join(empty)}")
            continue
        ok = True
        parts = PurePosixPath(image.replace("\\", "/")).parts
        if len(parts) != 3 or parts[0] != "images":
            scan.problems.append(f"{where}: image {image} is not under images/<category>/")
            ok = False
        elif parts[1] != category:
            scan.problems.append(f"{where}: category {category!r} does not match the picture's folder images/{parts[1]}/")
            ok = False
        if category not in folders:
            scan.problems.append(f"{where}: unknown category {category!r} (no folder images/{category}/)")
            ok = False
        image_path, audio_path = scan.root / image, scan.root / audio
        if not image_path.is_file():
            scan.problems.append(f"{image_path}: picture not found ({where})")
            ok = False
        if not audio_path.is_file():
            scan.problems.append(f"{audio_path}: audio file not found ({where})")
            ok = False
        pid = safe_id(f"{category}_{PurePosixPath(image).stem}")
        cid = safe_id(PurePosixPath(audio.replace("\\", "/")).stem)
        if pid in scan.image_paths:
            scan.problems.append(f"{where}: duplicate picture id {pid} ({image} and {scan.image_paths[pid].relative_to(scan.root)})")
            ok = False
        if audio_source.setdefault(cid, audio) != audio:
            scan.problems.append(f"{where}: duplicate clip id {cid} ({audio} and {audio_source[cid]})")
            ok = False
        if ok:
            scan.pairs.append(Pair(pid, category, cid))
            scan.image_paths[pid] = image_path
            scan.audio_paths[cid] = audio_path
    return scan


class BopSource:
    """The BOP dataset as the `prepare` stage reads it: pairs, pictures and pieces."""

    def __init__(self, root: str | os.PathLike, size: int = 224, sample_rate: int = 16000, seconds: float = 8.0):
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
