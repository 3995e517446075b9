"""The music scores of a split, gathered while `evaluate_split` generates it (conchshell/evaluation/music/metrics.py).

`MusicEvaluation.split(name)` returns a callable that `evaluate_split(..., on_piece=...)` calls once per
picture with its ground truth, generated piece and VQ-VAE reconstruction (mono float [T] each). Each
piece is transcribed (conchshell/evaluation/music/transcription.py): ground truth and reconstruction through the on-disk
cache (they repeat across experiments and across the pictures that share a piece), the generated piece
afresh; a transcription already made in this run is reused by content. The split's `MusicScores` and
every picture's three transcriptions (for the piano rolls) are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from conchshell.data.demo import demo_score
from conchshell.data.manifest import clip_id
from conchshell.evaluation.music.metrics import MusicScores, Notes
from conchshell.evaluation.music.transcription import PianoTranscriber, TranscriptionCache, audio_key


@dataclass
class PieceNotes:
    """One picture's transcriptions: ground truth, generated, reconstruction."""

    ground_truth: Notes
    generated: Notes
    reconstruction: Notes


@dataclass
class MusicEvaluation:
    """Transcribe and score every evaluated picture; `true_notes` maps a picture id to the notes of its ground
    truth when they are known (the demo data), for the transcriber's own onset F1."""

    transcriber: PianoTranscriber
    sample_rate: int
    cache: TranscriptionCache | None = None
    true_notes: dict[str, Notes] = field(default_factory=dict)
    splits: dict[str, MusicScores] = field(default_factory=dict)
    notes: dict[str, PieceNotes] = field(default_factory=dict)
    seconds: float = 0.0  # time spent transcribing
    transcribed: int = 0  # pieces run through the model (not found in the cache or this run's memory)
    _memory: dict[str, Notes] = field(default_factory=dict)

    def split(self, name: str):
        """The per-picture callback for split `name`: (id, category, ground_truth [T], generated [T], reconstruction [T])."""
        scores = self.splits.setdefault(name, MusicScores(name))

        def on_piece(
            id: str, category: str, ground_truth: np.ndarray, generated: np.ndarray, reconstruction: np.ndarray
        ) -> None:
            truth, gen, rec = self.transcribe([ground_truth, generated, reconstruction], cached=[True, False, True])
            self.notes[id] = PieceNotes(truth, gen, rec)
            scores.add(id, category, truth, gen, rec, self.true_notes.get(id))

        return on_piece

    def transcribe(self, waves: list[np.ndarray], cached: list[bool]) -> list[Notes]:
        """Notes of each wave [T]: from this run's memory, else the disk cache (where `cached`), else the model."""
        start = time.perf_counter()
        keys = [audio_key(w, self.sample_rate, self.transcriber.settings_sha256) for w in waves]
        todo: dict[str, int] = {}  # key → index of the first wave with it, for what the model must transcribe
        for i, key in enumerate(keys):
            if key not in self._memory and cached[i] and self.cache is not None:
                notes = self.cache.get(key)
                if notes is not None:
                    self._memory[key] = notes
            if key not in self._memory:
                todo.setdefault(key, i)
        to_cache = {k for k, c in zip(keys, cached) if c and self.cache is not None}
        for key, notes in zip(
            todo, self.transcriber.transcribe_many([waves[i] for i in todo.values()], self.sample_rate)
        ):
            self._memory[key] = notes
            if key in to_cache:
                self.cache.put(key, notes)
        self.transcribed += len(todo)
        self.seconds += time.perf_counter() - start
        return [self._memory[k] for k in keys]

    def flat(self) -> dict[str, float]:
        """metrics/eval.json keys of every split."""
        out = {}
        for scores in self.splits.values():
            out.update(scores.flat())
        return out

    def per_category(self, split: str) -> list[dict]:
        return self.splits[split].per_category() if split in self.splits else []


def demo_true_notes(manifest: pd.DataFrame, seed: int, seconds: float) -> dict[str, Notes]:
    """Picture id → the notes of the demo piece it is paired with, as synthesised (conchshell.data.demo.demo_score),
    cut to the `seconds` the piece lasts."""
    clips: dict[str, Notes] = {}
    out = {}
    for pid, category, audio in zip(manifest["id"], manifest["category"], manifest["audio"]):
        clip = clip_id(audio)
        if clip not in clips:
            s = demo_score(clip, category, seed, seconds)
            clips[clip] = Notes.from_score(s.onset, s.duration, s.pitch, s.velocity, seconds)
        out[pid] = clips[clip]
    return out
