"""Stage `prepare`: build data/prepared/ from the demo set (data.source=demo) or BOP (data.source=bop).

Writes, atomically as one folder: images/<id>.png (RGB, image_size²), audio/<clip_id>.wav (mono float32,
sample_rate, `seconds` long, peak 0.95), manifest.csv and categories.json (conchshell.data.manifest).
Every unreadable BOP file is collected and reported together in one error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from conchshell import paths
from conchshell.config import Config, load_config
from conchshell.data.audio import write_wav
from conchshell.data.bop import BopSource, problems_error
from conchshell.data.demo import DemoSource
from conchshell.data.manifest import build_manifest, write_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.io import atomic_path


def open_source(cfg: Config) -> DemoSource | BopSource:
    d = cfg.data
    if d.source == "demo":
        return DemoSource(cfg.seed, d.pictures_per_category, d.pieces_per_category, d.image_size, d.sample_rate, d.seconds)
    return BopSource(d.bop_root, d.image_size, d.sample_rate, d.seconds)


def prepare(cfg: Config, out: Path) -> int:
    """Write the prepared set for `cfg` into `out` (replaced atomically); returns the number of pictures."""
    source = open_source(cfg)
    problems = source.problems
    with atomic_path(out) as tmp:
        (tmp / "images").mkdir(parents=True)
        (tmp / "audio").mkdir()
        for pair in tqdm(source.pairs, desc="pictures", unit="pic", file=sys.stderr):
            try:
                Image.fromarray(source.picture(pair), "RGB").save(tmp / "images" / f"{pair.id}.png")
            except ConchError as err:
                problems.append(str(err))
        clips = list(dict.fromkeys(p.clip_id for p in source.pairs))
        for clip in tqdm(clips, desc="pieces", unit="clip", file=sys.stderr):
            try:
                write_wav(tmp / "audio" / f"{clip}.wav", source.piece(clip), cfg.data.sample_rate)
            except ConchError as err:
                problems.append(str(err))
        if problems:
            raise problems_error(source.where, problems)
        if not source.pairs:
            raise ConchError(f"{source.where}: no pictures to prepare")
        write_manifest(tmp, build_manifest(source.pairs, cfg.data.val_fraction, cfg.seed))
    return len(source.pairs)


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--out", default=str(paths.PREPARED), help="output folder (default data/prepared)")
    args = parser.parse_args(argv)
    cfg = load_config(args.params)
    count = prepare(cfg, Path(args.out))
    print(f"prepare: {count} pictures from {cfg.data.source} → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
