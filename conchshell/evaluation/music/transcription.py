"""Piano transcription: a mono wave → a list of notes, with Spotify's basic-pitch (Bittner et al., ICASSP 2022).

basic-pitch is a small polyphonic note transcriber (a harmonic-stacked CQT and a few convolutions; 88 piano
keys, 86 frames/s). Its wheel ships the trained network as an ONNX file, which we run with onnxruntime on
the CPU (TensorFlow, which the package's metadata asks for, is kept out of the environment: pyproject.toml).

    wave [T] at any rate ─resample─► 22050 Hz ─windows of 43844 samples, 30 frames overlap─► ONNX model
      ─► note / onset activations [W,172,88] ─unwrap─► [F,88] ─basic-pitch's note decoding─► Notes [N]

The framing and unwrapping follow basic-pitch's own `run_inference` (same window, hop and overlap, so its
frame-to-time calibration `model_frames_to_time` holds); the decoding is its `output_to_notes_polyphonic`
with its default thresholds. The ONNX session runs on one thread: the result does not depend on the machine.

`TranscriptionCache` keeps transcriptions on disk keyed by a hash of the audio's samples and the
transcriber's settings, so ground-truth pieces are transcribed once across experiments.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torchaudio

from conchshell.evaluation.music.metrics import Notes
from conchshell.io import atomic_path

MODEL_RATE = 22050  # basic-pitch's audio rate
FFT_HOP = 256  # samples per output frame
WINDOW = MODEL_RATE * 2 - FFT_HOP  # 43844 samples per model call (2 s less one hop)
OVERLAP_FRAMES = 30  # frames shared by neighbouring windows; half of them is cut from each side
OVERLAP = OVERLAP_FRAMES * FFT_HOP
HOP = WINDOW - OVERLAP
FRAMES_PER_SECOND = MODEL_RATE // FFT_HOP  # 86
LOWEST_MIDI = 21  # A0, the model's first key


def _basic_pitch():
    """Import basic-pitch quietly: on import it logs one warning per missing optional backend (TF, CoreML, TFLite)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        import basic_pitch
        from basic_pitch import note_creation
    finally:
        logging.disable(previous)
    return basic_pitch, note_creation


class PianoTranscriber:
    """basic-pitch through onnxruntime: `transcribe(wave [T], rate) -> Notes`, `transcribe_many([...]) -> [Notes]`.

    Thresholds are basic-pitch's defaults: onset activation ≥ 0.5 starts a note, frame activation ≥ 0.3 keeps
    it sounding, notes shorter than `min_note_ms` are dropped.
    """

    def __init__(
        self, onset_threshold: float = 0.5, frame_threshold: float = 0.3, min_note_ms: float = 127.7, threads: int = 1
    ):
        import onnxruntime

        basic_pitch, self._notes = _basic_pitch()
        self.model_path = Path(basic_pitch.build_icassp_2022_model_path(basic_pitch.FilenameSuffix.onnx))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        outputs = {o.name: o.shape[-1] for o in self.session.get_outputs()}
        # the note and onset heads have 88 bins, the contour head 264; note is ":1", onset ":2" (basic-pitch's mapping)
        self.output_names = ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"]
        if [outputs.get(n) for n in self.output_names] != [88, 88]:
            raise RuntimeError(f"{self.model_path}: unexpected basic-pitch ONNX outputs {outputs}")
        self.onset_threshold, self.frame_threshold, self.min_note_ms = onset_threshold, frame_threshold, min_note_ms
        self.settings_sha256 = self._settings_sha256()

    def _settings_sha256(self) -> str:
        """sha256 of the model file and the settings: part of every cache key."""
        digest = hashlib.sha256(self.model_path.read_bytes())
        digest.update(f"{self.onset_threshold}|{self.frame_threshold}|{self.min_note_ms}|{MODEL_RATE}|v1".encode())
        return digest.hexdigest()

    def transcribe(self, wave: np.ndarray, sample_rate: int) -> Notes:
        """Mono wave float [T] at `sample_rate` → its notes."""
        return self.transcribe_many([wave], sample_rate)[0]

    def transcribe_many(self, waves: list[np.ndarray], sample_rate: int) -> list[Notes]:
        """Several mono waves float [T_i] → their notes; all windows go through the model in one call."""
        prepared = [self.resample(w, sample_rate) for w in waves]
        windows = [frame_windows(w) for w in prepared]
        if not windows:
            return []
        note, onset = self.session.run(self.output_names, {self.input_name: np.concatenate(windows)})
        out, start = [], 0
        for wave, win in zip(prepared, windows):
            stop = start + len(win)
            frames = unwrap(note[start:stop], len(wave))
            onsets = unwrap(onset[start:stop], len(wave))
            out.append(self.decode(frames, onsets))
            start = stop
        return out

    @staticmethod
    def resample(wave: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float [T] → float32 [T'] at 22050 Hz (torchaudio's windowed-sinc resampler); non-finite samples → 0."""
        x = np.nan_to_num(np.asarray(wave, np.float32).reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
        if sample_rate == MODEL_RATE:
            return x
        return torchaudio.functional.resample(torch.from_numpy(x), sample_rate, MODEL_RATE).numpy()

    def decode(self, frames: np.ndarray, onsets: np.ndarray) -> Notes:
        """Note activations [F,88] and onset activations [F,88] → Notes (basic-pitch's polyphonic decoding)."""
        if len(frames) < 2:
            return Notes.empty()
        min_len = int(round(self.min_note_ms / 1000 * FRAMES_PER_SECOND))
        with np.errstate(invalid="ignore", divide="ignore"):  # silence: its onset inference divides 0 by 0 (no notes)
            events = self._notes.output_to_notes_polyphonic(
                frames,
                onsets,
                onset_thresh=self.onset_threshold,
                frame_thresh=self.frame_threshold,
                min_note_len=min_len,
                infer_onsets=True,
                max_freq=None,
                min_freq=None,
                melodia_trick=True,
            )
        if not events:
            return Notes.empty()
        times = self._notes.model_frames_to_time(len(frames))
        start, end, pitch, amplitude = (np.asarray(c) for c in zip(*events))
        return Notes(times[start], times[end], pitch.astype(np.int64), amplitude.astype(np.float64))


def frame_windows(wave: np.ndarray) -> np.ndarray:
    """float32 [T] at 22050 Hz → model input [W, 43844, 1]: OVERLAP/2 zeros in front, windows every HOP samples."""
    padded = np.concatenate([np.zeros(OVERLAP // 2, np.float32), wave.astype(np.float32)])
    count = max(1, -(-len(padded) // HOP))
    out = np.zeros((count, WINDOW, 1), np.float32)
    for k in range(count):
        chunk = padded[k * HOP : k * HOP + WINDOW]
        out[k, : len(chunk), 0] = chunk
    return out


def unwrap(output: np.ndarray, length: int) -> np.ndarray:
    """Model output [W,172,C] of one wave of `length` samples (22050 Hz) → [F,C]: overlaps cut, trimmed to the wave."""
    half = OVERLAP_FRAMES // 2
    kept = output[:, half:-half, :]
    frames = int(np.floor(length * FRAMES_PER_SECOND / MODEL_RATE))
    return kept.reshape(-1, output.shape[-1])[:frames]


# -- the on-disk cache ---------------------------------------------------------------------------------
def audio_key(wave: np.ndarray, sample_rate: int, settings_sha256: str) -> str:
    """sha256 of the transcriber's `settings_sha256`, the rate and the float32 samples of `wave` [T]."""
    digest = hashlib.sha256(f"{settings_sha256}|{sample_rate}|".encode())
    digest.update(np.ascontiguousarray(np.asarray(wave, np.float32).reshape(-1)).tobytes())
    return digest.hexdigest()


class TranscriptionCache:
    """Notes on disk, one CSV per audio content hash (`<folder>/<key[:2]>/<key>.csv`); an unreadable entry is a miss."""

    COLUMNS = ("onset", "offset", "pitch", "amplitude")

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.hits = self.misses = 0

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.csv"

    def get(self, key: str) -> Notes | None:
        try:
            with open(self.path(key), newline="") as f:
                rows = list(csv.reader(f))
            if tuple(rows[0]) != self.COLUMNS:
                raise ValueError("header")
            body = np.array(rows[1:], dtype=np.float64).reshape(-1, 4)
        except (OSError, ValueError, IndexError):
            self.misses += 1
            return None
        self.hits += 1
        return Notes(body[:, 0], body[:, 1], body[:, 2].astype(np.int64), body[:, 3])

    def put(self, key: str, notes: Notes) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.COLUMNS)
        for row in zip(notes.onset, notes.offset, notes.pitch, notes.amplitude):
            writer.writerow([repr(float(row[0])), repr(float(row[1])), int(row[2]), repr(float(row[3]))])
        with atomic_path(self.path(key)) as tmp:
            tmp.write_text(buffer.getvalue())
