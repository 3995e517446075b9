"""Stage `vqvae`: import the official Jukebox VQ-VAE checkpoint, or train the demo VQ-VAE.

With `vqvae.checkpoint` set, the file is validated (official layout, strict keys and shapes) and
re-written as models/vqvae.pt with our `preset` and `sample_rate`. Otherwise the `demo` preset is
trained on the prepared training clips (at `vqvae.sample_rate`) and evaluated on the val clips.
Writes models/vqvae.pt and metrics/vqvae.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from conchshell import paths
from conchshell.artifacts.jukebox import load_vqvae, save_vqvae
from conchshell.artifacts.stores import unique_clips
from conchshell.audio.files import read_audio
from conchshell.audio.spec import AudioSpec
from conchshell.config import load_config
from conchshell.data.manifest import read_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.io import guard_temporaries, state_dict_sha256, sweep_folders, write_json
from conchshell.models.jukebox import VQVAE, preset_hps
from conchshell.training.vqvae import train_vqvae


def read_clips(prepared: Path, manifest, split: str, spec: AudioSpec) -> np.ndarray:
    """Each clip of `split` once, at `spec` (its rate and seconds) → float32 [N, spec.samples]."""
    clips = unique_clips(manifest, split)
    return (
        np.stack([read_audio(prepared / rel, spec.rate, spec.seconds) for _, rel in clips])
        if clips
        else np.zeros((0, spec.samples), np.float32)
    )


def import_checkpoint(cfg, out: Path) -> dict:
    """Validate the official checkpoint and write it as `out`; return metrics."""
    model = load_vqvae(cfg.vqvae.checkpoint)
    save_vqvae(model, out, preset=model.preset, sample_rate=cfg.vqvae.sample_rate)
    return {"preset": model.preset, "imported": str(cfg.vqvae.checkpoint)}


def train_demo(cfg, prepared: Path, out: Path) -> dict:
    """Train the demo preset on the training clips; write `out`; return metrics."""
    vq = cfg.vqvae
    if vq.preset != "demo":
        raise ConchError(
            f"vqvae.preset: {vq.preset} is not trained here; set vqvae.checkpoint to the official vqvae.pth.tar "
            "or use preset demo"
        )
    manifest = read_manifest(prepared)
    spec = AudioSpec(vq.sample_rate, cfg.data.seconds)  # the clips at the VQ-VAE's rate
    train = read_clips(prepared, manifest, "train", spec)
    if len(train) == 0:
        raise ConchError(f"{prepared / 'manifest.csv'}: no training clips to train the VQ-VAE on")
    val = read_clips(prepared, manifest, "val", spec)
    torch.manual_seed(cfg.seed)
    model = VQVAE(preset_hps("demo", width=vq.width, depth=vq.depth, l_bins=vq.l_bins, sr=vq.sample_rate))
    metrics = train_vqvae(model, train, vq, seed=cfg.seed, eval_waves=val if len(val) else train)
    save_vqvae(model, out, preset="demo", sample_rate=vq.sample_rate)
    return {"preset": "demo", "train_clips": len(train), "eval_clips": len(val) or len(train), **metrics}


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--prepared", default=str(paths.PREPARED), help="prepared data folder")
    parser.add_argument("--model", default=str(paths.VQVAE), help="output checkpoint")
    parser.add_argument("--metrics", default=str(paths.METRICS / "vqvae.json"), help="output metrics")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(Path(args.model).parent, Path(args.metrics).parent)  # a killed run's temporaries
    cfg = load_config(args.params)
    out = Path(args.model)
    started = time.perf_counter()
    if cfg.vqvae.checkpoint:
        metrics = import_checkpoint(cfg, out)
    else:
        metrics = train_demo(cfg, Path(args.prepared), out)
    seconds = time.perf_counter() - started  # printed only: metrics/vqvae.json is hashed by DVC
    model = load_vqvae(out)
    metrics.update(
        sample_rate=cfg.vqvae.sample_rate,
        l_bins=model.l_bins,
        hop_lengths=model.hop_lengths,
        parameters=sum(p.numel() for p in model.parameters()),
        vqvae_sha256=state_dict_sha256(model.state_dict()),
    )
    write_json(args.metrics, metrics)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("recon_l1_"))
    print(f"vqvae: {metrics['preset']} written to {out} in {seconds:.0f} s" + (f" ({summary})" if summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
