"""I3D (pytorchvideo's ResNet-50 `i3d_r50`, 8×8 Kinetics-400 setting) as a frozen S-T feature extractor.

The network is built locally (never downloaded). Its weights come from a local Kinetics-400
checkpoint in pytorchvideo's `.pyth` layout (a dict whose `model_state` is the state dict of
`i3d_r50`, keys `blocks.0.conv.weight` … `blocks.6.proj.bias`) when one is given, otherwise from a
fixed-seed random initialisation — features then carry no Kinetics knowledge.

S-T features: the last ResNet stage's output [B, 2048, T', H/32, W/32] averaged over space →
[B, 2048, T']. For 18 input frames T' = 9 (the max-pool after the first stage halves time).
"""

from __future__ import annotations

import os

import torch
from pytorchvideo.models.hub import i3d_r50
from torch import nn

from conchshell.errors import ConchError
from conchshell.io import check_state_dict, load_torch, state_dict_sha256

#: `i3d_r50.blocks`: 0 stem, 1 res2, 2 temporal max-pool, 3 res3, 4 res4, 5 res5, 6 head.
LAST_STAGE = 5
FEATURE_DIM = 2048


def temporal_length(num_frames: int) -> int:
    """T' of the S-T features for `num_frames` input frames (18 → 9)."""
    return (num_frames - 1) // 2 + 1


class I3DFeatures(nn.Module):
    """Frozen I3D: `forward(video [B,3,T,H,W]) -> [B,2048,T']` (T = 18 → T' = 9), eval mode, no grads."""

    def __init__(self, net: nn.Module, pretrained: bool = False):
        super().__init__()
        self.net = net
        self.pretrained = pretrained
        self.net.eval()
        self.net.requires_grad_(False)

    def train(self, mode: bool = True) -> "I3DFeatures":
        """Always stays in eval mode (its batch norms keep their statistics)."""
        return super().train(False)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        h = video
        for block in self.net.blocks[: LAST_STAGE + 1]:
            h = block(h)
        return h.mean(dim=(-2, -1))

    def sha256(self) -> str:
        """Identifies the weights (`conchshell.io.state_dict_sha256` of the i3d_r50 state dict)."""
        return state_dict_sha256(self.net.state_dict())


def make_i3d_r50(seed: int = 0) -> nn.Module:
    """pytorchvideo's i3d_r50 architecture with a fixed-seed random initialisation (no download)."""
    devices = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return i3d_r50(pretrained=False)


def build_i3d(checkpoint: str | os.PathLike | None = None, seed: int = 0) -> I3DFeatures:
    """The frozen feature extractor, with the weights of `checkpoint` when given, else seeded init."""
    net = make_i3d_r50(seed)
    if checkpoint is None:
        return I3DFeatures(net, pretrained=False)
    load_i3d_weights(net, checkpoint)
    return I3DFeatures(net, pretrained=True)


def load_i3d_weights(net: nn.Module, checkpoint: str | os.PathLike) -> None:
    """Load a pytorchvideo `.pyth` (dict with `model_state`) into `net`; ConchError on any mismatch."""
    state = load_torch(checkpoint, "I3D checkpoint")
    if isinstance(state, dict) and "model_state" in state:
        state = state["model_state"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConchError(f"{checkpoint}: not an I3D checkpoint (expected a dict with a `model_state` state dict)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    check_state_dict(net.state_dict(), state, checkpoint, "not an i3d_r50 checkpoint")
    net.load_state_dict(state)


