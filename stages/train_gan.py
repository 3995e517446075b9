"""Stage `train_gan`: train the ConchShell GAN of `level` on the cached features (audio.h5, images.h5).

Reads the manifest (picture ↔ clip pairing), both HDF5 caches and the frozen VQ-VAE; never runs TCNN,
I3D or the Jukebox encoder. Writes models/gan.pt, DVCLive logs under dvclive/ and resumable checkpoints
under checkpoints/gan/ (a killed run started again continues from the last one; once models/gan.pt is
written the checkpoint is deleted, so a later run with changed inputs or code never mistakes it for its own).

Single process: `python stages/train_gan.py`. Several GPUs or CPU processes:
`torchrun --nproc-per-node N stages/train_gan.py` (DDP; rank 0 logs and saves).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from conchshell import paths
from conchshell.artifacts.jukebox import load_vqvae
from conchshell.artifacts.stores import PairDataset
from conchshell.config import load_config
from conchshell.data.manifest import read_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.io import file_sha256, guard_temporaries, save_torch, state_dict_sha256, sweep_folders
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.training.gan import (
    close_distributed,
    discard_checkpoint,
    init_distributed,
    set_deterministic,
    train_gan,
)


def image_categories(images_h5: Path, dataset: PairDataset) -> list[str]:
    raw = dataset.image_store.attrs.get("categories")
    try:
        names = json.loads(raw) if isinstance(raw, str) else list(raw)
    except (TypeError, ValueError):
        names = None
    if not names:
        raise ConchError(f"{images_h5}: attribute `categories` missing or unreadable; re-run encode_images")
    return [str(n) for n in names]


def recorded_i3d(dataset: PairDataset) -> dict | None:
    """The I3D identity encode_images recorded in images.h5 (older stores: arch and weights hash only)."""
    attrs = dataset.image_store.attrs
    if isinstance(attrs.get("i3d"), str):
        return json.loads(attrs["i3d"])
    if attrs.get("i3d_sha256") is None:
        return None
    return {"arch": str(attrs.get("i3d_arch", "r50")), "sha256": str(attrs["i3d_sha256"])}


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--output", default=str(paths.GAN), help="output checkpoint (models/gan.pt)")
    parser.add_argument("--checkpoints", default=str(paths.GAN_CHECKPOINTS), help="folder of the resumable last.pt")
    parser.add_argument("--live", default=str(paths.DVCLIVE), help="DVCLive folder (losses, spectrograms)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: CUDA when there is one")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(Path(args.output).parent, paths.GAN_CHECKPOINTS, paths.DVCLIVE)  # a killed run's temporaries
    cfg = load_config(args.params)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConchError("--device cuda: PyTorch sees no CUDA device here")
    set_deterministic(cfg.gan.deterministic)  # before CUDA starts: cuBLAS reads its workspace setting once
    env = init_distributed(cpu=args.device == "cpu")
    try:
        torch.set_num_threads(max(1, torch.get_num_threads() // env.world))
        vqvae = load_vqvae(paths.VQVAE)
        vqvae_sha = state_dict_sha256(vqvae.state_dict())
        dataset = PairDataset(
            read_manifest(paths.PREPARED), paths.AUDIO_H5, paths.IMAGES_H5, cfg.level, "train", vqvae_sha
        )
        audio_spec = dataset.audio_store.spec
        codec = JukeboxCodec(vqvae, audio_spec)
        categories = image_categories(paths.IMAGES_H5, dataset)
        inputs = {str(p): file_sha256(p) for p in (paths.MANIFEST, paths.AUDIO_H5, paths.IMAGES_H5, paths.VQVAE)}
        ckpt, result = train_gan(
            cfg, dataset, codec, categories, vqvae_sha, args.checkpoints, args.live, env, inputs=inputs
        )
        ckpt["i3d"] = recorded_i3d(dataset)  # generate checks it (conchshell.artifacts.checkpoints.check_i3d)
        if env.main:
            save_torch(ckpt, Path(args.output))
            discard_checkpoint(args.checkpoints)
            resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
            losses = ", ".join(f"{k} {v:.4g}" for k, v in result.last.items())
            print(f"train_gan: {cfg.level} G trained {result.step} steps{resumed} → {args.output} ({losses})")
    finally:
        close_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
