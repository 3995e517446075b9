"""`conchshell info`: which models and feature caches exist, what made them, and whether they agree.

Reads only small metadata (checkpoint dicts, HDF5 attributes); never runs a model.
"""

from __future__ import annotations

from pathlib import Path

from conchshell import paths
from conchshell.config import Config
from conchshell.errors import ConchError
from conchshell.io import load_torch, state_dict_sha256


def describe(cfg: Config, models: Path = paths.MODELS, features: Path = paths.FEATURES) -> list[str]:
    """Lines describing params, models/ and data/features/, with a warning for each mismatch."""
    lines = [f"params: level={cfg.level} image_encoder={cfg.image_encoder} data.source={cfg.data.source} seed={cfg.seed}"]
    vqvae_hash = None
    for name, what, summarise in (
        ("vqvae.pt", "Jukebox VQ-VAE", _vqvae),
        ("tcnn.pt", "TCNN", _tcnn),
        ("gan.pt", "GAN", _gan),
    ):
        path = models / name
        if not path.is_file():
            lines.append(f"{path}: missing (run `dvc repro`)")
            continue
        try:
            ckpt = load_torch(path, f"{what} checkpoint")
            text, digest = summarise(ckpt, cfg)
        except (ConchError, KeyError, TypeError) as err:
            lines.append(f"{path}: unreadable ({err})")
            continue
        vqvae_hash = digest if name == "vqvae.pt" else vqvae_hash
        lines.append(f"{path}: {text}")
    for name in ("audio.h5", "images.h5"):
        lines.append(_store(features / name, vqvae_hash if name == "audio.h5" else None))
    return lines


def _vqvae(ckpt: dict, cfg: Config) -> tuple[str, str]:
    digest = state_dict_sha256(ckpt["model"])
    hps = ckpt.get("hps", {})
    text = f"preset {ckpt.get('preset', '?')}, codebook {hps.get('l_bins', '?')}, runs at {ckpt.get('sample_rate', '?')} Hz"
    return f"{text}, weights {digest[:12]}", digest


def _tcnn(ckpt: dict, cfg: Config) -> tuple[str, None]:
    text = f"{ckpt['arch']}, {len(ckpt['categories'])} categories ({', '.join(ckpt['categories'])})"
    if ckpt["arch"] != cfg.image_encoder:
        text += f"  [stale: params say image_encoder={cfg.image_encoder}]"
    return text, None


def _gan(ckpt: dict, cfg: Config) -> tuple[str, None]:
    text = f"level {ckpt['level']}, {ckpt['step']} steps, profile {ckpt['config'].get('profile', '?')}"
    if ckpt["level"] != cfg.level:
        text += f"  [stale: params say level={cfg.level}]"
    return text, None


def _store(path: Path, vqvae_hash: str | None) -> str:
    import h5py

    if not path.is_file():
        return f"{path}: missing (run `dvc repro`)"
    try:
        with h5py.File(path, "r") as f:
            count, attrs = len(f["ids"]), dict(f.attrs)
    except (OSError, KeyError) as err:
        return f"{path}: unreadable ({err})"
    if "vqvae_sha256" in attrs:
        text = f"{count} clips, codes and latents of levels 0-2, preset {attrs.get('preset')}"
        if vqvae_hash is not None and attrs["vqvae_sha256"] != vqvae_hash:
            text += "  [stale: made by another VQ-VAE; re-run encode_audio]"
        return f"{path}: {text}"
    pretrained = "Kinetics weights" if attrs.get("i3d_pretrained") else "seeded random I3D"
    return f"{path}: {count} pictures, S-T features from {attrs.get('image_encoder')} + {pretrained}"
