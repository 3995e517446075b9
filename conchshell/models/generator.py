"""ConchShell's generator G_level: I3D S-T features + predicted category → a continuous Jukebox latent.

The paper (Sec. 3.3, Table 1) describes G as "a convolutional network with a kernel size of up to 40 …
multiple residual structures between each convolutional layer … finally passing through a linear layer
with 16k output channels", fed the flattened S-T features. Where it is silent (the seed, the channel plan)
the authors' released code decides; their High and Low generators have Table 1's parameters and MACs, their
Deep one (78.3 M, 44 G MACs) does not, so the deep plan here is fitted to Table 1 (100.4 M, 59.2 G):

    st [B, C_st, T'] standardised per channel (buffers st_mean, st_std), flattened  → [B, C_st·T']
    ⊕ Embedding(C, 256)(label)                                                     → [B, C_st·T' + 256]
    seed: Linear to one channel of `length` steps                                  → [B, 1, length]
    per stage (channels c, kernel k ≤ 40, stride s):
        LReLU (not before the first), Conv1d k / s ("same"), residual units (dilations 1, 3)
                                                                                   → [B, c, L / s]
    LReLU, Conv1d k=40 to the latent width, Tanh × out_scale                       → [B, 64, L_out]
    to_frames: Linear(L_out → frames) over time (deep: 16 k outputs)               → [B, 64, frames]

The seed gives every picture its own signal at full time resolution, so two pictures can differ anywhere
in the piece; the convolutions shape it and `to_frames` places it on the level's frames. Departures from
the released code, none of which Table 1 or the text fixes: strided "same" convolutions in place of unpadded
ones followed by max-pooling (the lengths are exact: `length` / Π strides), kernels capped at 40 as the text
says (released High has 60) with the channels widened to keep Table 1's cost, identity skips in the
residual units, weight norm on every convolution, and a variance-keeping init (`_init`): with PyTorch's
default the picture-dependent part of the signal shrinks about 2.5× a stage.

`frames` is the level's latent length (JukeboxCodec.frames(level, num_samples): 1000 / 4000 / 16 k for
8 s at 16 kHz); the caller derives it. `generator_config(...)` gives the constructor arguments for a level
and size profile; `paper` is within 10 % of Table 1 in parameters and MACs at every level
(conchshell.evaluation.cost prints both beside it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

#: Paper size per level: the seed's length and the stages (channels, kernel, stride); Table 1 beside it.
PAPER_PLANS: dict[str, dict] = {
    "high": {  # 33.1 M, 23.8 G MACs in Table 1; ours 32.1 M, 21.9 G
        "length": 4000,
        "stages": ((64, 10, 2), (128, 20, 2), (256, 40, 1), (640, 40, 1), (320, 40, 1)),
    },
    "low": {  # 65.2 M, 27.2 G; ours 62.3 M, 26.2 G
        "length": 4096,
        "stages": ((32, 40, 2), (64, 40, 2), (128, 40, 2), (256, 40, 1), (512, 40, 1), (1024, 40, 1), (256, 40, 1)),
    },
    "deep": {  # 100.4 M, 59.2 G; ours 92.3 M, 59.6 G
        "length": 8192,
        "stages": ((32, 40, 2), (64, 40, 2), (128, 40, 2), (256, 40, 1), (512, 40, 1), (1024, 40, 1), (384, 40, 1)),
    },
}
POST_KERNEL = 40
MIN_CHANNELS = 8
#: The demo's width: it keeps the paper's seed length (time resolution); a narrower G shortens it in proportion.
DEMO_WIDTH = 0.25


def generator_config(
    level: str,
    frames: int,
    size: str = "paper",
    width: float = 1.0,
    in_channels: int = 1024,
    num_classes: int = 6,
    latent_dim: int = 64,
    out_scale: float = 100.0,
    st_frames: int = 2,
    st_dropout: float = 0.0,
) -> dict:
    """Constructor arguments of G for `level` (high|low|deep) and size profile `size` (paper|demo).

    `demo` multiplies every stage's channels by `width` and keeps the layer plan, the seed's length and the
    kernels, so it is the same network, narrower; below the demo's width 0.25 (test-sized G's) the seed's
    length shrinks in proportion too. G reads S-T features [in_channels, st_frames] (the default
    Inception-I3D's [1024, 2]; the ResNet-50 I3D's [2048, 9]); `st_dropout` drops that input while training
    (not in the paper: on the demo's 120 pictures G otherwise learns each picture, not what it shows). `out_scale` bounds G's output (Tanh × out_scale);
    training fits it to the level's codebook, since G's latent is snapped to its nearest code."""
    plan = PAPER_PLANS[level]
    scale = 1.0 if size == "paper" else float(width)
    stages = [[max(MIN_CHANNELS, int(round(c * scale))), k, s] for c, k, s in plan["stages"]]
    length, reduction = int(plan["length"]), math.prod(s for _, _, s in plan["stages"])
    if scale < DEMO_WIDTH:  # narrower than the demo (test-sized G's): shorter in time too, in proportion
        length = max(reduction, int(round(length * scale / DEMO_WIDTH / reduction)) * reduction)
    return {
        "frames": int(frames),
        "in_channels": int(in_channels),
        "st_frames": int(st_frames),
        "num_classes": int(num_classes),
        "embed_dim": 256,
        "length": length,
        "stages": stages,
        "post_kernel": POST_KERNEL,
        "latent_dim": int(latent_dim),
        "dilations": [1, 3],
        "out_scale": float(out_scale),
        "st_dropout": float(st_dropout),
    }


def _init(conv: nn.Conv1d, gain: float = 1.0) -> nn.Conv1d:
    """Kaiming-normal weights for LeakyReLU(0.2) times `gain`, zero bias: the signal keeps its scale per layer."""
    nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu")
    with torch.no_grad():
        conv.weight.mul_(gain)
    nn.init.zeros_(conv.bias)
    return conv


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1, gain: float = 1.0) -> nn.Module:
    """Weight-normalised Conv1d with zero "same" padding: [B, c_in, L] → [B, c_out, L / stride] (L a multiple of it)."""
    total = dilation * (k - 1) + 1 - stride
    conv = weight_norm(_init(nn.Conv1d(c_in, c_out, k, stride=stride, dilation=dilation), gain))
    return nn.Sequential(nn.ConstantPad1d((total // 2, total - total // 2), 0.0), conv)


class ResidualUnit(nn.Module):
    """x + Conv1x1(LReLU(Conv_k3,dilation d(LReLU(x)))): [B, C, T] → [B, C, T]; the branch starts at 0.1 scale."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(0.2),
            _conv(channels, channels, 3, dilation=dilation),
            nn.LeakyReLU(0.2),
            weight_norm(_init(nn.Conv1d(channels, channels, 1), 0.1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class Stage(nn.Module):
    """[LReLU,] Conv1d (kernel k, stride s) and a dilated residual stack: [B, C_in, L] → [B, C_out, L / s]."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilations: list[int], first: bool):
        super().__init__()
        self.act = nn.Identity() if first else nn.LeakyReLU(0.2)
        self.conv = _conv(c_in, c_out, kernel, stride)
        self.res = nn.Sequential(*(ResidualUnit(c_out, d) for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res(self.conv(self.act(x)))


class Generator(nn.Module):
    """G_level: forward(st [B, in_channels, st_frames], label long [B]) → latent [B, latent_dim, frames] in ±out_scale."""

    def __init__(
        self,
        frames: int,
        in_channels: int = 1024,
        st_frames: int = 2,
        num_classes: int = 6,
        embed_dim: int = 256,
        length: int = 4096,
        stages: list[list[int]] = ((32, 40, 2), (64, 40, 2), (128, 40, 1)),
        post_kernel: int = POST_KERNEL,
        latent_dim: int = 64,
        dilations: list[int] = (1, 3),
        out_scale: float = 100.0,
        st_dropout: float = 0.0,
    ):
        super().__init__()
        reduction = math.prod(s for _, _, s in stages)
        if length % reduction:
            raise ValueError(f"the seed's length {length} is not a multiple of the stages' strides ({reduction})")
        self.frames, self.st_frames, self.length = int(frames), int(st_frames), int(length)
        self.out_scale = float(out_scale)
        self.embedding = nn.Embedding(num_classes, embed_dim)
        # the category enters the seed with the variance of all C_st·T' standardised features together (sd 1
        # each), not 1/17 of it, so what a category shares is not drowned by what tells two pictures apart
        nn.init.normal_(self.embedding.weight, std=math.sqrt(in_channels * st_frames / embed_dim))
        self.st_dropout = nn.Dropout(st_dropout)  # training only
        self.seed = nn.Linear(in_channels * st_frames + embed_dim, length)
        chans = [1] + [c for c, _, _ in stages]
        self.stages = nn.Sequential(
            *(Stage(chans[i], c, k, s, list(dilations), i == 0) for i, (c, k, s) in enumerate(stages))
        )
        self.post = _conv(chans[-1], latent_dim, post_kernel, gain=0.5)
        self.to_frames = nn.Linear(length // reduction, self.frames)
        # The I3D's S-T features are ReLU outputs (demo: mean 27, sd 38, up to 600) whose per-channel offsets
        # dwarf what tells pictures apart; training sets these to the training set's per-channel statistics
        # (`set_st_statistics`), identity until then.
        self.register_buffer("st_mean", torch.zeros(in_channels))
        self.register_buffer("st_std", torch.ones(in_channels))

    @torch.no_grad()
    def set_st_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel mean and std [in_channels] of the training S-T features; G reads (st − mean) / std."""
        self.st_mean.copy_(mean)
        self.st_std.copy_(std)

    def forward(self, st: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """st [B, in_channels, st_frames], label long [B] → latent [B, latent_dim, frames]."""
        if st.shape[-1] != self.st_frames:
            raise ValueError(f"G reads S-T features of {self.st_frames} frames, got {st.shape[-1]}")
        st = (st - self.st_mean[:, None].to(st.dtype)) / self.st_std[:, None].to(st.dtype)
        x = torch.cat([self.st_dropout(st.flatten(1)), self.embedding(label).to(st.dtype)], dim=1)  # [B, C_st·T' + 256]
        x = self.stages(self.seed(x).unsqueeze(1))  # [B, 1, length] → [B, c, L_out]
        x = torch.tanh(self.post(F.leaky_relu(x, 0.2))) * self.out_scale  # [B, 64, L_out]
        return self.to_frames(x)


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
