"""`conchshell generate --from DIR_OR_LIST -o OUT`: a set of pictures too large to name, streamed, batched,
resumable and sharded over torchrun ranks.

- The set: every picture file under DIR (extensions Pillow reads, sorted), or the paths a LIST file names,
  one a line (relative to the list's folder; blank lines and `#` comments skipped). Picture `a/b.png`
  (relative to DIR or the list's folder) gets OUT/a/b.wav; pictures sharing that name get OUT/a/b.png.wav,
  ...; a picture outside the list's folder gets OUT/<stem>-<hash of its path>.wav.
- Streaming: a DataLoader with `workers` processes decodes the pictures of one batch at a time, so memory is
  bounded by the batch, whatever the set's size.
- Batches and shards: the set is cut into batches of `batch` pictures in order; rank r of a torchrun job
  takes batches r, r + world, ... (disjoint parts, together the set). A batch holds the same pictures with
  one rank or many, so the pieces are the same bytes either way.
- Resume: before writing a wav, its row (picture, wav, category, seed) is appended to
  OUT/.generate/rank-<r>.jsonl; a picture is done when its row is there and its wav exists (wavs are written
  atomically, so an existing one is complete). A run started again skips the done pictures and redoes the
  rest. A wav in OUT that no row claims is somebody else's: refused (ConchError) before any model loads,
  unless `overwrite`, which also redoes every picture.
- OUT/manifest.csv (picture, wav, category, seed; the set's order), written by rank 0 once every rank is done.

A picture that cannot be read is reported by name; the others still get their music (the command exits 2).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader, Dataset

from conchshell.audio.files import write_wav
from conchshell.data.images import read_picture
from conchshell.errors import ConchError
from conchshell.inference.generate import _check_folder, _check_writable, progress_bar
from conchshell.inference.ranks import Dist, barrier
from conchshell.io import atomic_path

RECORDS = ".generate"  # OUT/.generate/rank-<r>.jsonl: the rows of the pieces written so far
MANIFEST_COLUMNS = ["picture", "wav", "category", "seed"]


def picture_extensions() -> set[str]:
    """Every file extension Pillow opens (lower case, with the dot)."""
    from PIL import Image

    Image.init()
    return {ext.lower() for ext, name in Image.registered_extensions().items() if name in Image.OPEN}


def list_pictures(source: Path, out: Path | None = None) -> tuple[list[Path], Path]:
    """(the set's pictures in order, the folder their wav names are relative to) from DIR or a LIST file."""
    if source.is_dir():
        extensions = picture_extensions()
        skip = out.resolve() if out is not None else None
        found = []
        for folder, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if skip is None or (Path(folder) / d).resolve() != skip)
            found += [Path(folder) / f for f in sorted(files) if Path(f).suffix.lower() in extensions]
        pictures, root = found, source
    elif source.is_file():
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ConchError(f"{source}: cannot read the picture list ({err})") from err
        root = source.parent
        pictures = [root / line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        raise ConchError(f"{source}: --from needs a folder of pictures or a list file (one path a line); not found")
    if not pictures:
        raise ConchError(f"{source}: no pictures found (extensions Pillow reads, e.g. .png .jpg)")
    return pictures, root


def wav_names(pictures: list[Path], root: Path) -> list[str]:
    """Each picture's wav, relative to OUT (see the module docstring); never the same name twice."""
    base = []
    for picture in pictures:
        try:
            rel = picture.relative_to(root) if not picture.is_absolute() or root.is_absolute() else None
        except ValueError:
            rel = None
        if rel is None or ".." in rel.parts:
            digest = hashlib.sha256(str(picture).encode()).hexdigest()[:8]
            rel = Path(f"{picture.stem}-{digest}{picture.suffix}")
        base.append(rel)
    counts: dict[str, int] = {}
    for rel in base:
        key = rel.with_suffix(".wav").as_posix().casefold()
        counts[key] = counts.get(key, 0) + 1
    names = []
    for rel in base:
        shared = counts[rel.with_suffix(".wav").as_posix().casefold()] > 1
        names.append((rel.as_posix() + ".wav") if shared else rel.with_suffix(".wav").as_posix())
    return names


def read_records(out: Path) -> dict[str, dict]:
    """wav (relative to OUT) → its row, from every rank's record file (a line a killed writer cut short is
    ignored; a later row for the same wav wins)."""
    rows: dict[str, dict] = {}
    for path in sorted((out / RECORDS).glob("rank-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and set(MANIFEST_COLUMNS) <= set(row):
                rows[row["wav"]] = row
    return rows


@dataclass
class Plan:
    """What a run does: the set, each picture's wav (relative to `out`), and which pictures are already done."""

    pictures: list[Path]
    wavs: list[str]
    out: Path
    done: list[bool]


def plan_collection(source: Path, out: Path, overwrite: bool = False) -> Plan:
    """List the set and check every destination before any model loads (ConchError listing every problem)."""
    if out.suffix.lower() == ".wav" and not out.is_dir():
        raise ConchError(f"{out}: --from writes a folder of pieces; -o must name a folder, not a .wav")
    _check_folder(out, out, single=False)
    pictures, root = list_pictures(source, out)
    wavs = wav_names(pictures, root)
    records = {} if overwrite else read_records(out)
    done, problems = [], []
    for picture, wav in zip(pictures, wavs):
        target = out / wav
        row = records.get(wav)
        exists = os.path.lexists(target)
        if exists and target.is_dir() and not target.is_symlink():
            problems.append(f"{target}: is a folder; a piece is never written over a folder (choose another -o)")
        elif exists and row is None and not overwrite:
            problems.append(
                f"{target}: already exists and no earlier run here wrote it (pass --overwrite, or another -o)"
            )
        done.append(exists and row is not None)
    if problems:
        raise ConchError("\n".join(problems))
    return Plan(pictures, wavs, out, done)


class PictureSet(Dataset):
    """The set's pictures by index → (index, uint8 [H, W, 3] or None, error line or None); read in workers."""

    def __init__(self, pictures: list[Path], image_size: int):
        self.pictures, self.image_size = pictures, image_size

    def __len__(self) -> int:
        return len(self.pictures)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return index, read_picture(self.pictures[index], self.image_size), None
        except ConchError as err:
            return index, None, str(err)


def _items(batch: list) -> list:
    return batch


def shard_batches(plan: Plan, batch: int, env: Dist) -> list[list[int]]:
    """This rank's batches of pending pictures: batches r, r + world, ... of the whole set, done ones left out."""
    starts = range(0, len(plan.pictures), batch)
    mine = [
        list(range(s, min(s + batch, len(plan.pictures)))) for k, s in enumerate(starts) if k % env.world == env.rank
    ]
    return [pending for ids in mine if (pending := [i for i in ids if not plan.done[i]])]


def generate_collection(
    pipeline,
    plan: Plan,
    batch: int,
    seed: int,
    env: Dist,
    workers: int = 2,
    postprocess: Callable[[np.ndarray, int], np.ndarray] | None = None,
    say: Callable[[str, bool], None] = lambda line, error: None,
) -> int:
    """Generate this rank's pending pictures of `plan` → the number of pictures that failed on every rank."""
    import torch

    torch.manual_seed(seed)
    batches = shard_batches(plan, batch, env)
    records = plan.out / RECORDS
    if env.main:
        records.mkdir(parents=True, exist_ok=True)
        _check_writable(plan.out)
    barrier(env)
    loader = DataLoader(
        PictureSet(plan.pictures, pipeline.image_size),
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=_items,
        prefetch_factor=2 if workers else None,
    )
    total = sum(map(len, batches))
    bar = progress_bar(
        total, env.main and total > 0, "generate" if env.world == 1 else f"generate (rank 0 of {env.world})"
    )
    failed = 0
    with open(records / f"rank-{env.rank}.jsonl", "a", encoding="utf-8") as log:
        for items in loader:
            ok = [(i, picture) for i, picture, _ in items if picture is not None]
            for i, _, error in items:
                if error is not None:
                    failed += 1
                    say(error, True)
            if ok:
                waves, labels = pipeline.run(np.stack([picture for _, picture in ok]))
                for (i, _), wave, label in zip(ok, waves, labels.tolist()):
                    if postprocess is not None:
                        wave = postprocess(wave, pipeline.sample_rate)
                    failed += not _write(plan, i, np.asarray(wave, np.float32), pipeline, label, seed, log, say)
            bar.update(len(items))
    bar.close()
    failed = _sum(failed, env)  # waits for every rank
    if env.main:
        write_manifest(plan)
    barrier(env)
    return failed


def _write(plan: Plan, i: int, wave: np.ndarray, pipeline, label: int, seed: int, log, say) -> bool:
    """Record picture i's row, then write its wav atomically → whether it was written (else one line said)."""
    category = pipeline.categories[label]
    row = {"picture": str(plan.pictures[i]), "wav": plan.wavs[i], "category": category, "seed": seed}
    log.write(json.dumps(row) + "\n")
    log.flush()
    target = plan.out / plan.wavs[i]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_wav(target, wave, pipeline.sample_rate)
    except (ConchError, OSError) as err:
        say(f"{target}: could not write the piece ({getattr(err, 'strerror', None) or err})", True)
        return False
    say(f"{plan.pictures[i]} → {target} ({category})", False)
    return True


def _sum(n: int, env: Dist) -> int:
    if env.world == 1:
        return n
    import torch
    import torch.distributed as dist

    count = torch.tensor([n], device=env.device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(count)
    return int(count.item())


def write_manifest(plan: Plan) -> None:
    """OUT/manifest.csv: a row per picture whose piece exists, in the set's order (atomically)."""
    rows = read_records(plan.out)
    kept = []
    for picture, wav in zip(plan.pictures, plan.wavs):
        row = rows.get(wav)
        if row is not None and (plan.out / wav).is_file():
            kept.append(row)
    with atomic_path(plan.out / "manifest.csv") as tmp:
        pd.DataFrame(kept, columns=MANIFEST_COLUMNS).to_csv(tmp, index=False)
