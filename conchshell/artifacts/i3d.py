"""I3D checkpoints: a local weights file (either arch's layout) → the frozen `I3DFeatures`, never a download.

inception  the public port's rgb_imagenet.pt layout: a bare state dict (Conv3d_1a_7x7…Mixed_5c, logits)
r50        pytorchvideo's .pyth layout: a dict whose `model_state` holds blocks.0…blocks.6
"""

from __future__ import annotations

import os

import torch

from conchshell.errors import ConchError
from conchshell.io import check_state_dict, load_torch
from conchshell.models.i3d import DEFAULT_ARCH, LAYOUTS, I3DFeatures, check_arch, make_net


def build_i3d(checkpoint: str | os.PathLike | None = None, seed: int = 0, arch: str = DEFAULT_ARCH) -> I3DFeatures:
    """The frozen feature extractor of `arch`, with the weights of `checkpoint` when given, else seeded init.

    An Inception checkpoint may have any number of logits classes (rgb_imagenet.pt 400, rgb_charades.pt
    157); the features do not use them.
    """
    if checkpoint is None:
        return I3DFeatures(make_net(arch, seed), arch, pretrained=False)
    state = read_i3d_checkpoint(checkpoint, arch)
    logits = state.get("logits.conv3d.weight")
    num_classes = int(logits.shape[0]) if arch == "inception" and logits is not None and logits.dim() == 5 else 400
    net = make_net(arch, seed, num_classes)
    what = "not an Inception-I3D checkpoint" if arch == "inception" else "not an i3d_r50 checkpoint"
    check_state_dict(net.state_dict(), state, checkpoint, what)
    net.load_state_dict(state)
    return I3DFeatures(net, arch, pretrained=True)


def checkpoint_arch(state: object) -> str | None:
    """Which arch's layout a loaded checkpoint has (inception | r50), or None when it is neither."""
    if isinstance(state, dict) and isinstance(state.get("model_state"), dict):
        return "r50"
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) for k in state):
        return None
    keys = [k.removeprefix("module.") for k in state]
    if any(k.startswith(("Conv3d_1a_7x7.", "Mixed_")) for k in keys):
        return "inception"
    if any(k.startswith("blocks.") for k in keys):
        return "r50"
    return None


def read_i3d_checkpoint(checkpoint: str | os.PathLike, arch: str = DEFAULT_ARCH) -> dict[str, torch.Tensor]:
    """The state dict in `checkpoint` (weights_only; `module.` stripped); one-line ConchError for another layout."""
    check_arch(arch)
    state = load_torch(checkpoint, "I3D checkpoint")
    found = checkpoint_arch(state)
    if found is None:
        raise ConchError(f"{checkpoint}: not an I3D checkpoint (i3d.arch {arch} expects {LAYOUTS[arch]})")
    if found != arch:
        raise ConchError(
            f"{checkpoint}: holds {LAYOUTS[found].split(' (')[0]}, but i3d.arch is {arch}; set i3d.arch: {found}"
        )
    if arch == "r50":
        state = state["model_state"]
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConchError(f"{checkpoint}: not an I3D checkpoint (expected {LAYOUTS[arch]})")
    return {k.removeprefix("module."): v for k, v in state.items()}
