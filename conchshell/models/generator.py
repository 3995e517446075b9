"""ConchShell's generator G_level: I3D S-T features + predicted category → a continuous Jukebox latent.

Layout (every conv weight-normalised, LeakyReLU 0.2 between layers):

    st [B, C_st, T'] standardised per channel by the training set's statistics (buffers st_mean, st_std)
    st ⊕ Embedding(C, 256)(label) broadcast over T'   → [B, C_st + 256, T']
    Conv1d k=`pre_kernel`                                           → [B, ch[0], T']
    for each ratio r: ConvTranspose1d k=`kernel` (long, ≈40), stride r → [B, ch[i+1], T·r]
                      + residual stack (dilations 1, 3, 9, k=3)
    Conv1d k=`kernel`+1 (long) to the latent width, Tanh × out_scale → [B, 64, T_mid]
    interpolate to `mid_frames` (a no-op for the nominal T'), Linear(mid_frames → frames) over time
                                                                     → [B, 64, frames]

Only the last interpolation sees T', so G accepts any number of S-T frames. `frames` is the level's
latent length (JukeboxCodec.frames(level, num_samples): 1000 / 4000 / 16 k for 8 s at 16 kHz); the
caller derives it, G hard-codes nothing. `generator_config(...)` gives the constructor arguments for a
level and size profile; the `paper` profile lands within 10% of the paper's Table 1 (33.1 M / 65.2 M /
100.4 M parameters).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

#: Paper size profile per level: channels after the first conv and after each upsampling stage, the
#: upsampling ratios, and the time length the Linear reads (T' = 9 nominal frames × prod(ratios)).
PAPER_PLANS: dict[str, dict] = {
    "high": {"channels": (800, 400, 200, 100), "ratios": (4, 4, 2)},
    "low": {"channels": (1200, 600, 300, 150), "ratios": (4, 4, 4)},
    "deep": {"channels": (1408, 704, 352, 176, 88), "ratios": (4, 4, 4, 2)},
}
NOMINAL_ST_FRAMES = 9  # I3D's T' for 18 time-image frames; only fixes the Linear's input length
MIN_CHANNELS = 8


def generator_config(
    level: str,
    frames: int,
    size: str = "paper",
    width: float = 1.0,
    in_channels: int = 1024,
    num_classes: int = 6,
    latent_dim: int = 64,
    out_scale: float = 100.0,
) -> dict:
    """Constructor arguments of G for `level` (high|low|deep) and size profile `size` (paper|demo).

    `demo` multiplies every channel count by `width` (and keeps the layer plan), so it trains on a CPU.
    `out_scale` bounds G's output (Tanh × out_scale); training fits it to the level's codebook, since
    G's latent is snapped to its nearest code and a wider range only slows learning.
    """
    plan = PAPER_PLANS[level]
    scale = 1.0 if size == "paper" else float(width)
    channels = [max(MIN_CHANNELS, int(round(c * scale))) for c in plan["channels"]]
    ratios = list(plan["ratios"])
    return {
        "frames": int(frames),
        "in_channels": int(in_channels),
        "num_classes": int(num_classes),
        "embed_dim": 256,
        "channels": channels,
        "ratios": ratios,
        "mid_frames": NOMINAL_ST_FRAMES * math.prod(ratios),
        "kernel": 40,
        "pre_kernel": 7,
        "latent_dim": int(latent_dim),
        "dilations": [1, 3, 9],
        "out_scale": float(out_scale),
    }


def _conv(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Module:
    """Length-keeping weight-normalised Conv1d (zero padding, odd or even k)."""
    total = dilation * (k - 1)
    conv = weight_norm(nn.Conv1d(c_in, c_out, k, dilation=dilation))
    return nn.Sequential(nn.ConstantPad1d((total // 2, total - total // 2), 0.0), conv)


class ResidualUnit(nn.Module):
    """x + Conv1x1(LReLU(Conv_k3,dilation d(LReLU(x)))): [B, C, T] → [B, C, T]."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(0.2),
            _conv(channels, channels, 3, dilation),
            nn.LeakyReLU(0.2),
            weight_norm(nn.Conv1d(channels, channels, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class UpsampleStage(nn.Module):
    """LReLU, ConvTranspose1d (k long, stride r) and a dilated residual stack: [B, C_in, T] → [B, C_out, T·r]."""

    def __init__(self, c_in: int, c_out: int, ratio: int, kernel: int, dilations: list[int]):
        super().__init__()
        if (kernel - ratio) % 2:
            kernel += 1  # (kernel − ratio) even gives exactly T·r frames
        self.up = weight_norm(nn.ConvTranspose1d(c_in, c_out, kernel, stride=ratio, padding=(kernel - ratio) // 2))
        self.res = nn.Sequential(*(ResidualUnit(c_out, d) for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.up(F.leaky_relu(x, 0.2)))


class Generator(nn.Module):
    """G_level: forward(st [B, in_channels, T'], label long [B]) → latent [B, latent_dim, frames] in ±out_scale."""

    def __init__(
        self,
        frames: int,
        in_channels: int = 1024,
        num_classes: int = 6,
        embed_dim: int = 256,
        channels: list[int] = (800, 400, 200, 100),
        ratios: list[int] = (4, 4, 2),
        mid_frames: int = 288,
        kernel: int = 40,
        pre_kernel: int = 7,
        latent_dim: int = 64,
        dilations: list[int] = (1, 3, 9),
        out_scale: float = 100.0,
    ):
        super().__init__()
        if len(channels) != len(ratios) + 1:
            raise ValueError("channels needs one entry more than ratios")
        self.frames = int(frames)
        self.mid_frames = int(mid_frames)
        self.out_scale = float(out_scale)
        self.embedding = nn.Embedding(num_classes, embed_dim)
        self.pre = _conv(in_channels + embed_dim, channels[0], pre_kernel)
        self.stages = nn.Sequential(
            *(UpsampleStage(channels[i], channels[i + 1], r, kernel, list(dilations)) for i, r in enumerate(ratios))
        )
        self.post = _conv(channels[-1], latent_dim, kernel + 1)
        self.to_frames = nn.Linear(self.mid_frames, self.frames)
        # The I3D's S-T features are ReLU outputs (demo: mean 27, sd 38, up to 600) whose per-channel offsets
        # dwarf both what tells pictures apart and the label embedding (sd 1); training sets these to the
        # training set's per-channel statistics (`set_st_statistics`), identity until then.
        self.register_buffer("st_mean", torch.zeros(in_channels))
        self.register_buffer("st_std", torch.ones(in_channels))

    @torch.no_grad()
    def set_st_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel mean and std [in_channels] of the training S-T features; G reads (st − mean) / std."""
        self.st_mean.copy_(mean)
        self.st_std.copy_(std)

    def forward(self, st: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """st [B, in_channels, T'], label long [B] → latent [B, latent_dim, frames]."""
        st = (st - self.st_mean[:, None].to(st.dtype)) / self.st_std[:, None].to(st.dtype)
        cond = self.embedding(label).unsqueeze(-1).expand(-1, -1, st.shape[-1])
        x = self.pre(torch.cat([st, cond.to(st.dtype)], dim=1))
        x = self.stages(x)
        x = torch.tanh(self.post(F.leaky_relu(x, 0.2))) * self.out_scale
        if x.shape[-1] != self.mid_frames:
            x = _resize(x, self.mid_frames)
        return self.to_frames(x)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Linear interpolation over time, x [B, C, T] → [B, C, size]; under deterministic algorithms on CUDA as a
    matmul with the interpolation matrix (interpolate's CUDA backward has no deterministic kernel)."""
    if not (x.is_cuda and torch.are_deterministic_algorithms_enabled()):
        return F.interpolate(x, size=size, mode="linear", align_corners=False)
    eye = torch.eye(x.shape[-1], device=x.device, dtype=x.dtype).unsqueeze(0)  # [1, T, T]
    weights = F.interpolate(eye, size=size, mode="linear", align_corners=False)[0]  # [T, size]
    return x @ weights


def st_statistics(st: torch.Tensor, floor: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) [C] of S-T features st [N, C, T'] over pictures and frames; a std below
    `floor` × the mean std (a channel the training pictures never light) is raised to it, so an unseen
    picture that lights it cannot blow up G's input."""
    mean = st.double().mean(dim=(0, 2))
    std = st.double().std(dim=(0, 2), correction=0)
    std = std.clamp_min(floor * float(std.mean()) if float(std.mean()) > 0 else 1.0)
    return mean.float(), std.float()


def build_generator(config: dict) -> Generator:
    """Generator(**config) from a `generator_config` dict (as stored in models/gan.pt)."""
    return Generator(**config)
