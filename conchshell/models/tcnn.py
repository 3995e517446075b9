"""TCNN-6 / TCNN-18 picture classifiers and Algorithm 1 (time-image features).

The TCNN's convolutions are used along two paths that share their weights:

- the **classifier path** (what is trained): each stage's output is max-pooled (2×2) and ReLU'd before
  the next stage, so a 224×224 picture shrinks 224 → 112 → 56 → 28 → 14 → 7 → 3 over the six stages
  and the last map flattens to 128·3·3 = 1152 for Linear(1152→1000→256→C). Its cost is the paper's
  Table 1 figure (827.5 M multiply-accumulates for TCNN-6).
- the **time path** (Algorithm 1's input): the same convolutions chained at full resolution, each conv's
  output the next one's input with nothing between them (no activation, no pooling: the released code's
  `get_time_feature`). Every conv is 'same'-padded, so each block's output is [B, C_i, 224, 224]; these
  maps are the `blocks` of `forward`. At full resolution this path is the expensive one (29.4 G MACs for
  TCNN-6, see `python -m conchshell.evaluation.cost tcnn`).

**Algorithm 1** (time-image features), as the paper defines it: feed the picture through the TCNN's n
convolution layers; take each layer's output [C, 224, 224], divide its C channels into three parts and
average each part, giving one frame [3, 1, 224, 224]; repeat each frame 18 / n times and concatenate the
frames in layer order along time → [3, 18, 224, 224], the "video" I3D reads. The paper is silent on two
points, which the released code (`TCNN_modules/tcnn_get_time_feature.py`) decides and we follow:
- what lies between the layers: nothing (conv → conv, see the time path above);
- how the three parts are cut: each holds ⌊C/3⌋ channels, part k starting at channel k·(⌊C/3⌋ + 1) and
  the last cut at C, so channels ⌊C/3⌋ and 2⌊C/3⌋ + 1 belong to no part (C = 16: channels 0–4, 6–10,
  12–15; C = 128: 0–41, 43–84, 86–127). `channel_parts` gives them.

TCNN-6: six blocks, channels 3→16 (k7, dilation 2) →32 (k7) →64 (k5, d2) →128 (k5) →256 (k3, d2)
→128 (k3), one block per stage; 2,284,686 parameters (paper: 2.285 M).
TCNN-18: eighteen blocks; the paper gives only its size (7.543 M params, 1.443 G), so ours keeps
TCNN-6's six blocks and adds twelve 3×3 blocks where the classifier path is small, placed so that
both figures match: four 256→256 after block 5 (at 14×14 on the classifier path), four 256→256
before block 6 and four 128→128 after it (at 7×7), dilations alternating 1, 2. 7,595,662
parameters (+0.7 %); its classifier path costs 1.435 G MACs (−0.6 %).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Block spec: (in channels, out channels, kernel, dilation).
Block = tuple[int, int, int, int]

_TCNN6_STAGES: list[list[Block]] = [
    [(3, 16, 7, 2)],
    [(16, 32, 7, 1)],
    [(32, 64, 5, 2)],
    [(64, 128, 5, 1)],
    [(128, 256, 3, 2)],
    [(256, 128, 3, 1)],
]


def _tcnn18_stages() -> list[list[Block]]:
    stages = [list(stage) for stage in _TCNN6_STAGES]
    extra_256 = [(256, 256, 3, 1 + i % 2) for i in range(4)]
    stages[4] = stages[4] + extra_256
    stages[5] = extra_256 + stages[5] + [(128, 128, 3, 1 + i % 2) for i in range(4)]
    return stages


#: arch → stages (each a list of blocks); pooling + ReLU follow every stage on the classifier path.
ARCHS: dict[str, list[list[Block]]] = {"tcnn6": _TCNN6_STAGES, "tcnn18": _tcnn18_stages()}
#: Algorithm 1 makes 18 frames: TCNN-6 repeats each of its 6 block frames 3 times, TCNN-18 uses each once.
NUM_FRAMES = 18
#: The smallest picture side the classifier path accepts (six 2×2 poolings need at least 64 pixels).
MIN_IMAGE_SIZE = 64
FEATURE_SIDE = 3  # the classifier path's last map is [B, 128, 3, 3] for a 224×224 picture


class TCNN(nn.Module):
    """TCNN-6 or TCNN-18: `forward(x [B,3,H,W]) -> (logits [B,C], blocks)`, blocks = [B,C_i,H,W] each."""

    def __init__(self, arch: str = "tcnn6", num_classes: int = 6, dropout: float = 0.4):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown TCNN arch {arch!r}; choose one of {', '.join(ARCHS)}")
        self.arch = arch
        self.stage_sizes = [len(stage) for stage in ARCHS[arch]]
        self.convs = nn.ModuleList(
            nn.Conv2d(cin, cout, k, padding=d * (k - 1) // 2, dilation=d)
            for stage in ARCHS[arch]
            for cin, cout, k, d in stage
        )
        out_channels = self.convs[-1].out_channels
        self.classifier = nn.Sequential(
            nn.Linear(out_channels * FEATURE_SIDE**2, 1000),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(1000, 256),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )

    @property
    def num_blocks(self) -> int:
        return len(self.convs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x [B,3,H,W] (normalised) → (logits [B,C], blocks: num_blocks maps [B,C_i,H,W])."""
        return self.classify(x), self.time_blocks(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier path only: x [B,3,H,W] → logits [B,C] (what training needs)."""
        h = x
        index = 0
        for size in self.stage_sizes:
            for j in range(size):
                h = self.convs[index](h)
                index += 1
                if j < size - 1:
                    h = F.relu(h)
            h = F.relu(F.max_pool2d(h, 2))
        if h.shape[-2:] != (FEATURE_SIDE, FEATURE_SIDE):  # pictures other than 224×224
            h = F.adaptive_max_pool2d(h, FEATURE_SIDE)
        return self.classifier(h.flatten(1))

    def time_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The time path: x [B,3,H,W] → every conv's full-resolution output [B,C_i,H,W], convs chained directly."""
        blocks = []
        h = x
        for conv in self.convs:
            h = conv(h)
            blocks.append(h)
        return blocks

    def time_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Algorithm 1's per-block frames without keeping the block maps: x [B,3,H,W] → [B,3,N,H,W].

        Equal to `stack(group_means(b) for b in time_blocks(x))`, but cheaper: the last block's map is
        needed only through its three channel-group means, and a mean of conv outputs is the conv with
        the mean of their weights, so the last conv runs with 3 output channels instead of C_N.
        """
        frames = []
        h = x
        for conv in self.convs[:-1]:
            h = conv(h)
            frames.append(group_means(h))
        frames.append(_grouped_mean_conv(self.convs[-1], h))
        return torch.stack(frames, dim=2).contiguous()


def _grouped_mean_conv(conv: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
    """group_means(conv(h)) computed as one conv with 3 outputs: h [B,Cin,H,W] → [B,3,H,W]."""
    parts = channel_parts(conv.out_channels)
    weight = torch.stack([conv.weight[part].mean(0) for part in parts])
    bias = torch.stack([conv.bias[part].mean() for part in parts]) if conv.bias is not None else None
    return F.conv2d(h, weight, bias, conv.stride, conv.padding, conv.dilation)


def channel_parts(channels: int) -> list[slice]:
    """Algorithm 1's three channel parts of a C-channel map, as the released code cuts them: ⌊C/3⌋
    channels each, part k from channel k·(⌊C/3⌋ + 1), the last cut at C (16 → 0–4, 6–10, 12–15)."""
    n = channels // 3
    if 2 * (n + 1) >= channels:
        raise ValueError(f"a block map needs at least 7 channels for three parts, got {channels}")
    return [slice(k * (n + 1), min(k * (n + 1) + n, channels)) for k in range(3)]


def group_means(block: torch.Tensor) -> torch.Tensor:
    """Algorithm 1's per-block step: [B,C,H,W] → [B,3,H,W], part k's channel mean in output channel k."""
    return torch.stack([block[:, part].mean(dim=1) for part in channel_parts(block.shape[1])], dim=1)


def repeats_for(arch: str) -> int:
    """How often Algorithm 1 repeats each block frame: 3 for TCNN-6, 1 for TCNN-18."""
    num_blocks = sum(len(stage) for stage in ARCHS[arch])
    return NUM_FRAMES // num_blocks


def frames_to_video(frames: torch.Tensor, arch: str) -> torch.Tensor:
    """Per-block frames [B,3,N,H,W] → time-image features [B,3,18,H,W] (each frame repeated in place)."""
    repeats = repeats_for(arch)
    if frames.shape[2] * repeats != NUM_FRAMES:
        raise ValueError(f"{arch}: expected {NUM_FRAMES // repeats} block frames, got {frames.shape[2]}")
    return frames.repeat_interleave(repeats, dim=2) if repeats > 1 else frames


def time_image_features(blocks: list[torch.Tensor], arch: str) -> torch.Tensor:
    """Algorithm 1: block maps (each [B,C_i,H,W]) → time-image features [B,3,18,H,W].

    Each block gives one frame [B,3,1,H,W] (its channels' 3 group means); TCNN-6's frames are each
    repeated 3 times in a row (f1 f1 f1 f2 f2 f2 …), TCNN-18's 18 frames are used once.
    """
    frames = torch.stack([group_means(b) for b in blocks], dim=2)
    return frames_to_video(frames, arch)


def normalise(pictures: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """The TCNN's input preprocessing: pictures [B,3,H,W] in [0,1] → (x − mean) / std per channel."""
    mean = torch.as_tensor(mean, dtype=pictures.dtype, device=pictures.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=pictures.dtype, device=pictures.device).view(1, -1, 1, 1)
    return (pictures - mean) / std
