"""Music-aware scores of a generated piece against its ground truth, computed on note transcriptions.

A piece is a list of notes (`Notes`: onset and offset in seconds, MIDI pitch, amplitude), from the piano
transcriber (conchshell/evaluation/music/transcription.py) or, for the demo data, from the score the piece was synthesised
from. For a reference R (ground truth) and an estimate E (generated piece or VQ-VAE reconstruction):

- **pitch_class_cosine** = h_R·h_E / (‖h_R‖ ‖h_E‖), with h[c] = Σ_{notes n with pitch mod 12 = c} (offset_n − onset_n),
  the duration-weighted pitch-class histogram [12];
- **key**: Krumhansl–Schmuckler: the key whose Krumhansl–Kessler profile (rotated to each of the 12 tonics,
  major and minor) has the highest Pearson correlation with h; **key_agreement** = [key(R) = key(E)],
  **key_weighted** = mir_eval.key.weighted_score(key(R), key(E)) (1 same key, 0.5 fifth above, 0.3 relative,
  0.2 parallel, 0 otherwise);
- **onset_f1**: note F1 of mir_eval.transcription.precision_recall_f1_overlap with offsets ignored: an
  estimated note matches a reference note of the same pitch (±50 cents) whose onset is within 50 ms;
- **note_density_ratio** = (|E| / seconds) / (|R| / seconds) = |E| / |R| (1 is ideal);
- **pitch_range_ratio** = span(E) / span(R), span = highest − lowest MIDI pitch + 1 (keys spanned; 1 is ideal).

Silence: when R has no notes every score is undefined (NaN, skipped in the means, never faked); when R has
notes and E has none, every score takes its worst value (cosine 0, no key agreement, F1 0, ratios 0) and
the piece is counted in `silent`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from conchshell.evaluation.piece_scores import ScoredPiece, by_category, finite_mean, means

NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MUSIC_METRICS = (
    "pitch_class_cosine",
    "key_agreement",
    "key_weighted",
    "onset_f1",
    "note_density_ratio",
    "pitch_range_ratio",
)
NO_KEY = "X"  # mir_eval's "no key" (a piece without notes)

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Notes:
    """N notes as parallel arrays: onset, offset float [N] (seconds), pitch int [N] (MIDI), amplitude float [N]."""

    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    amplitude: np.ndarray

    def __post_init__(self):
        order = np.lexsort((np.asarray(self.pitch), np.asarray(self.onset)))  # by onset, then pitch
        object.__setattr__(self, "onset", np.asarray(self.onset, np.float64)[order])
        object.__setattr__(self, "offset", np.asarray(self.offset, np.float64)[order])
        object.__setattr__(self, "pitch", np.asarray(self.pitch, np.int64)[order])
        object.__setattr__(self, "amplitude", np.asarray(self.amplitude, np.float64)[order])

    @classmethod
    def empty(cls) -> Notes:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))

    @classmethod
    def from_score(cls, onset, duration, pitch, velocity, seconds: float | None = None) -> Notes:
        """Notes from a score's onset [N], duration [N], pitch [N], velocity [N]; with `seconds`, only what sounds in [0, seconds)."""
        onset, duration = np.asarray(onset, np.float64), np.asarray(duration, np.float64)
        offset = onset + duration
        keep = np.ones(len(onset), bool) if seconds is None else onset < seconds
        if seconds is not None:
            offset = np.minimum(offset, seconds)
        return cls(onset[keep], offset[keep], np.asarray(pitch)[keep], np.asarray(velocity, np.float64)[keep])

    def __len__(self) -> int:
        return len(self.onset)

    def transposed(self, semitones: int) -> Notes:
        return Notes(self.onset, self.offset, self.pitch + semitones, self.amplitude)


# -- per-piece descriptors -------------------------------------------------------------------------------
def pitch_class_histogram(notes: Notes) -> np.ndarray:
    """Duration-weighted pitch-class histogram [12] (seconds per pitch class; C = 0)."""
    durations = np.clip(notes.offset - notes.onset, 0.0, None)
    return np.bincount(notes.pitch % 12, weights=durations, minlength=12).astype(np.float64)


def estimate_key(notes: Notes) -> str:
    """Krumhansl–Schmuckler key of `notes`, e.g. 'C major', 'E minor'; 'X' when it has no (or flat) pitch content."""
    hist = pitch_class_histogram(notes)
    if hist.sum() <= 0 or np.ptp(hist) == 0:
        return NO_KEY
    best, best_r = NO_KEY, -math.inf
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best, best_r = f"{NAMES[tonic]} {mode}", r
    return best


def pitch_span(notes: Notes) -> int:
    """Highest − lowest MIDI pitch + 1 (number of keys spanned); 0 without notes."""
    return int(notes.pitch.max() - notes.pitch.min() + 1) if len(notes) else 0


# -- reference vs estimate ---------------------------------------------------------------------------------
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two non-negative vectors; NaN when the first is zero, 0 when only the second is."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0:
        return math.nan
    if nb == 0:
        return 0.0
    return min(1.0, float(np.dot(a, b) / (na * nb)))  # rounding can put a·a / ‖a‖² a hair above 1


def key_scores(reference: str, estimate: str) -> tuple[float, float]:
    """(agreement 0/1, mir_eval weighted score) of two key strings; NaN for both when the reference has no key."""
    import mir_eval

    if reference == NO_KEY:
        return math.nan, math.nan
    return float(reference == estimate), float(mir_eval.key.weighted_score(reference, estimate))


def onset_f1(reference: Notes, estimate: Notes, tolerance: float = 0.05) -> float:
    """Note-onset F1 (mir_eval.transcription, same pitch within 50 cents, onsets within `tolerance` s); NaN without reference notes."""
    import mir_eval

    if len(reference) == 0:
        return math.nan
    if len(estimate) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns about zero-length notes it still handles
        _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
            _intervals(reference),
            _hertz(reference),
            _intervals(estimate),
            _hertz(estimate),
            onset_tolerance=tolerance,
            pitch_tolerance=50.0,
            offset_ratio=None,
        )
    return float(f1)


def _intervals(notes: Notes) -> np.ndarray:
    """[N,2] onset/offset with offsets strictly after onsets (mir_eval rejects zero-length notes)."""
    return np.stack([notes.onset, np.maximum(notes.offset, notes.onset + 1e-3)], axis=1)


def _hertz(notes: Notes) -> np.ndarray:
    return 440.0 * 2.0 ** ((notes.pitch.astype(np.float64) - 69.0) / 12.0)


def _ratio(estimate: float, reference: float) -> float:
    return estimate / reference if reference > 0 else math.nan


def compare(reference: Notes, estimate: Notes) -> dict[str, float]:
    """Every score in MUSIC_METRICS of `estimate` against `reference` (module doc)."""
    agreement, weighted = key_scores(estimate_key(reference), estimate_key(estimate))
    return {
        "pitch_class_cosine": cosine(pitch_class_histogram(reference), pitch_class_histogram(estimate)),
        "key_agreement": agreement,
        "key_weighted": weighted,
        "onset_f1": onset_f1(reference, estimate),
        "note_density_ratio": _ratio(len(estimate), len(reference)),
        "pitch_range_ratio": _ratio(pitch_span(estimate), pitch_span(reference)),
    }


# -- a split's pieces --------------------------------------------------------------------------------------
@dataclass
class MusicPiece(ScoredPiece):
    """One picture's MUSIC_METRICS (`ScoredPiece`), and whether its generated piece is silent (+ transcriber check)."""

    silent: bool  # the generated piece transcribed to no notes
    transcriber_f1: float = math.nan  # the ground truth's transcription against its true notes (demo only)


@dataclass
class MusicScores:
    """All pieces of one split; `flat()` gives the metrics/eval.json keys, `per_category()` the table rows."""

    split: str
    pieces: list[MusicPiece] = field(default_factory=list)

    def add(
        self,
        id: str,
        category: str,
        truth: Notes,
        generated: Notes,
        reconstruction: Notes,
        true_notes: Notes | None = None,
    ) -> MusicPiece:
        """Score one picture's transcriptions; `true_notes` are the notes the ground truth was made from, when known."""
        piece = MusicPiece(
            id,
            category,
            compare(truth, generated),
            compare(truth, reconstruction),
            len(generated) == 0 and len(truth) > 0,
        )
        if true_notes is not None:
            piece.transcriber_f1 = onset_f1(true_notes, truth)
        self.pieces.append(piece)
        return piece

    def flat(self) -> dict[str, float]:
        """`<split>.<metric>`, `<split>.ceiling.<metric>`, `<split>.silent_generated` and, on the demo,
        `<split>.transcriber_onset_f1`."""
        s = self.split
        out = means(self.pieces, MUSIC_METRICS, f"{s}.")
        out.update(means(self.pieces, MUSIC_METRICS, f"{s}.ceiling.", ceiling=True))
        out[f"{s}.silent_generated"] = sum(p.silent for p in self.pieces)
        if any(math.isfinite(p.transcriber_f1) for p in self.pieces):
            out[f"{s}.transcriber_onset_f1"] = finite_mean(p.transcriber_f1 for p in self.pieces)
        return out

    def per_category(self) -> list[dict]:
        """One row per category: pieces and the mean generated scores (plots/eval_music_per_category.csv)."""
        return [
            {
                "split": self.split,
                "category": category,
                "pieces": len(group),
                **means(group, MUSIC_METRICS),
                **means(group, MUSIC_METRICS, "ceiling_", ceiling=True),
            }
            for category, group in by_category(self.pieces)
        ]
