"""Scores of one piece against its reference, both mono [T] at 16 kHz: what the decoder keeps and what G makes.

- **PESQ** wide-band (ITU-T P.862.2, 16 kHz; −0.5 … 4.64, higher is better), via `pesq`;
- **STOI** (0 … 1, higher is better), via `pystoi`;
- **log-mel L1**: mean |log mel(ref) − log mel(gen)| over an 80-band mel spectrogram (lower is better).

Used by the evaluation (generated pieces and their VQ-VAE ceiling) and by the VQ-VAE stage (per-level
ceilings in metrics/vqvae.json).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio

SAMPLE_RATE = 16000
PAIR_METRICS = ("pesq", "stoi", "mel_l1")


# -- per-piece metrics --------------------------------------------------------------------------
def pesq_wb(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Wide-band PESQ of `degraded` [T] against `reference` [T] (both 16 kHz); NaN when PESQ finds no speech-like activity."""
    from pesq import NoUtterancesError, PesqError, pesq

    if sample_rate != 16000:
        raise ValueError(f"wide-band PESQ needs 16 kHz audio, got {sample_rate} Hz")
    ref, deg = _pair(reference, degraded)
    try:
        return float(pesq(sample_rate, ref, deg, "wb"))
    except (NoUtterancesError, PesqError):
        return math.nan


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """STOI of `degraded` [T] against `reference` [T] (0 … 1)."""
    from pystoi import stoi as _stoi

    ref, deg = _pair(reference, degraded)
    return float(_stoi(ref, deg, sample_rate, extended=False))


_MEL: dict[int, torchaudio.transforms.MelSpectrogram] = {}


def log_mel(wave: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """wave [..., T] → log mel spectrogram [..., 80, frames] (n_fft 1024, hop 256, floor 1e-5)."""
    if sample_rate not in _MEL:
        _MEL[sample_rate] = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=sample_rate / 2, power=1.0
        )
    mel = _MEL[sample_rate].to(wave.device)
    return torch.log(torch.clamp(mel(wave.float()), min=1e-5))


def mel_l1(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Mean absolute difference of the log mel spectrograms of `reference` [T] and `degraded` [T]."""
    ref, deg = _pair(reference, degraded)
    a, b = log_mel(torch.from_numpy(ref), sample_rate), log_mel(torch.from_numpy(deg), sample_rate)
    return float((a - b).abs().mean())


def pair_metrics(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """{pesq, stoi, mel_l1} of one piece."""
    return {
        "pesq": pesq_wb(reference, degraded, sample_rate),
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
