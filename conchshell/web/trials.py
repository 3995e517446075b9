"""The listening test's pool of samples and the choice of each blind trial.

A sample is one val picture of the evaluate stage with its three pieces in samples/:
`<id>_generated.wav`, `<id>_ground_truth.wav`, `<id>_reconstruction.wav`; its picture is the manifest's
`image` in data/prepared. A trial pairs a sample with one system; the rater sees only an opaque token.

The pool's `experiment` id (`experiment_id`) is a hash of the pieces (SHA-256 over the wav files' names and bytes,
first 12 hex digits): ratings carry it, and the `listening` stage summarises only the ratings of the
samples now in the workspace, so each DVC experiment's listening metrics come from its own pieces.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

from conchshell.data.manifest import read_manifest
from conchshell.errors import ConchError
from conchshell.evaluation.listening.ratings import SYSTEMS


def experiment_id(samples_dir: str | os.PathLike) -> str:
    """12 hex digits of SHA-256 over every `*.wav` in `samples_dir` (sorted names, then bytes)."""
    digest = hashlib.sha256()
    for wav in sorted(Path(samples_dir).glob("*.wav")):
        digest.update(wav.name.encode())
        digest.update(wav.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class SamplePool:
    """The samples a listening test draws from: ids with all three pieces and a picture."""

    samples_dir: Path
    pictures: dict[str, Path]
    experiment: str
    categories: dict[str, str]

    @property
    def ids(self) -> list[str]:
        return sorted(self.pictures)

    def audio(self, sample: str, system: str) -> Path:
        return self.samples_dir / f"{sample}_{system}.wav"

    @property
    def size(self) -> int:
        """Trials per rater: every (sample, system) pair once."""
        return len(self.pictures) * len(SYSTEMS)

    def next_pair(
        self, taken: set[tuple[str, str]], counts: dict[tuple[str, str], int], rng: random.Random
    ) -> tuple[str, str] | None:
        """A random (sample, system) not in `taken` (the rater's earlier trials), among the least-rated ones
        by `counts` (ratings per pair, all raters); None when the rater has met every pair."""
        left = [(s, system) for s in self.ids for system in SYSTEMS if (s, system) not in taken]
        if not left:
            return None
        fewest = min(counts.get(pair, 0) for pair in left)
        return rng.choice([pair for pair in left if counts.get(pair, 0) == fewest])


def load_pool(samples_dir: str | os.PathLike, prepared_dir: str | os.PathLike) -> SamplePool:
    """The pool from the evaluate stage's samples/ and data/prepared; ConchError when there is none."""
    samples_dir, prepared_dir = Path(samples_dir), Path(prepared_dir)
    if not samples_dir.is_dir():
        raise ConchError(f"{samples_dir}: no samples (run `dvc repro evaluate`, or give --samples DIR)")
    manifest = read_manifest(prepared_dir)
    images = dict(zip(manifest["id"], manifest["image"]))
    pictures = {}
    for wav in samples_dir.glob(f"*_{SYSTEMS[0]}.wav"):
        sample = wav.name[: -len(f"_{SYSTEMS[0]}.wav")]
        if sample in images and all((samples_dir / f"{sample}_{s}.wav").is_file() for s in SYSTEMS):
            pictures[sample] = prepared_dir / images[sample]
    if not pictures:
        raise ConchError(f"{samples_dir}: no complete samples (<id>_{{{','.join(SYSTEMS)}}}.wav with a manifest id)")
    categories = {s: c for s, c in zip(manifest["id"], manifest["category"]) if s in pictures}
    return SamplePool(samples_dir, pictures, experiment_id(samples_dir), categories)
