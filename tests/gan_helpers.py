"""Tiny random VQ-VAE, codec and HDF5 caches for the GAN tests (imported by tests/test_*gan*.py, test_losses.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from conchshell.artifacts.jukebox import freeze, save_vqvae
from conchshell.artifacts.stores import write_audio_store, write_image_store
from conchshell.audio.spec import AudioSpec
from conchshell.io import state_dict_sha256
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE

RATE = 16000


def tiny_vqvae(seed: int = 0) -> VQVAE:
    """A random demo-preset VQ-VAE (width 4, depth 1, 32 codes), frozen."""
    torch.manual_seed(seed)
    return freeze(VQVAE(preset_hps("demo", width=4, depth=1, l_bins=32, sr=RATE)))


def tiny_codec(seed: int = 0) -> JukeboxCodec:
    return JukeboxCodec(tiny_vqvae(seed), AudioSpec(RATE, 1.0))


def make_workspace(
    root: Path, seconds: float = 0.5, clips: int = 4, st_frames: int = 2, params: str = "", st_channels: int = 2048
) -> Path:
    """A repository-like folder: params.yaml, data/prepared/manifest.csv, data/features/*.h5, models/vqvae.pt.

    Two categories, `clips` clips of `seconds` seconds, two pictures per clip (all in train but one clip).
    """
    vqvae = tiny_vqvae()
    save_vqvae(vqvae, root / "models/vqvae.pt", "demo", RATE)
    codec = JukeboxCodec(vqvae, AudioSpec(RATE, seconds))
    n = int(seconds * RATE)
    gen = torch.Generator().manual_seed(1)
    audio = 0.3 * torch.sin(torch.linspace(0, 400, n)).repeat(clips, 1) + 0.05 * torch.randn(clips, n, generator=gen)
    with torch.no_grad():
        latents = [z.numpy() for z in codec.latents(audio)]
        codes = [c.numpy() for c in codec.encode(audio)]
    clip_ids = [f"clip{i}" for i in range(clips)]
    attrs = {
        "preset": "demo",
        "sample_rate": RATE,
        "audio_rate": RATE,
        "hop_lengths": vqvae.hop_lengths,
        "vqvae_sha256": state_dict_sha256(vqvae.state_dict()),
        "l_bins": 32,
        "emb_width": 64,
    }
    write_audio_store(root / "data/features/audio.h5", clip_ids, audio.numpy(), codes, latents, attrs)
    rows = []
    for i, clip in enumerate(clip_ids):
        for j in range(2):
            label = i % 2
            rows.append(
                {
                    "id": f"p{i}_{j}",
                    "category": "ab"[label],
                    "label": label,
                    "split": "val" if i == clips - 1 else "train",
                    "image": f"images/p{i}_{j}.png",
                    "audio": f"audio/{clip}.wav",
                }
            )
    manifest = pd.DataFrame(rows)
    (root / "data/prepared").mkdir(parents=True, exist_ok=True)
    manifest.to_csv(root / "data/prepared/manifest.csv", index=False)
    (root / "data/prepared/categories.json").write_text(json.dumps(["a", "b"]))
    m = len(rows)
    rng = np.random.default_rng(2)
    write_image_store(
        root / "data/features/images.h5",
        list(manifest["id"]),
        rng.standard_normal((m, st_channels, st_frames)).astype(np.float32),
        manifest["label"].to_numpy(),
        np.full((m, 2), 0.5, np.float32),
        {
            "image_encoder": "tcnn6",
            "tcnn_sha256": "x",
            "i3d_sha256": "y",
            "i3d_pretrained": False,
            "categories": json.dumps(["a", "b"]),
        },
    )
    (root / "params.yaml").write_text(
        "seed: 0\nlevel: high\ngan:\n  size: demo\n  width: 0.02\n  batch_size: 2\n  lr_g: 1.0e-3\n"
        "  lr_d: 1.0e-3\n  loss_window_seconds: 0.1\n  log_every: 1\n  sample_every: 2\n  warmup_steps: 0\n" + params
    )
    return root
