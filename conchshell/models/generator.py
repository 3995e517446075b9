"""ConchShell's generator G_level: I3D S-T features + predicted category → a continuous Jukebox latent.

The paper's generator: the S-T features and the category embedding pass a linear layer, then "a
convolutional network with a kernel size of up to 40", "multiple residual structures between each
convolutional layer", and "finally a linear layer with 16k output channels" (the Deep level's latent
length). The released code (DIO385/ConchShell, modules/module.py) fixes what the paper leaves open, and
its High and Low generators have exactly Table 1's size and cost; ours follow them:

    st [B, C, T'] flattened channel-major (Inception-I3D: [1024, 2] → 2048 values, as the authors feed it)
    ⊕ Embedding(6, 256)(label)                                          → [B, 1, C·T' + 256]
    Linear → a one-channel signal of `signal` samples                   → [B, 1, L_0]
    for each stage: (LReLU), reflect-pad, Conv1d k (≤ 60) stride s, zero pad 1,
                    max-pool k10 stride p (when p), residual blocks (dilations 1, 3)
                                                                        → [B, c_i, L_i]
    LReLU, reflect-pad, Conv1d k to the latent width, Tanh × out_scale  → [B, 64, L_out]
    Linear(L_out → frames) over time, the "16k" layer (none when L_out == frames)
                                                                        → [B, 64, frames]

A residual block (MelGAN's, as D2M-GAN and the released code use it) is
`Conv1x1(x) + Conv1x1(LReLU(Conv_k3,d(LReLU(x))))`, its convs weight-normalised. Table 1 at each level
(`PLANS`): High 33.110 M params / 23.800 G MACs and Low 65.184 M / 27.205 G are the released plans
exactly; the released Deep is smaller than the paper's (78.3 M / 44.45 G against 100.42 M / 59.20 G),
so our Deep widens its two last stages (see `PLANS`). `size: demo` scales every channel count by
`width` and keeps the lengths and kernels. The S-T features are pooled to `st_frames` in time first
(adaptive average), so G accepts any T'.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass(frozen=True)
class Stage:
    """One conv stage: `channels` out, kernel, conv stride, reflect-pad before, max-pool stride after (0:
    none), whether residual blocks (dilations 1, 3) follow."""

    channels: int
    kernel: int = 40
    stride: int = 1
    pad: int = 0
    pool: int = 0
    residual: bool = True


def _stages(channels, pools, pads) -> tuple[Stage, ...]:
    last = len(channels) - 1
    return tuple(Stage(c, 40, 1, pad, pool, i < last) for i, (c, pool, pad) in enumerate(zip(channels, pools, pads)))


_PADS = (16, 32, 64, 64, 64, 64, 64)
#: Per level: the signal length L_0, the stages, and the last conv's (kernel, reflect-pad).
PLANS: dict[str, dict] = {
    # released ConchShellHigh: strided convs, no pooling, kernels 10 … 60; its L_out is the 1000 frames
    "high": {
        "signal": 4800,
        "stages": (Stage(64, 10, 2), Stage(128, 20, 2), Stage(256, 40), Stage(512, 60), Stage(256, 60)),
        "out": (42, 0),
    },
    # released ConchShellLow: k40 convs, pooled ×16, L_out 664 → Linear to 4000 frames
    "low": {
        "signal": 4096,
        "stages": _stages((32, 64, 128, 256, 512, 1024, 256), (2, 2, 2, 2, 1, 1, 1), _PADS),
        "out": (40, 64),
    },
    # released ConchShellDeep pooled ×8 (L_out 985 → Linear to 16 k frames), its 512 and 1024 stages
    # widened to 576 and 1280 to land on Table 1's Deep (the paper does not give its layers)
    "deep": {
        "signal": 4096,
        "stages": _stages((32, 64, 128, 256, 576, 1280, 256), (2, 2, 2, 1, 1, 1, 1), _PADS),
        "out": (40, 64),
    },
}
#: T' of the default Inception-I3D's S-T features for Algorithm 1's 18 frames ([1024, 2]: 2048 values).
ST_FRAMES = 2
MIN_CHANNELS = 4


def generator_config(
    level: str,
    frames: int,
    size: str = "paper",
    width: float = 1.0,
    in_channels: int = 1024,
    num_classes: int = 6,
    latent_dim: int = 64,
    out_scale: float = 100.0,
    st_frames: int = ST_FRAMES,
) -> dict:
    """Constructor arguments of G for `level` (high|low|deep) and size profile `size` (paper|demo).

    `demo` multiplies every channel count by `width` (lengths, kernels and layers stay the paper's).
    `out_scale` bounds G's output (Tanh × out_scale); training fits it to the level's codebook.
    """
    plan = PLANS[level]
    scale = 1.0 if size == "paper" else float(width)
    stages = [{**asdict(s), "channels": max(MIN_CHANNELS, int(round(s.channels * scale)))} for s in plan["stages"]]
    return {
        "frames": int(frames),
        "in_channels": int(in_channels),
        "st_frames": int(st_frames),
        "num_classes": int(num_classes),
        "embed_dim": 256,
        "signal": int(plan["signal"]),
        "stages": stages,
        "out_kernel": int(plan["out"][0]),
        "out_pad": int(plan["out"][1]),
        "latent_dim": int(latent_dim),
        "out_scale": float(out_scale),
    }


class ResidualBlock(nn.Module):
    """Conv1x1(x) + Conv1x1(LReLU(Conv_k3,dilation d(LReLU(x)))): [B, C, T] → [B, C, T]."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ReflectionPad1d(dilation),
            weight_norm(nn.Conv1d(channels, channels, 3, dilation=dilation)),
            nn.LeakyReLU(0.2),
            weight_norm(nn.Conv1d(channels, channels, 1)),
        )
        self.shortcut = weight_norm(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class ConvStage(nn.Module):
    """(LReLU), reflect-pad, Conv1d(k, stride, zero pad 1), max-pool k10, residual blocks:
    [B, c_in, L] → [B, c_out, (L + 2·pad + 2 − k) / stride + 1, then pooled]."""

    def __init__(self, c_in: int, stage: Stage, activate: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.LeakyReLU(0.2)] if activate else []
        if stage.pad:
            layers.append(nn.ReflectionPad1d(stage.pad))
        layers.append(nn.Conv1d(c_in, stage.channels, stage.kernel, stride=stage.stride, padding=1))
        if stage.pool:
            layers.append(nn.MaxPool1d(10, stride=stage.pool, padding=1))
        if stage.residual:
            layers += [ResidualBlock(stage.channels, d) for d in (1, 3)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def stage_length(length: int, stage: Stage) -> int:
    """Signal length after `stage` (conv with zero pad 1, then the k10 max-pool with pad 1)."""
    length = (length + 2 * stage.pad + 2 - stage.kernel) // stage.stride + 1
    return (length + 2 - 10) // stage.pool + 1 if stage.pool else length


class Generator(nn.Module):
    """G_level: forward(st [B, in_channels, T'], label long [B]) → latent [B, latent_dim, frames] in ±out_scale."""

    def __init__(
        self,
        frames: int,
        stages: list[dict],
        signal: int,
        in_channels: int = 1024,
        st_frames: int = ST_FRAMES,
        num_classes: int = 6,
        embed_dim: int = 256,
        out_kernel: int = 40,
        out_pad: int = 64,
        latent_dim: int = 64,
        out_scale: float = 100.0,
    ):
        super().__init__()
        plan = [Stage(**s) for s in stages]
        self.frames, self.st_frames, self.out_scale = int(frames), int(st_frames), float(out_scale)
        self.embedding = nn.Embedding(num_classes, embed_dim)
        self.to_signal = nn.Linear(in_channels * st_frames + embed_dim, signal)
        widths = [1] + [s.channels for s in plan]
        self.stages = nn.Sequential(*(ConvStage(widths[i], s, activate=i > 0) for i, s in enumerate(plan)))
        self.out = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ReflectionPad1d(out_pad),
            nn.Conv1d(widths[-1], latent_dim, out_kernel, padding=1),
        )
        length = signal
        for s in plan:
            length = stage_length(length, s)
        self.out_frames = length + 2 * out_pad + 3 - out_kernel
        if min(length, self.out_frames) < 1:
            raise ValueError(f"a signal of {signal} samples is too short for these stages")
        self.to_frames = nn.Identity() if self.out_frames == self.frames else nn.Linear(self.out_frames, self.frames)

    def forward(self, st: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """st [B, in_channels, T'], label long [B] → latent [B, latent_dim, frames]."""
        if st.shape[-1] != self.st_frames:
            st = F.adaptive_avg_pool1d(st, self.st_frames)
        x = torch.cat([st.flatten(1), self.embedding(label).to(st.dtype)], dim=1)
        x = self.stages(self.to_signal(x).unsqueeze(1))  # [B, 1, L_0] → [B, c_last, L]
        x = torch.tanh(self.out(x)) * self.out_scale  # [B, 64, L_out]
        return self.to_frames(x)


def build_generator(config: dict) -> Generator:
    """Generator(**config) from a `generator_config` dict (as stored in models/gan.pt)."""
    return Generator(**config)
