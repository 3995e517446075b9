"""Dilated 1-D residual stacks (Jukebox `Resnet1D`): pre-activation, no normalisation, scale 1.

State-dict layout: `model.{r}.model.1` (dilated 3-tap conv) and `model.{r}.model.3` (1×1 conv).
"""

from __future__ import annotations

import torch
from torch import nn


class ResConv1DBlock(nn.Module):
    """`x + model(x)` with model = ReLU → Conv1d(k3, dilated) → ReLU → Conv1d(k1); [B, C, T] → [B, C, T]."""

    def __init__(self, n_in: int, n_state: int, dilation: int = 1, res_scale: float = 1.0):
        super().__init__()
        self.dilation = dilation
        self.res_scale = res_scale
        self.model = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(n_in, n_state, 3, 1, padding=dilation, dilation=dilation),
            nn.ReLU(),
            nn.Conv1d(n_state, n_in, 1, 1, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.model(x)


def dilations(depth: int, growth_rate: int, cycle: int | None, reverse: bool) -> list[int]:
    """Dilation of each residual block: growth_rate**r (r taken modulo `cycle` when set)."""
    values = [growth_rate ** (r if cycle is None else r % cycle) for r in range(depth)]
    return values[::-1] if reverse else values


class Resnet1D(nn.Module):
    """`depth` residual blocks of width `n_in` (hidden width int(m_conv·n_in)); [B, C, T] → [B, C, T].

    The decoder uses `reverse_dilation=True`: the largest dilation comes first.
    """

    def __init__(
        self,
        n_in: int,
        depth: int,
        m_conv: float = 1.0,
        dilation_growth_rate: int = 1,
        dilation_cycle: int | None = None,
        reverse_dilation: bool = False,
    ):
        super().__init__()
        n_state = int(m_conv * n_in)
        self.model = nn.Sequential(
            *[
                ResConv1DBlock(n_in, n_state, dilation=d)
                for d in dilations(depth, dilation_growth_rate, dilation_cycle, reverse_dilation)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
