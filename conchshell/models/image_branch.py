"""The image branch: picture → (I3D S-T features, TCNN class probabilities).

pictures [B,3,H,W] in [0,1] → normalise with the training set's mean/std (exactly the training
preprocessing, `conchshell.models.tcnn.normalise`) → TCNN classifier path → probs [B,C], and TCNN
time path → Algorithm 1 → time-image features [B,3,18,H,W] → frozen I3D → S-T features [B,C_st,T']
(C_st = `i3d.feature_dim`: 1024 with T' = 2 for Inception-I3D, 2048 with T' = 9 for the ResNet-50 I3D).
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from conchshell.data.images import to_tensor
from conchshell.models.i3d import I3DFeatures
from conchshell.models.tcnn import TCNN, frames_to_video, normalise


class ImageBranch(nn.Module):
    """`forward(pictures [B,3,H,W] in [0,1]) -> (st [B,C_st,T'], probs [B,C])`; frozen, eval mode."""

    def __init__(self, tcnn: TCNN, i3d: I3DFeatures, mean, std, arch: str):
        super().__init__()
        if tcnn.arch != arch:
            raise ValueError(f"the TCNN is {tcnn.arch}, but arch {arch!r} was asked for")
        self.tcnn = tcnn
        self.i3d = i3d
        self.arch = arch
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(3))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(3))
        self.eval()
        self.requires_grad_(False)

    def preprocess(self, pictures: torch.Tensor) -> torch.Tensor:
        """pictures [B,3,H,W] in [0,1] → the TCNN's normalised input [B,3,H,W]."""
        return normalise(pictures, self.mean, self.std)

    def time_image_features(self, pictures: torch.Tensor) -> torch.Tensor:
        """pictures [B,3,H,W] → Algorithm 1's time-image features [B,3,18,H,W]."""
        return frames_to_video(self.tcnn.time_frames(self.preprocess(pictures)), self.arch)

    def forward(self, pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.preprocess(pictures)
        probs = torch.softmax(self.tcnn.classify(x), dim=-1)
        video = frames_to_video(self.tcnn.time_frames(x), self.arch)
        return self.i3d(video), probs


@torch.inference_mode()
def encode_pictures(
    branch: ImageBranch, pictures: torch.Tensor, batch_size: int = 2, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched ImageBranch over pictures uint8 [N,H,W,3] → (st [N,C_st,T'], pred long [N], probs [N,C])."""
    sts, probs = [], []
    for start in tqdm(range(0, len(pictures), batch_size), desc="encode pictures", disable=not progress):
        st, p = branch(to_tensor(pictures[start : start + batch_size].numpy()))
        sts.append(st)
        probs.append(p)
    probs_all = torch.cat(probs)
    return torch.cat(sts), probs_all.argmax(-1), probs_all
