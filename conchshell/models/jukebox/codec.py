"""The audio-rate view of a VQ-VAE that the GAN and evaluation use (waveforms [B, T] at the audio spec's rate).

Levels are named as the paper names them (`high`, `low`, `deep`: conchshell.config.LEVELS); the codec is where
a name becomes a Jukebox level index (an index is accepted too), and where frame counts come from (`frames`).

The model's rate is the VQ-VAE's own (`vqvae.sample_rate`, which its checkpoint records); the audio's is the
audio spec's. When the model runs at another rate than the audio, waveforms are resampled on the way in and back on
the way out (torchaudio, differentiable). Inputs are right-padded with zeros to a multiple of the top
level's hop, so every level sees a whole number of frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import nn

from conchshell.audio.spec import AudioSpec
from conchshell.config import LEVELS
from conchshell.models.jukebox.vqvae import VQVAE


class JukeboxCodec(nn.Module):
    """Wraps `vqvae` (running at its `sample_rate`, `model_rate` here) for waveforms of audio spec `spec`."""

    def __init__(self, vqvae: VQVAE, spec: AudioSpec):
        super().__init__()
        self.vqvae = vqvae
        self.spec = spec
        self.model_rate = int(vqvae.sample_rate)
        self.levels = vqvae.levels

    @staticmethod
    def index(level: str | int) -> int:
        """The Jukebox level index of a level name (high → 2, low → 1, deep → 0); an index is returned as is."""
        return LEVELS[level] if isinstance(level, str) else int(level)

    def hop(self, level: str | int) -> int:
        """Model-rate samples per latent frame of `level`."""
        return self.vqvae.hop_lengths[self.index(level)]

    def codebook(self, level: str | int) -> torch.Tensor:
        """`level`'s codebook entries [l_bins, emb]."""
        return self.vqvae.bottleneck.level_blocks[self.index(level)].k

    def _model_samples(self, num_samples: int) -> int:
        """Model-rate length of `num_samples` audio-rate samples, padded to a multiple of the top hop."""
        n = math.ceil(num_samples * self.model_rate / self.spec.rate)
        top = self.hop(self.levels - 1)
        return math.ceil(n / top) * top

    def frames(self, level: str | int, num_samples: int) -> int:
        """Latent frames of `level` for `num_samples` audio-rate samples (8 s at 16 kHz: 1000 / 4000 / 16 k at levels 2 / 1 / 0)."""
        return self._model_samples(num_samples) // self.hop(level)

    def samples_per_frame(self, level: str | int) -> float:
        """Audio-rate samples per latent frame of `level`."""
        return self.hop(level) * self.spec.rate / self.model_rate

    def _to_model(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] audio rate → [B, T_model, 1] model rate, padded to a multiple of the top hop."""
        target = self._model_samples(wave.shape[-1])
        x = wave.float()
        if self.model_rate != self.spec.rate:
            x = AF.resample(x, self.spec.rate, self.model_rate)
        x = F.pad(x[..., :target], (0, target - min(x.shape[-1], target)))
        return x.unsqueeze(-1)

    def _to_audio(self, x: torch.Tensor, num_samples: int | None) -> torch.Tensor:
        """[B, T_model, 1] → [B, T_audio] (resampled back; cut or padded to `num_samples` when given)."""
        wave = x.squeeze(-1)
        if self.model_rate != self.spec.rate:
            length = int(wave.shape[-1] * self.spec.rate // self.model_rate)
            wave = AF.resample(wave, self.model_rate, self.spec.rate)[..., :length]
        if num_samples is not None:
            wave = F.pad(wave[..., :num_samples], (0, max(0, num_samples - wave.shape[-1])))
        return wave

    def latents(self, wave: torch.Tensor) -> list[torch.Tensor]:
        """Continuous latents, level 0 first: wave [B, T] → list of [B, emb, T_L]."""
        return self.vqvae.latents(self._to_model(wave))

    def encode(self, wave: torch.Tensor) -> list[torch.Tensor]:
        """Codes, level 0 first: wave [B, T] → list of long [B, T_L]."""
        return self.vqvae.encode(self._to_model(wave))

    def quantise(
        self, z: torch.Tensor, level: str | int, straight_through: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, emb, T_L] → (z_q [B, emb, T_L], codes long [B, T_L]); straight-through gradient."""
        return self.vqvae.quantise(z, self.index(level), straight_through)

    def decode(self, z_q: torch.Tensor, level: str | int, num_samples: int | None = None) -> torch.Tensor:
        """Level `level`'s decoder (differentiable): z_q [B, emb, T_L] → wave [B, T_audio]."""
        return self._to_audio(self.vqvae.decode_latent(z_q, self.index(level)), num_samples)

    def decode_codes(self, codes: torch.Tensor, level: str | int, num_samples: int | None = None) -> torch.Tensor:
        """codes long [B, T_L] → wave [B, T_audio]."""
        return self._to_audio(self.vqvae.decode(codes, self.index(level)), num_samples)
