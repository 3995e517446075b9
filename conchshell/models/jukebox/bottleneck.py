"""Vector quantisation: one codebook `k` [l_bins, emb_width] per level, nearest code by squared distance.

Training keeps EMA statistics (`k_sum`, `k_elem`, not saved in the state dict) and restarts dead codes
with random encoder vectors, as Jukebox trains its bottleneck.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BottleneckBlock(nn.Module):
    """One level's codebook. Buffer `k` [l_bins, emb_width] is the only state-dict entry."""

    def __init__(self, l_bins: int, emb_width: int, mu: float = 0.99, threshold: float = 1.0):
        super().__init__()
        self.l_bins = l_bins
        self.emb_width = emb_width
        self.mu = mu
        self.threshold = threshold
        self.register_buffer("k", torch.zeros(l_bins, emb_width))
        self.register_buffer("k_sum", torch.zeros(l_bins, emb_width), persistent=False)
        self.register_buffer("k_elem", torch.ones(l_bins), persistent=False)
        self.initialised = False

    # -- inference ---------------------------------------------------------------------------
    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code of each frame (first index on ties). z [B, emb, T] → long [B, T]."""
        b, _, t = z.shape
        x = z.permute(0, 2, 1).reshape(b * t, self.emb_width).float()
        k_t = self.k.t()
        dist = torch.sum(x**2, dim=-1, keepdim=True) - 2 * torch.matmul(x, k_t) + torch.sum(k_t**2, dim=0, keepdim=True)
        _, code = torch.min(dist, dim=-1)
        return code.view(b, t)

    def dequantise(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors of `codes`. long [B, T] → [B, emb, T]."""
        return F.embedding(codes, self.k).permute(0, 2, 1)

    def quantise(self, z: torch.Tensor, straight_through: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, emb, T] → (z_q [B, emb, T], codes long [B, T]).

        With `straight_through`, z_q = z + (q(z) − z).detach(): forward value q(z), gradient of identity.
        """
        codes = self.codes(z)
        z_q = self.dequantise(codes)
        if straight_through:
            z_q = z + (z_q - z).detach()
        return z_q, codes

    # -- training (EMA k-means with dead-code restarts) ---------------------------------------
    def _random_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """l_bins rows drawn from x [N, emb] (repeated with small noise when N < l_bins)."""
        n = x.shape[0]
        if n < self.l_bins:
            repeats = (self.l_bins + n - 1) // n
            x = x.repeat(repeats, 1) + 0.01 / self.emb_width**0.5 * torch.randn_like(x.repeat(repeats, 1))
        return x[torch.randperm(x.shape[0], device=x.device)[: self.l_bins]]

    @torch.no_grad()
    def init_k(self, z: torch.Tensor) -> None:
        """Fill the codebook with random encoder vectors. z [B, emb, T]."""
        x = z.permute(0, 2, 1).reshape(-1, self.emb_width).float()
        self.k.copy_(self._random_vectors(x))
        self.k_sum.copy_(self.k)
        self.k_elem.fill_(1.0)
        self.initialised = True

    @torch.no_grad()
    def update_k(self, z: torch.Tensor, codes: torch.Tensor) -> dict[str, float]:
        """One EMA update from a batch; codes whose usage falls below `threshold` restart.

        z [B, emb, T], codes long [B, T]. Returns {"usage": codes in use / l_bins, "restarted": count}.
        """
        x = z.permute(0, 2, 1).reshape(-1, self.emb_width).float()
        onehot = F.one_hot(codes.reshape(-1), self.l_bins).to(x.dtype)  # [N, l_bins]
        self.k_sum.mul_(self.mu).add_(onehot.t() @ x, alpha=1 - self.mu)
        self.k_elem.mul_(self.mu).add_(onehot.sum(0), alpha=1 - self.mu)
        alive = (self.k_elem >= self.threshold).unsqueeze(1)
        fresh = self._random_vectors(x)
        self.k.copy_(torch.where(alive, self.k_sum / self.k_elem.clamp_min(1e-8).unsqueeze(1), fresh))
        dead = ~alive.squeeze(1)
        self.k_sum[dead] = fresh[dead]
        self.k_elem[dead] = 1.0
        return {"usage": float(alive.float().mean()), "restarted": int(dead.sum())}


class Bottleneck(nn.Module):
    """One `BottleneckBlock` per level (state-dict keys `level_blocks.{L}.k`)."""

    def __init__(self, l_bins: int, emb_width: int, mu: float, levels: int):
        super().__init__()
        self.level_blocks = nn.ModuleList(BottleneckBlock(l_bins, emb_width, mu) for _ in range(levels))
