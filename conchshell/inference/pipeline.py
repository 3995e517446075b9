"""The frozen picture → music model in PyTorch (the eager path, and what the ONNX graph is exported from).

    picture uint8 [H,W,3] → to_tensor [B,3,224,224] in [0,1]
      → ImageBranch (TCNN normalisation → TCNN time path → Algorithm 1 → frozen I3D)
                                           → st [B,C_st,T'], probs [B,C]; label = argmax probs
                                             (C_st = 1024 for i3d.arch inception, 2048 for r50)
      → Generator G_level(st, label)       → latent [B,64,T_L]
      → JukeboxCodec.quantise (nearest codebook entry, no straight-through)
      → JukeboxCodec.decode                → wave [B,T] at the audio spec G was trained on (T = rate · seconds)

`load_pipeline(models_dir)` reads models/tcnn.pt, models/vqvae.pt and models/gan.pt through
`conchshell.artifacts.checkpoints`; the I3D is rebuilt exactly as `encode_images` built it (params.yaml's i3d.arch and
i3d.checkpoint, or the seeded random init) and checked against the identity recorded in gan.pt.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from conchshell.artifacts.checkpoints import check_i3d, gan_path, load_generator, load_tcnn, load_vqvae
from conchshell.artifacts.i3d import build_i3d
from conchshell.audio.spec import UNRECORDED, AudioSpec
from conchshell.data.images import to_tensor
from conchshell.errors import ConchError
from conchshell.models.generator import Generator
from conchshell.models.i3d import feature_dim
from conchshell.models.image_branch import ImageBranch
from conchshell.models.jukebox.codec import JukeboxCodec


def synthesise(
    generator: Generator, codec: JukeboxCodec, level: str | int, st: torch.Tensor, label: torch.Tensor, num_samples: int
) -> torch.Tensor:
    """S-T features st [B,C_st,T'] + label long [B] → wave [B, num_samples] (G → quantise → decode)."""
    z = generator(st, label)
    z_q, _ = codec.quantise(z, level, straight_through=False)
    return codec.decode(z_q, level, num_samples)


def fold_weight_norm(module: nn.Module) -> nn.Module:
    """Replace every weight-norm parametrisation in `module` by its current weight (inference only).

    The generator's convolutions are weight-normalised; at inference, recomputing g·v/‖v‖ on every call is
    wasted work. Returns `module`, changed in place; its outputs do not change.
    """
    from torch.nn.utils import parametrize

    for sub in list(module.modules()):
        if parametrize.is_parametrized(sub):
            for name in list(sub.parametrizations):
                parametrize.remove_parametrizations(sub, name, leave_parametrized=True)
    return module


class Pipeline(nn.Module):
    """`forward(pictures [B,3,224,224] in [0,1]) -> (wave [B,T], label long [B])`, frozen and in eval mode.

    `run(pictures uint8 [B,H,W,3]) -> (wave float32 [B,T], label int64 [B])` in numpy, as `conchshell.inference.generate`
    and the ONNX Runtime pipeline (`conchshell.inference.runtime.OrtPipeline`) take it.
    The generator's weight norm is folded into plain weights (`fold_weight_norm`, in place).
    """

    backend = "eager"

    def __init__(
        self,
        branch: ImageBranch,
        generator: Generator,
        codec: JukeboxCodec,
        level: str,
        categories: list[str],
        image_size: int = 224,
        num_samples: int | None = None,
    ):
        super().__init__()
        self.branch = branch
        self.generator = fold_weight_norm(generator)
        self.codec = codec
        self.level = level
        self.categories = list(categories)
        self.image_size = int(image_size)
        self.num_samples = codec.spec.samples if num_samples is None else int(num_samples)
        self.sample_rate = codec.spec.rate
        self.eval()
        self.requires_grad_(False)

    def forward(self, pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        st, probs = self.branch(pictures)
        label = probs.argmax(-1)
        wave = synthesise(self.generator, self.codec, self.level, st, label, self.num_samples)
        return wave, label

    @torch.inference_mode()
    def run(self, pictures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 pictures [B,H,W,3] → (wave float32 [B,T], label int64 [B])."""
        device = next(self.parameters()).device
        wave, label = self(to_tensor(pictures).to(device))
        return wave.float().cpu().numpy(), label.cpu().numpy()


def load_pipeline(
    models_dir: str | os.PathLike = "models",
    level: str | None = None,
    device: str = "cpu",
    i3d_checkpoint: str | os.PathLike | None = None,
    i3d_seed: int = 0,
    i3d_arch: str = "inception",
) -> Pipeline:
    """Build the frozen Pipeline from `models_dir` (tcnn.pt, vqvae.pt, gan.pt or gan-<level>.pt).

    `level` (high|low|deep) must be the level the generator was trained for; None takes the generator's.
    `i3d_arch` / `i3d_checkpoint` / `i3d_seed` must be what encode_images used (params.yaml's i3d.arch,
    i3d.checkpoint, seed): the I3D they build must be the one recorded in gan.pt (when it records one).
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ConchError(f"{models_dir}: models folder not found (run `dvc repro` or give --models DIR)")
    path = gan_path(models_dir, level)
    for needed in (path, models_dir / "tcnn.pt", models_dir / "vqvae.pt"):
        if not needed.is_file():
            raise ConchError(f"{needed}: not found (run `dvc repro` to train the models, or give --models DIR)")
    gan = load_generator(path)
    if level is not None and gan.level != level:
        raise ConchError(
            f"{path}: generator was trained for level {gan.level}, not {level} "
            f"(train it with `dvc exp run -S level={level}`, or drop --level)"
        )
    tcnn = load_tcnn(models_dir / "tcnn.pt")
    if gan.categories != tcnn.categories:
        raise ConchError(f"{path}: trained on other categories than {models_dir / 'tcnn.pt'}; re-run train_gan")
    vqvae = load_vqvae(models_dir / "vqvae.pt")
    spec = AudioSpec.from_dict(gan.meta, f"{path} (re-run train_gan)", unrecorded=UNRECORDED)
    codec = JukeboxCodec(vqvae, spec)
    if gan.in_channels != feature_dim(i3d_arch):
        raise ConchError(
            f"{path}: generator reads {gan.in_channels}-channel S-T features but i3d.arch {i3d_arch} gives "
            f"{feature_dim(i3d_arch)}; re-run encode_images and train_gan (or set i3d.arch to the one it was trained on)"
        )
    i3d = build_i3d(i3d_checkpoint, seed=i3d_seed, arch=i3d_arch)
    check_i3d(gan.i3d, i3d, path)
    branch = ImageBranch(tcnn.model, i3d, tcnn.mean, tcnn.std, tcnn.model.arch)
    frames = codec.frames(gan.level, spec.samples)
    if gan.generator.frames != frames:
        raise ConchError(
            f"{path}: generator makes {gan.generator.frames} frames but {models_dir / 'vqvae.pt'} needs "
            f"{frames} at level {gan.level}; re-run train_gan"
        )
    pipeline = Pipeline(branch, gan.generator, codec, gan.level, tcnn.categories, tcnn.image_size)
    return pipeline.to(device)
