"""`data/prepared/manifest.csv`: one row per picture, and the train/val split.

Columns, in order: `id`, `category`, `label` (index into the sorted category names), `split`
(train | val), `image` (`images/<id>.png`), `audio` (`audio/<clip_id>.wav`); paths are relative to
the prepared folder. `categories.json` holds the sorted category names (label i = categories[i]).
Optionally (the demo data) four attribute columns follow: `brightness` (the picture's mean luma, 0-1),
`objects` (things drawn), and the paired score's `pitch_centre` (mean MIDI pitch) and `notes_per_second`;
a manifest without them (older demo sets, BOP) still reads, and the following scores are then skipped.

The split is stratified by category and grouped by piece: a clip and all pictures paired with it
land in the same split, every category with at least two clips has at least one val clip, and each
category's val share of pictures is as close to `val_fraction` as whole clips allow (the rounding
is carried from one category to the next so the overall share stays on target).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from conchshell.errors import ConchError

COLUMNS = ["id", "category", "label", "split", "image", "audio"]
ATTRIBUTES = ["brightness", "objects", "pitch_centre", "notes_per_second"]
SPLITS = ("train", "val")
MANIFEST_NAME = "manifest.csv"
CATEGORIES_NAME = "categories.json"


@dataclass(frozen=True)
class Pair:
    """One picture and the clip it is paired with (several pictures may share a clip)."""

    id: str
    category: str
    clip_id: str


def clip_id(audio_relpath: str | os.PathLike) -> str:
    """The clip id of a manifest `audio` entry: its file stem (`audio/beach_piece_003.wav` → `beach_piece_003`)."""
    return PurePosixPath(str(audio_relpath).replace("\\", "/")).stem


def read_manifest(prepared_dir: str | os.PathLike) -> pd.DataFrame:
    """Read and validate `<prepared_dir>/manifest.csv` → DataFrame with COLUMNS (label int, rest str)."""
    path = Path(prepared_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ConchError(f"{path}: manifest not found (run `dvc repro prepare`)")
    try:
        df = pd.read_csv(path, dtype={c: str for c in COLUMNS if c != "label"}, keep_default_na=False)
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's fault
        raise ConchError(f"{path}: not a readable CSV ({err})") from err
    if list(df.columns) not in (COLUMNS, COLUMNS + ATTRIBUTES):
        raise ConchError(
            f"{path}: columns must be {', '.join(COLUMNS)} (optionally then {', '.join(ATTRIBUTES)}); "
            f"found {', '.join(map(str, df.columns))}"
        )
    if has_attributes(df) and not all(pd.api.types.is_numeric_dtype(df[c]) for c in ATTRIBUTES):
        raise ConchError(f"{path}: columns {', '.join(ATTRIBUTES)} must hold numbers")
    if not pd.api.types.is_integer_dtype(df["label"]):
        raise ConchError(f"{path}: column label must hold integers")
    bad = sorted(set(df["split"]) - set(SPLITS))
    if bad:
        raise ConchError(f"{path}: column split must be train or val, found {bad[0]!r}")
    if df["id"].duplicated().any():
        raise ConchError(f"{path}: duplicate id {df['id'][df['id'].duplicated()].iloc[0]!r}")
    return df


def has_attributes(manifest: pd.DataFrame) -> bool:
    """Whether `manifest` records each picture's ATTRIBUTES (the demo data does)."""
    return all(c in manifest.columns for c in ATTRIBUTES)


def categories(prepared_dir: str | os.PathLike) -> list[str]:
    """The sorted category names of `<prepared_dir>/categories.json`."""
    path = Path(prepared_dir) / CATEGORIES_NAME
    if not path.is_file():
        raise ConchError(f"{path}: categories not found (run `dvc repro prepare`)")
    try:
        names = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConchError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from err
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or names != sorted(set(names)):
        raise ConchError(f"{path}: expected a sorted list of distinct category names")
    return names


def split_by_piece(pairs: list[Pair], val_fraction: float, seed: int) -> dict[str, str]:
    """Assign every clip to train or val: {clip_id: split}, stratified by category, fixed by `seed`."""
    by_category: dict[str, Counter] = {}
    for pair in pairs:
        by_category.setdefault(pair.category, Counter())[pair.clip_id] += 1
    splits: dict[str, str] = {}
    carry = 0.0
    for index, category in enumerate(sorted(by_category)):
        counts = by_category[category]
        clips = sorted(counts)
        rng = np.random.default_rng([seed, index])
        order = [clips[i] for i in rng.permutation(len(clips))]
        n_val = 0
        if len(order) >= 2:
            target = val_fraction * sum(counts.values()) + carry
            cumulative = np.cumsum([counts[c] for c in order])[:-1]  # 1 .. n-1 clips in val
            n_val = int(np.argmin(np.abs(cumulative - target))) + 1
            carry = target - cumulative[n_val - 1]
        for position, clip in enumerate(order):
            splits[clip] = "val" if position < n_val else "train"
    return splits


def split_problems(pairs: list[Pair], val_fraction: float, seed: int) -> list[str]:
    """Why `pairs` give no usable train/val split (an empty list when they do).

    A piece and all its pictures stay in one split, so a category with a single piece puts
    everything in train; when every category does, val is empty and train_tcnn / evaluate cannot run.
    """
    splits = split_by_piece(pairs, val_fraction, seed)
    if not pairs or "val" in splits.values():
        return []
    pieces = Counter(category for category, _ in {(p.category, p.clip_id) for p in pairs})
    listed = ", ".join(f"{c}: {n}" for c, n in sorted(pieces.items()))
    return [
        f"the val split would be empty: every category has a single piece ({listed}); a piece and its pictures "
        "stay in one split, so at least one category needs two or more pieces"
    ]


def build_manifest(
    pairs: list[Pair], val_fraction: float, seed: int, attributes: dict[str, dict[str, float]] | None = None
) -> pd.DataFrame:
    """The manifest rows for `pairs` (in their order), with labels from the sorted category names; with
    `attributes` ({picture id: {ATTRIBUTES name: value}}), its four columns too."""
    names = sorted({p.category for p in pairs})
    splits = split_by_piece(pairs, val_fraction, seed)
    rows = [
        (p.id, p.category, names.index(p.category), splits[p.clip_id], f"images/{p.id}.png", f"audio/{p.clip_id}.wav")
        for p in pairs
    ]
    if attributes is None:
        return pd.DataFrame(rows, columns=COLUMNS)
    rows = [row + tuple(attributes[p.id][c] for c in ATTRIBUTES) for row, p in zip(rows, pairs)]
    return pd.DataFrame(rows, columns=COLUMNS + ATTRIBUTES)


def write_manifest(prepared_dir: str | os.PathLike, manifest: pd.DataFrame) -> None:
    """Write manifest.csv and categories.json into `prepared_dir` (the caller makes the folder atomic)."""
    prepared_dir = Path(prepared_dir)
    manifest.to_csv(prepared_dir / MANIFEST_NAME, index=False)
    names = sorted(set(manifest["category"]))
    (prepared_dir / CATEGORIES_NAME).write_text(json.dumps(names, indent=1) + "\n")
