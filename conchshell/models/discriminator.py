"""The multi-scale 1-D discriminator (D2M-GAN's, after MelGAN) on a flattened Jukebox latent.

A latent [B, 64, T] is flattened channel-major to a signal [B, 1, 64·T]. Each of the 3 scales is an
NLayerDiscriminator (all convs weight-normalised, LeakyReLU 0.2):

    reflect-pad 7, Conv1d(1 → ndf, k15)
    4 × Conv1d(nf → min(4·nf, 1024·w), k41, stride 4, groups nf/4)   (downsampling 4 each)
    Conv1d(→ 512·w, k5)
    Conv1d(512·w → 1, k3)                                             (the score map)

and AvgPool1d(4, stride 2, padding 1, count_include_pad=False) halves the signal between scales. With
ndf 32 and w = 1 the three scales hold 9.21 M parameters (the paper: 9.212 M). `forward` returns, per
scale, the list of every layer's output (the last one is the score), for the hinge and
feature-matching losses.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def discriminator_config(size: str = "paper", width: float = 1.0) -> dict:
    """Constructor arguments of D for size profile `size` (paper|demo; demo scales channels by `width`)."""
    scale = 1.0 if size == "paper" else float(width)
    return {
        "ndf": max(4, int(round(32 * scale))),
        "max_channels": max(16, int(round(1024 * scale))),
        "out_channels": max(8, int(round(512 * scale))),
        "n_layers": 4,
        "downsampling": 4,
        "num_scales": 3,
    }


class ReflectPad1d(nn.Module):
    """nn.ReflectionPad1d(p) from slices and flips: x [B, C, N] → [B, C, N + 2p], the same values, and a
    backward with a deterministic CUDA kernel (ReflectionPad1d's has none: `gan.deterministic` refuses it)."""

    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p
        return torch.cat([x[..., 1 : p + 1].flip(-1), x, x[..., -p - 1 : -1].flip(-1)], dim=-1)


class NLayerDiscriminator(nn.Module):
    """One scale: x [B, 1, N] → list of n_layers + 3 feature maps, the last the score [B, 1, N / 4^n_layers]."""

    def __init__(self, ndf: int, n_layers: int, downsampling: int, max_channels: int, out_channels: int):
        super().__init__()
        layers = [
            nn.Sequential(
                ReflectPad1d(7),
                weight_norm(nn.Conv1d(1, ndf, 15)),
                nn.LeakyReLU(0.2),
            )
        ]
        nf = ndf
        for _ in range(n_layers):
            nf_prev, nf = nf, min(nf * downsampling, max_channels)
            groups = max(1, nf_prev // 4)
            while nf_prev % groups or nf % groups:
                groups -= 1
            layers.append(
                nn.Sequential(
                    weight_norm(
                        nn.Conv1d(
                            nf_prev,
                            nf,
                            downsampling * 10 + 1,
                            stride=downsampling,
                            padding=downsampling * 5,
                            groups=groups,
                        )
                    ),
                    nn.LeakyReLU(0.2),
                )
            )
        layers.append(nn.Sequential(weight_norm(nn.Conv1d(nf, out_channels, 5, padding=2)), nn.LeakyReLU(0.2)))
        layers.append(weight_norm(nn.Conv1d(out_channels, 1, 3, padding=1)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for layer in self.layers:
            x = layer(x)
            maps.append(x)
        return maps


class Discriminator(nn.Module):
    """forward(latent [B, C, T]) → per scale (3), the list of every layer's map (last = score [B, 1, N_k])."""

    def __init__(
        self,
        ndf: int = 32,
        max_channels: int = 1024,
        out_channels: int = 512,
        n_layers: int = 4,
        downsampling: int = 4,
        num_scales: int = 3,
    ):
        super().__init__()
        self.n_layers = n_layers
        self.scales = nn.ModuleList(
            NLayerDiscriminator(ndf, n_layers, downsampling, max_channels, out_channels) for _ in range(num_scales)
        )
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    @staticmethod
    def flatten(latent: torch.Tensor) -> torch.Tensor:
        """[B, C, T] → [B, 1, C·T] (channel-major: channel 0's frames first)."""
        return latent.reshape(latent.shape[0], 1, -1)

    def forward(self, latent: torch.Tensor) -> list[list[torch.Tensor]]:
        x = self.flatten(latent)
        results = []
        for k, scale in enumerate(self.scales):
            if k:
                x = self.pool(x)
            results.append(scale(x))
        return results
