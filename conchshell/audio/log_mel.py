"""The log-mel spectrogram, one module for the G loss, the VQ-VAE loss, the metrics and the report's pictures.

`LogMel(rate, n_mels, n_fft, hop_length, floor)`: wave [..., T] → log mel magnitude [..., n_mels, frames]
(torchaudio MelSpectrogram: Hann window of n_fft, power 1, 0 … rate/2 Hz, HTK mel scale, centred frames).
The floor keeps log finite on silence: `add` → log(mel + 1e-5) (smooth everywhere: the losses),
`clamp` → log(max(mel, 1e-5)) (exact above the floor: the metrics).

The settings in use:
- G's mel term (conchshell/training/losses.py) and the GAN log's spectrogram: `LOSS` — 128 mels, n_fft 1024, hop 256, add;
- the VQ-VAE's multi-resolution term (conchshell/training/vqvae.py): 128/64/32 mels at n_fft 2048/1024/512,
  hop n_fft/4, add;
- `mel_l1` in metrics/eval.json and the report's spectrograms: `METRIC` — 80 mels, n_fft 1024,
  hop 256, clamp.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio
from torch import nn

EPS = 1e-5


@dataclass(frozen=True)
class MelSettings:
    """The parameters of one log-mel (everything but the sample rate, which is the audio's)."""

    n_mels: int = 128
    n_fft: int = 1024
    hop_length: int = 256
    floor: str = "add"  # add | clamp


#: G's mel loss term.
LOSS = MelSettings(128, 1024, 256, "add")
#: The `mel_l1` metric and the spectrogram pictures.
METRIC = MelSettings(80, 1024, 256, "clamp")


class LogMel(nn.Module):
    """log mel of a wave: [..., T] → [..., n_mels, frames] (see the module docstring)."""

    def __init__(
        self, sample_rate: int, n_mels: int = 128, n_fft: int = 1024, hop_length: int = 256, floor: str = "add"
    ):
        super().__init__()
        if floor not in ("add", "clamp"):
            raise ValueError(f"floor must be add or clamp, got {floor!r}")
        self.floor = floor
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=1.0
        )

    @classmethod
    def of(cls, sample_rate: int, settings: MelSettings) -> LogMel:
        return cls(sample_rate, settings.n_mels, settings.n_fft, settings.hop_length, settings.floor)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        mel = self.mel(wave.float())
        return torch.log(mel + EPS) if self.floor == "add" else torch.log(torch.clamp(mel, min=EPS))


_CACHE: dict[tuple, LogMel] = {}


def log_mel(wave: torch.Tensor, sample_rate: int, settings: MelSettings = METRIC) -> torch.Tensor:
    """`LogMel.of(sample_rate, settings)(wave)`, the module built once per (rate, settings) and device."""
    key = (sample_rate, settings)
    if key not in _CACHE:
        _CACHE[key] = LogMel.of(sample_rate, settings)
    return _CACHE[key].to(wave.device)(wave)
