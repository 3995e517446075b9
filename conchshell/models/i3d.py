"""The frozen I3D feature extractor: time-image features [B,3,T,H,W] → S-T features [B,C,T'].

Two architectures (`i3d.arch` in params.yaml):

- `inception` (default): Inception-I3D (`conchshell.models.inception_i3d`), the network the authors used.
  S-T features = `extract_features` (Mixed_5c, [2,7,7] stride-1 average pool) averaged over space →
  [B,1024,T'], T' = 2 for 18 frames (the authors flatten these same [1024,2] values to 2048).
  Weights: the public port's `rgb_imagenet.pt` layout (a bare state dict, `Conv3d_1a_7x7…`, `logits…`).
- `r50`: pytorchvideo's ResNet-50 `i3d_r50` (8×8 Kinetics-400 setting). S-T features = the last ResNet
  stage [B,2048,T',H/32,W/32] averaged over space → [B,2048,T'], T' = 9 for 18 frames. Weights:
  pytorchvideo's `.pyth` layout (a dict whose `model_state` holds `blocks.0.conv.weight` …). pytorchvideo
  is imported only here, only for this arch.

Without a checkpoint the network is a fixed-seed random initialisation (features carry no pretrained
knowledge). Never downloads anything; checkpoints are read by `conchshell.artifacts.i3d`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from conchshell.io import state_dict_sha256
from conchshell.models.inception_i3d import InceptionI3d

ARCHS = ("inception", "r50")
DEFAULT_ARCH = "inception"
#: Channels of the S-T features per arch.
FEATURE_DIMS = {"inception": 1024, "r50": 2048}
#: `i3d_r50.blocks`: 0 stem, 1 res2, 2 temporal max-pool, 3 res3, 4 res4, 5 res5, 6 head.
R50_LAST_STAGE = 5
#: What each arch's checkpoint looks like, for the error messages.
LAYOUTS = {
    "inception": "an Inception-I3D state dict (rgb_imagenet.pt layout: Conv3d_1a_7x7…Mixed_5c, logits)",
    "r50": "a pytorchvideo i3d_r50 checkpoint (.pyth: a dict with `model_state`, keys blocks.0…blocks.6)",
}


def feature_dim(arch: str = DEFAULT_ARCH) -> int:
    """Channels of the S-T features of `arch` (inception 1024, r50 2048)."""
    return FEATURE_DIMS[check_arch(arch)]


def temporal_length(num_frames: int, arch: str = DEFAULT_ARCH) -> int:
    """T' of the S-T features for `num_frames` input frames (inception 18 → 2, r50 18 → 9)."""
    if check_arch(arch) == "r50":
        return (num_frames - 1) // 2 + 1
    t = math.ceil(math.ceil(math.ceil(num_frames / 2) / 2) / 2)  # Conv3d_1a, MaxPool3d_4a, MaxPool3d_5a: stride 2
    return max(t - 1, 1)  # the final average pool spans 2 frames (clipped to 1 on a 1-frame map)


class I3DFeatures(nn.Module):
    """Frozen I3D: `forward(video [B,3,T,H,W]) -> [B, feature_dim, T']`, eval mode, no grads.

    `arch` is inception (net an InceptionI3d) or r50 (net pytorchvideo's i3d_r50).
    """

    def __init__(self, net: nn.Module, arch: str = DEFAULT_ARCH, pretrained: bool = False):
        super().__init__()
        self.net = net
        self.arch = check_arch(arch)
        self.feature_dim = FEATURE_DIMS[self.arch]
        self.pretrained = pretrained
        self.net.eval()
        self.net.requires_grad_(False)

    def train(self, mode: bool = True) -> I3DFeatures:
        """Always stays in eval mode (its batch norms keep their statistics)."""
        return super().train(False)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if self.arch == "inception":
            return self.net.extract_features(video).mean(dim=(-2, -1))
        h = video
        for block in self.net.blocks[: R50_LAST_STAGE + 1]:
            h = block(h)
        return h.mean(dim=(-2, -1))

    def sha256(self) -> str:
        """Identifies the weights (`conchshell.io.state_dict_sha256` of the network's state dict)."""
        return state_dict_sha256(self.net.state_dict())


def make_net(arch: str = DEFAULT_ARCH, seed: int = 0, num_classes: int = 400) -> nn.Module:
    """The bare network of `arch` with a fixed-seed random initialisation (no download)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if check_arch(arch) == "inception":
            return InceptionI3d(num_classes=num_classes, in_channels=3)
        from pytorchvideo.models.hub import i3d_r50  # heavy (torchvision, sympy): only for this arch

        return i3d_r50(pretrained=False)


def check_arch(arch: str) -> str:
    """`arch`, or ValueError when it is not one of ARCHS."""
    if arch not in ARCHS:
        raise ValueError(f"I3D arch {arch!r}: choose one of {' | '.join(ARCHS)}")
    return arch
