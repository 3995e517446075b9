"""`conchshell info`: which models and feature caches exist, what made them, and whether they agree.

Reads only small metadata (checkpoint dicts, HDF5 attributes); never builds or runs a model. Every field it
shows is checked for its type first, so a damaged or foreign checkpoint is one `unreadable (...)` line.
"""

from __future__ import annotations

from pathlib import Path

from conchshell import paths
from conchshell.config import Config
from conchshell.errors import ConchError

#: S-T feature channels per i3d.arch (conchshell.models.i3d.FEATURE_DIMS; kept here so info runs no model code).
I3D_FEATURE_DIMS = {"inception": 1024, "r50": 2048}
#: conchshell.artifacts.checkpoints.LEGACY_ST_CHANNELS (a gan.pt older than generator_config's in_channels).
LEGACY_ST_CHANNELS = 2048


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
        from conchshell.artifacts.jukebox import read_checkpoint
        from conchshell.io import load_torch  # torch: only once there is a checkpoint to read

        try:
            ckpt = read_checkpoint(path) if name == "vqvae.pt" else load_torch(path, f"{what} checkpoint")
            if not isinstance(ckpt, dict):
                raise ConchError(f"a {type(ckpt).__name__}, not a checkpoint dict")
            text, digest = summarise(ckpt, cfg, path)
        except ConchError as err:
            lines.append(f"{path}: unreadable ({str(err).removeprefix(f'{path}: ')})")
            continue
        vqvae_hash = digest if name == "vqvae.pt" else vqvae_hash
        lines.append(f"{path}: {text}")
    for name in ("audio.h5", "images.h5"):
        lines.append(_store(features / name, vqvae_hash if name == "audio.h5" else None, cfg))
    return lines


def _field(ckpt: dict, key: str, types: type | tuple[type, ...], optional: bool = False):
    """ckpt[key], checked to be of `types` (never a bool for numbers); ConchError naming the field."""
    if key not in ckpt:
        if optional:
            return None
        raise ConchError(f"no `{key}` field")
    value, allowed = ckpt[key], types if isinstance(types, tuple) else (types,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ConchError(f"field `{key}` is a {type(value).__name__}, not a {' or '.join(t.__name__ for t in allowed)}")
    return value


def _names(ckpt: dict, key: str) -> list[str]:
    value = _field(ckpt, key, (list, tuple))
    if not all(isinstance(v, str) for v in value):
        raise ConchError(f"field `{key}` must list names (strings)")
    return list(value)


def _state_dict(ckpt: dict, key: str) -> dict:
    value = _field(ckpt, key, dict)
    import torch

    bad = next((k for k, v in value.items() if not isinstance(k, str) or not torch.is_tensor(v)), None)
    if bad is not None:
        raise ConchError(f"field `{key}` is not a state dict (entry {str(bad)[:40]!r} is not a named tensor)")
    return value


def _vqvae(ckpt: dict, cfg: Config, path: Path) -> tuple[str, str]:
    from conchshell.artifacts.jukebox import check_hps
    from conchshell.io import state_dict_sha256
    from conchshell.models.jukebox.presets import merge_hps, preset_hps

    digest = state_dict_sha256(_state_dict(ckpt, "model"))
    preset = _field(ckpt, "preset", str, optional=True) or "jukebox-5b"
    hps = merge_hps(preset_hps(preset if preset == "demo" else "jukebox-5b"), _field(ckpt, "hps", dict, optional=True))
    check_hps(hps, path)
    rate = _field(ckpt, "sample_rate", int, optional=True) or hps["sr"]
    text = f"preset {preset}, codebook {hps['l_bins']}, runs at {rate} Hz"
    return f"{text}, weights {digest[:12]}", digest


def _tcnn(ckpt: dict, cfg: Config, path: Path) -> tuple[str, None]:
    arch, categories = _field(ckpt, "arch", str), _names(ckpt, "categories")
    _state_dict(ckpt, "model")
    text = f"{arch}, {len(categories)} categories ({', '.join(categories)})"
    if arch != cfg.image_encoder:
        text += f"  [stale: params say image_encoder={cfg.image_encoder}]"
    return text, None


def _gan(ckpt: dict, cfg: Config, path: Path) -> tuple[str, None]:
    level, step, config = _field(ckpt, "level", str), _field(ckpt, "step", int), _field(ckpt, "config", dict)
    profile = config.get("profile", "?")
    _state_dict(ckpt, "generator")
    g_config = _field(ckpt, "generator_config", dict)
    width = g_config.get("in_channels", LEGACY_ST_CHANNELS)
    width = width if isinstance(width, int) and not isinstance(width, bool) else LEGACY_ST_CHANNELS
    text = (
        f"level {level}, {step} steps, profile {profile if isinstance(profile, str) else '?'}, "
        f"reads {width}-channel S-T features"
    )
    if level != cfg.level:
        text += f"  [stale: params say level={cfg.level}]"
    if width != I3D_FEATURE_DIMS[cfg.i3d.arch]:
        text += f"  [stale: i3d.arch={cfg.i3d.arch} gives {I3D_FEATURE_DIMS[cfg.i3d.arch]} channels; re-run train_gan]"
    return text + _i3d_identity(_field(ckpt, "i3d", dict, optional=True), cfg), None


def _i3d_identity(i3d: dict | None, cfg: Config) -> str:
    """The I3D the generator's training features came from (conchshell.artifacts.checkpoints.i3d_identity), and whether
    params.yaml still builds it (generate refuses another one)."""
    if not i3d or not isinstance(i3d.get("sha256"), str):
        return ""
    checkpoint, seed = i3d.get("checkpoint"), i3d.get("seed")
    text = f", trained on I3D {i3d.get('arch')} from {f'checkpoint {checkpoint}' if checkpoint else f'seed {seed}'}"
    wanted = str(cfg.i3d.checkpoint) if cfg.i3d.checkpoint else None
    if checkpoint != wanted or (checkpoint is None and seed is not None and seed != cfg.seed):
        text += "  [stale: params build another I3D (i3d.checkpoint / seed); generate refuses it]"
    return text


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
