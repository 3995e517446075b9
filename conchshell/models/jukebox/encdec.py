"""Per-level encoders and decoders of the Jukebox VQ-VAE, each from / to the raw waveform.

Encoder L stacks L+1 `EncoderConvBlock`s (total downsampling = hop_L); decoder L runs L+1
`DecoderConvBlock`s in reverse order, then the `out` conv back to one channel.
"""

from __future__ import annotations

import torch
from torch import nn

from conchshell.models.jukebox.resnet import Resnet1D


class EncoderConvBlock(nn.Module):
    """`down_t` × (strided Conv1d(k=2·stride) + Resnet1D), then Conv1d(k3) to `out_channels`.

    [B, in_channels, T] → [B, out_channels, T / stride_t**down_t].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        down_t: int,
        stride_t: int,
        width: int,
        depth: int,
        m_conv: float,
        dilation_growth_rate: int,
        dilation_cycle: int | None,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(down_t):
            layers.append(
                nn.Sequential(
                    nn.Conv1d(in_channels if i == 0 else width, width, 2 * stride_t, stride_t, stride_t // 2),
                    Resnet1D(width, depth, m_conv, dilation_growth_rate, dilation_cycle),
                )
            )
        layers.append(nn.Conv1d(width, out_channels, 3, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class DecoderConvBlock(nn.Module):
    """Conv1d(k3) to `width`, then `down_t` × (Resnet1D with reversed dilation + ConvTranspose1d).

    [B, in_channels, T] → [B, out_channels, T · stride_t**down_t].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        down_t: int,
        stride_t: int,
        width: int,
        depth: int,
        m_conv: float,
        dilation_growth_rate: int,
        dilation_cycle: int | None,
        reverse_dilation: bool,
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(in_channels, width, 3, 1, 1)]
        for i in range(down_t):
            layers.append(
                nn.Sequential(
                    Resnet1D(width, depth, m_conv, dilation_growth_rate, dilation_cycle, reverse_dilation),
                    nn.ConvTranspose1d(
                        width, out_channels if i == down_t - 1 else width, 2 * stride_t, stride_t, stride_t // 2
                    ),
                )
            )
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Encoder(nn.Module):
    """Waveform [B, 1, T] → latent [B, emb_width, T / hop] through `levels` conv blocks."""

    def __init__(self, arch: dict, levels: int):
        super().__init__()
        self.level_blocks = nn.ModuleList(
            EncoderConvBlock(
                arch["input_channels"] if j == 0 else arch["emb_width"],
                arch["emb_width"],
                arch["downs_t"][j],
                arch["strides_t"][j],
                arch["width"],
                arch["depth"],
                arch["m_conv"],
                arch["dilation_growth_rate"],
                arch["dilation_cycle"],
            )
            for j in range(levels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.level_blocks:
            x = block(x)
        return x


class Decoder(nn.Module):
    """Latent [B, emb_width, T'] → waveform [B, 1, T' · hop] (blocks run top-down, then `out`)."""

    def __init__(self, arch: dict, levels: int):
        super().__init__()
        self.level_blocks = nn.ModuleList(
            DecoderConvBlock(
                arch["emb_width"],
                arch["emb_width"],
                arch["downs_t"][j],
                arch["strides_t"][j],
                arch["width"],
                arch["depth"],
                arch["m_conv"],
                arch["dilation_growth_rate"],
                arch["dilation_cycle"],
                arch["reverse_decoder_dilation"],
            )
            for j in range(levels)
        )
        self.out = nn.Conv1d(arch["emb_width"], arch["input_channels"], 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for block in reversed(self.level_blocks):
            z = block(z)
        return self.out(z)
