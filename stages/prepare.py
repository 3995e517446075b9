"""Stage `prepare`: build data/prepared/ from the demo set (data.source=demo) or BOP (data.source=bop).

Writes, atomically as one folder: images/<id>.png (RGB, image_size²), audio/<clip_id>.wav (mono float32,
sample_rate, `seconds` long, peak 0.95), manifest.csv (with the demo pictures' attributes) and
categories.json (conchshell.data.manifest).
Every problem (the table, an impossible split, each unreadable file) is collected and reported together,
one per line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from conchshell import paths
from conchshell.audio.files import write_wav
from conchshell.config import Config, load_config
from conchshell.data.bop import BopSource, problems_error
from conchshell.data.demo import DemoSource
from conchshell.data.manifest import MANIFEST_NAME, build_manifest, split_problems, write_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.io import atomic_path, guard_temporaries, sweep_folders


def open_source(cfg: Config) -> DemoSource | BopSource:
    d = cfg.data
    if d.source == "demo":
        sizes = (d.pictures_per_category, d.pieces_per_category, d.image_size)
        return DemoSource(cfg.seed, *sizes, sample_rate=d.sample_rate, seconds=d.seconds)
    return BopSource(d.bop_root, d.image_size, d.sample_rate, d.seconds)


def prepare(cfg: Config, out: Path) -> int:
    """Write the prepared set for `cfg` into `out` (replaced atomically); returns the number of pictures.

    Every problem (table, split, unreadable files) is collected first and reported together, one per line.
    """
    _check_replaceable(out)
    source = open_source(cfg)
    problems = source.problems
    if not source.pairs and not problems:
        raise ConchError(f"{source.where}: no pictures to prepare")
    problems += split_problems(source.pairs, cfg.data.val_fraction, cfg.seed)
    if isinstance(source, BopSource):
        problems += source.check_rejected()
    with atomic_path(out, replace_dir=True) as tmp:
        (tmp / "images").mkdir(parents=True)
        (tmp / "audio").mkdir()
        attributes = {} if isinstance(source, DemoSource) else None
        for pair in tqdm(source.pairs, desc="pictures", unit="pic", file=sys.stderr):
            try:
                picture = source.picture(pair)
                Image.fromarray(picture, "RGB").save(tmp / "images" / f"{pair.id}.png")
            except ConchError as err:
                problems.append(str(err))
                continue
            if attributes is not None:
                attributes[pair.id] = source.attributes(pair, picture)
        clips = list(dict.fromkeys(p.clip_id for p in source.pairs))
        for clip in tqdm(clips, desc="pieces", unit="clip", file=sys.stderr):
            try:
                write_wav(tmp / "audio" / f"{clip}.wav", source.piece(clip), cfg.data.sample_rate)
            except ConchError as err:
                problems.append(str(err))
        if problems:
            raise problems_error(source.where, problems)
        write_manifest(tmp, build_manifest(source.pairs, cfg.data.val_fraction, cfg.seed, attributes))
    return len(source.pairs)


def _check_replaceable(out: Path) -> None:
    """`out` may be replaced only if it is absent, empty, or an earlier prepared set (it has a manifest)."""
    if out.exists() and not out.is_dir():
        raise ConchError(f"{out}: exists and is not a folder; refusing to replace it")
    if out.is_dir() and not (out / MANIFEST_NAME).is_file() and any(out.iterdir()):
        raise ConchError(f"{out}: is a folder that is not a prepared set (no {MANIFEST_NAME}); refusing to replace it")


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--out", default=str(paths.PREPARED), help="output folder (default data/prepared)")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(Path(args.out).parent)  # a killed run's temporaries
    cfg = load_config(args.params)
    count = prepare(cfg, Path(args.out))
    print(f"prepare: {count} pictures from {cfg.data.source} → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
