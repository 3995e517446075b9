"""Scores of one piece against its reference, both mono [T] at the audio spec's rate: what the decoder
keeps and what G makes.

- **PESQ** wide band at 16 kHz (ITU-T P.862.2; −0.5 … 4.64, higher is better), narrow band at 8 kHz, via `pesq`;
- **STOI** (0 … 1, higher is better), via `pystoi`;
- **log-mel L1**: mean |log mel(ref) − log mel(gen)| (conchshell.audio.log_mel `METRIC`: 80 mels, n_fft 1024, hop 256;
  lower is better).

Used by the evaluation (generated pieces and their VQ-VAE ceiling) and by the VQ-VAE stage (per-level
ceilings in metrics/vqvae.json).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from conchshell.audio.log_mel import METRIC, log_mel
from conchshell.audio.spec import PESQ_MODES

PAIR_METRICS = ("pesq", "stoi", "mel_l1")


# -- per-piece metrics --------------------------------------------------------------------------
def pesq_score(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """PESQ of `degraded` [T] against `reference` [T]: wide band at 16 kHz, narrow band at 8 kHz (`PESQ_MODES`);
    NaN when PESQ finds no speech-like activity."""
    from pesq import NoUtterancesError, PesqError, pesq

    if sample_rate not in PESQ_MODES:
        raise ValueError(f"PESQ is defined at {' or '.join(map(str, PESQ_MODES))} Hz, got {sample_rate} Hz")
    ref, deg = _pair(reference, degraded)
    try:
        return float(pesq(sample_rate, ref, deg, PESQ_MODES[sample_rate]))
    except (NoUtterancesError, PesqError):
        return math.nan


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """STOI of `degraded` [T] against `reference` [T] (0 … 1)."""
    from pystoi import stoi as _stoi

    ref, deg = _pair(reference, degraded)
    return float(_stoi(ref, deg, sample_rate, extended=False))


def mel_l1(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
    """Mean absolute difference of the log mel spectrograms of `reference` [T] and `degraded` [T]."""
    ref, deg = _pair(reference, degraded)
    a, b = log_mel(torch.from_numpy(ref), sample_rate, METRIC), log_mel(torch.from_numpy(deg), sample_rate, METRIC)
    return float((a - b).abs().mean())


def pair_metrics(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> dict[str, float]:
    """{pesq, stoi, mel_l1} of one piece."""
    return {
        "pesq": pesq_score(reference, degraded, sample_rate),
        "stoi": stoi(reference, degraded, sample_rate),
        "mel_l1": mel_l1(reference, degraded, sample_rate),
    }


def _pair(reference: np.ndarray, degraded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two mono float [T] arrays cut to the same length, as float64 / float32 contiguous arrays."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    deg = np.asarray(degraded, dtype=np.float64).reshape(-1)
    n = min(len(ref), len(deg))
    deg = np.nan_to_num(deg[:n], nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(ref[:n], np.float32), np.ascontiguousarray(deg, np.float32)
