"""`conchshell info`: which models and feature caches exist, what made them, and whether they agree.

Reads only small metadata (checkpoint dicts, HDF5 attributes); never runs a model.
"""

from __future__ import annotations

from pathlib import Path

from conchshell import paths
from conchshell.config import Config
from conchshell.errors import ConchError

#: S-T feature channels per i3d.arch (conchshell.models.i3d.FEATURE_DIMS; kept here so info runs no model code).
I3D_FEATURE_DIMS = {"inception": 1024, "r50": 2048}


def describe(cfg: Config, models: Path = paths.MODELS, features: Path = paths.FEATURES) -> list[str]:
    """Lines describing params, models/ and data/features/, with a warning for each mismatch."""
    lines = [
        f"params: level={cfg.level} image_encoder={cfg.image_encoder} i3d.arch={cfg.i3d.arch} "
        f"data.source={cfg.data.source} seed={cfg.seed}"
    ]
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
        from conchshell.io import load_torch  # torch: only once there is a checkpoint to read

        try:
            ckpt = load_torch(path, f"{what} checkpoint")
            text, digest = summarise(ckpt, cfg)
        except (ConchError, KeyError, TypeError) as err:
            lines.append(f"{path}: unreadable ({err})")
            continue
        vqvae_hash = digest if name == "vqvae.pt" else vqvae_hash
        lines.append(f"{path}: {text}")
    for name in ("audio.h5", "images.h5"):
        lines.append(_store(features / name, vqvae_hash if name == "audio.h5" else None, cfg))
    return lines


def _vqvae(ckpt: dict, cfg: Config) -> tuple[str, str]:
    from conchshell.io import state_dict_sha256

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
    width = int(ckpt.get("generator_config", {}).get("in_channels", 2048))
    text = (f"level {ckpt['level']}, {ckpt['step']} steps, profile {ckpt['config'].get('profile', '?')}, "
            f"reads {width}-channel S-T features")
    if ckpt["level"] != cfg.level:
        text += f"  [stale: params say level={cfg.level}]"
    if width != I3D_FEATURE_DIMS[cfg.i3d.arch]:
        text += f"  [stale: i3d.arch={cfg.i3d.arch} gives {I3D_FEATURE_DIMS[cfg.i3d.arch]} channels; re-run train_gan]"
    return text, None


def _store(path: Path, vqvae_hash: str | None, cfg: Config) -> str:
    if not path.is_file():
        return f"{path}: missing (run `dvc repro`)"
    import h5py

    try:
        with h5py.File(path, "r") as f:
            count, attrs = len(f["ids"]), dict(f.attrs)
            st_shape = tuple(f["st_features"].shape[1:]) if "st_features" in f else None
    except (OSError, KeyError) as err:
        return f"{path}: unreadable ({err})"
    if "vqvae_sha256" in attrs:
        text = f"{count} clips, codes and latents of levels 0-2, preset {attrs.get('preset')}"
        if vqvae_hash is not None and attrs["vqvae_sha256"] != vqvae_hash:
            text += "  [stale: made by another VQ-VAE; re-run encode_audio]"
        return f"{path}: {text}"
    arch = attrs.get("i3d_arch", "r50")  # stores made before i3d.arch existed came from the r50
    pretrained = "pretrained weights" if attrs.get("i3d_pretrained") else "seeded random init"
    text = f"{count} pictures, S-T features {list(st_shape or [])} from {attrs.get('image_encoder')} + I3D {arch} ({pretrained})"
    if arch != cfg.i3d.arch:
        text += f"  [stale: params say i3d.arch={cfg.i3d.arch}; re-run encode_images]"
    return f"{path}: {text}"
