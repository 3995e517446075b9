"""The Jukebox multi-level VQ-VAE, built from Jukebox hparam names.

Level 0 is the bottom (hop 8 for the 5b preset), level 2 the top (hop 128). Each level has its own
encoder and decoder working from / to the raw waveform; the bottleneck holds one codebook per level.
Waveforms use Jukebox's layout [B, T, 1]; latents are [B, emb_width, T / hop_L].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from conchshell.models.jukebox.bottleneck import Bottleneck
from conchshell.models.jukebox.encdec import Decoder, Encoder


def level_arch(hps: dict, level: int) -> dict:
    """Constructor arguments of level `level`'s encoder and decoder (width and depth × multiplier)."""
    mult = hps["hvqvae_multipliers"][level]
    return {
        "input_channels": 1,
        "emb_width": hps["emb_width"],
        "downs_t": list(hps["downs_t"]),
        "strides_t": list(hps["strides_t"]),
        "width": int(hps["width"] * mult),
        "depth": int(hps["depth"] * mult),
        "m_conv": hps["m_conv"],
        "dilation_growth_rate": hps["dilation_growth_rate"],
        "dilation_cycle": hps["dilation_cycle"],
        "reverse_decoder_dilation": hps["vqvae_reverse_decoder_dilation"],
    }


class VQVAE(nn.Module):
    """Multi-level VQ-VAE. State dict: `encoders.L.*`, `decoders.L.*`, `bottleneck.level_blocks.L.k`.

    `preset` names the hps it was built from; `sample_rate` is the waveform rate it works at (default hps `sr`).
    """

    def __init__(self, hps: dict, preset: str = "custom", sample_rate: int | None = None):
        super().__init__()
        self.hps = dict(hps)
        self.preset = str(preset)
        self.sample_rate = int(sample_rate if sample_rate is not None else hps.get("sr", 44100))
        self.levels = hps["levels"]
        self.emb_width = hps["emb_width"]
        self.l_bins = hps["l_bins"]
        self.encoders = nn.ModuleList(Encoder(level_arch(hps, L), L + 1) for L in range(self.levels))
        self.decoders = nn.ModuleList(Decoder(level_arch(hps, L), L + 1) for L in range(self.levels))
        self.bottleneck = Bottleneck(self.l_bins, self.emb_width, hps.get("l_mu", 0.99), self.levels)

    @property
    def hop_lengths(self) -> list[int]:
        """Waveform samples per latent frame, per level ([8, 32, 128] for the 5b preset)."""
        downsamples = [s**d for s, d in zip(self.hps["strides_t"], self.hps["downs_t"])]
        return [math.prod(downsamples[: L + 1]) for L in range(self.levels)]

    @staticmethod
    def _to_channels_first(x: torch.Tensor) -> torch.Tensor:
        """[B, T, 1] → float32 [B, 1, T]."""
        if x.dim() != 3 or x.shape[-1] != 1:
            raise ValueError(f"expected a waveform [B, T, 1], got {tuple(x.shape)}")
        return x.permute(0, 2, 1).float()

    def latent(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """Continuous pre-quantisation latent of one level: [B, T, 1] → [B, emb, T / hop_L]."""
        return self.encoders[level](self._to_channels_first(x))

    def latents(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Continuous latents of every level, level 0 first: [B, T, 1] → list of [B, emb, T / hop_L]."""
        x = self._to_channels_first(x)
        return [encoder(x) for encoder in self.encoders]

    def quantise(
        self, latent: torch.Tensor, level: int, straight_through: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest code of level `level`: latent [B, emb, T'] → (z_q [B, emb, T'], codes long [B, T'])."""
        return self.bottleneck.level_blocks[level].quantise(latent, straight_through)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Codes of every level, level 0 first: [B, T, 1] → list of long [B, T / hop_L]."""
        return [self.bottleneck.level_blocks[L].codes(z) for L, z in enumerate(self.latents(x))]

    def decode_latent(self, z: torch.Tensor, level: int) -> torch.Tensor:
        """Level `level`'s decoder: [B, emb, T'] → waveform [B, T' · hop_L, 1]."""
        return self.decoders[level](z).permute(0, 2, 1)

    def decode(self, codes: torch.Tensor | Sequence[torch.Tensor], level: int = 0) -> torch.Tensor:
        """Decode level `level`'s codes long [B, T'] → waveform [B, T' · hop_L, 1].

        A list of codes (levels `level`, `level`+1, ...) decodes its first entry only, as Jukebox does.
        """
        if not torch.is_tensor(codes):
            codes = codes[0]
        z = self.bottleneck.level_blocks[level].dequantise(codes)
        return self.decode_latent(z, level)
