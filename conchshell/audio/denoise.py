"""Spectral noise reduction of generated pieces (the paper recommends denoising G's output).

A thin wrapper over noisereduce's spectral gating: `denoise(wave [T], rate) -> wave [T]`.
"""

from __future__ import annotations

import numpy as np


def denoise(wave: np.ndarray, sample_rate: int, strength: float = 0.8) -> np.ndarray:
    """Non-stationary spectral gating of mono float [T] → float32 [T] (same length).

    `strength` in [0, 1] is noisereduce's `prop_decrease` (1 removes the estimated noise entirely).
    """
    import noisereduce  # imported here: it pulls in scipy's signal module, slow on first use

    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"denoise expects a mono wave [T], got shape {wave.shape}")
    if not np.any(wave):
        return wave
    out = noisereduce.reduce_noise(y=wave, sr=sample_rate, stationary=False, prop_decrease=strength)
    return np.asarray(out, dtype=np.float32)[: wave.shape[0]]
