"""Inception-I3D (Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?"): Inception-v1 inflated to 3-D.

The network the ConchShell authors used to turn Algorithm 1's time-image features into S-T features.
Every 2-D k×k filter of Inception-v1 (Szegedy et al. 2015, Table 1) becomes a k×k×k 3-D filter, except that
the first two max-pools do not pool over time and the last average pool spans 2 frames:

    video [B,3,T,H,W]
      Conv3d_1a_7x7 (7×7×7, stride 2)  → MaxPool3d_2a_3x3 ([1,3,3], stride [1,2,2])
      Conv3d_2b_1x1 → Conv3d_2c_3x3    → MaxPool3d_3a_3x3 ([1,3,3], stride [1,2,2])
      Mixed_3b, Mixed_3c               → MaxPool3d_4a_3x3 ([3,3,3], stride 2)
      Mixed_4b … Mixed_4f              → MaxPool3d_5a_2x2 ([2,2,2], stride 2)
      Mixed_5b, Mixed_5c               → [B,1024,T/8,H/32,W/32]
      AvgPool3d [2,7,7], stride 1, no padding (`features`) → Dropout → 1×1×1 conv `logits` (bias, no BN)

A unit is conv (no bias) → BatchNorm3d (eps 1e-3) → ReLU. An Inception module runs four branches on its
input and concatenates them in the order b0 (1×1×1), b1a→b1b (1×1×1 → 3×3×3), b2a→b2b (1×1×1 → 3×3×3),
b3a→b3b (3×3×3 stride-1 max-pool → 1×1×1). Every conv and max-pool pads "same" in the TensorFlow sense,
computed from the input size in `forward` (`same_padding`), with zeros (also before a max-pool).

Module names and registration order are those of the public PyTorch port's `rgb_imagenet.pt` (a bare state
dict of 344 entries: `logits` first, then Conv3d_1a_7x7 … Mixed_5c; units hold `conv3d` and `bn`), so that
checkpoint loads strictly. For a 224×224, 18-frame clip, `features` is [B,1024,2,1,1]: the 2048 values the
authors condition their generator on. No I/O here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Inception-v1 module widths (Szegedy et al. 2015, Table 1): #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5
#: (a 3×3×3 conv in I3D), pool proj. Output channels: b0 + b1b + b2b + b3b.
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
#: Max-pools between the stages: name → (kernel, stride), inserted before the module named in the value.
POOLS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}
#: The end points in order (the names of the port's `VALID_ENDPOINTS` up to Mixed_5c).
END_POINTS = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)
FEATURE_DIM = 1024
AVG_POOL = (2, 7, 7)
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TensorFlow "same" padding of a [.., T, H, W] input, in F.pad order (W first, smaller half first).

    Per dim: total = max(k − s, 0) when the size divides by s, else max(k − size mod s, 0); the output
    then has ceil(size / s) steps.
    """
    pads: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _triple(v: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)


class Unit3D(nn.Module):
    """ "Same"-padded Conv3d → BatchNorm3d → ReLU: [B,C_in,T,H,W] → [B,C_out,⌈T/s⌉,⌈H/s⌉,⌈W/s⌉].

    `bn=False, relu=False, bias=True` gives the plain conv of the `logits` layer.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel=1, stride=1, bn: bool = True, relu: bool = True, bias: bool = False
    ):
        super().__init__()
        self.kernel, self.stride = _triple(kernel), _triple(stride)
        self.conv3d = nn.Conv3d(c_in, c_out, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM) if bn else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_padding(tuple(x.shape[2:]), self.kernel, self.stride)
        if any(pads):
            x = F.pad(x, pads)
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """Max-pool with zero "same" padding (as the port does): [B,C,T,H,W] → [B,C,⌈T/s⌉,⌈H/s⌉,⌈W/s⌉]."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = _triple(kernel), _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_padding(tuple(x.shape[2:]), self.kernel, self.stride)
        if any(pads):
            x = F.pad(x, pads)
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Inflated Inception module: [B,C_in,T,H,W] → [B, b0 + b1b + b2b + b3b, T, H, W] (branch order kept)."""

    def __init__(self, c_in: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.b0 = Unit3D(c_in, w0, 1)
        self.b1a = Unit3D(c_in, w1a, 1)
        self.b1b = Unit3D(w1a, w1b, 3)
        self.b2a = Unit3D(c_in, w2a, 1)
        self.b2b = Unit3D(w2a, w2b, 3)
        self.b3a = MaxPool3dSame(3, 1)
        self.b3b = Unit3D(c_in, w3b, 1)
        self.out_channels = w0 + w1b + w2b + w3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """Inception-I3D: `forward(video [B,C,T,H,W]) -> logits`, `extract_features(video) -> [B,1024,T″,H″,W″]`.

    For T=18, H=W=224: features [B,1024,2,1,1], logits [B,num_classes,2] (spatial dims of size 1 squeezed,
    as the port does). `end_points(video)` yields (name, output) after each end point (for diagnosis).
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        self.num_classes = int(num_classes)
        self.logits = Unit3D(FEATURE_DIM, self.num_classes, 1, bn=False, relu=False, bias=True)
        self.dropout = nn.Dropout(dropout)
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame(*POOLS["MaxPool3d_2a_3x3"])
        self.Conv3d_2b_1x1 = Unit3D(64, 64, 1)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3)
        channels = 192
        for name in END_POINTS[4:]:
            if name in POOLS:
                setattr(self, name, MaxPool3dSame(*POOLS[name]))
            else:
                module = InceptionModule(channels, INCEPTION_WIDTHS[name])
                setattr(self, name, module)
                channels = module.out_channels
        assert channels == FEATURE_DIM
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation (N(0, 2/fan_in)) of every conv, BatchNorm as the identity: activations keep an
        order-1 scale through all 22 layers, so a random network's features are not vanishingly small."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm3d):
                module.reset_parameters()

    def end_points(self, video: torch.Tensor):
        """Yield (end point name, its output) for Conv3d_1a_7x7 … Mixed_5c."""
        x = video
        for name in END_POINTS:
            x = getattr(self, name)(x)
            yield name, x

    def backbone(self, video: torch.Tensor) -> torch.Tensor:
        """video [B,C,T,H,W] → Mixed_5c output [B,1024,⌈T/8⌉,⌈H/32⌉,⌈W/32⌉]."""
        x = video
        for name in END_POINTS:
            x = getattr(self, name)(x)
        return x

    @staticmethod
    def average_pool(x: torch.Tensor) -> torch.Tensor:
        """The final [2,7,7] stride-1 average pool, unpadded. Where the map is smaller than the kernel (clips
        under ~193 px or 9 frames, on which the port stops with an error) the kernel shrinks to the map."""
        kernel = [min(k, n) for k, n in zip(AVG_POOL, x.shape[2:])]
        return F.avg_pool3d(x, kernel, stride=1)

    def extract_features(self, video: torch.Tensor) -> torch.Tensor:
        """video [B,C,T,H,W] → [B,1024,T″,H″,W″] (average-pooled Mixed_5c; [B,1024,2,1,1] for 18×224×224)."""
        return self.average_pool(self.backbone(video))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        logits = self.logits(self.dropout(self.extract_features(video)))
        for _ in range(2):  # squeeze H then W when they are 1, as the port's `squeeze(3).squeeze(3)`
            logits = logits.squeeze(3)
        return logits
