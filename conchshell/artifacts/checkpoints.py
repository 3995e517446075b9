"""Every model artifact read and written in one place: models/tcnn.pt, models/gan.pt, models/vqvae.pt and
the I3D's identity. Inference (generate, fast, evaluate, serve) loads through here and imports no training module.

    models/tcnn.pt   dict: arch (tcnn6|tcnn18), model (state dict), mean [3], std [3] (the training pictures'
                     per-channel statistics on the [0,1] scale), categories (names), image_size (int)
                     → TCNNCheckpoint
    models/gan.pt    dict: level, generator (state dict), generator_config, categories, config (the gan
                     section), step, vqvae_sha256, replica_sha256, and (since issue 12) i3d: the I3D identity
                     the training features were made with → GANCheckpoint
    models/vqvae.pt  the official Jukebox layout (`conchshell.artifacts.jukebox`, re-exported here)
    I3D identity     dict: arch, checkpoint (path or None), checkpoint_sha256 (file bytes, or None), seed (used
                     only without a checkpoint), sha256 (`I3DFeatures.sha256`, the weights). encode_images records
                     it in images.h5, train_gan copies it into gan.pt, `load_pipeline` checks it (`check_i3d`).

Every loader reads with torch.load(weights_only=True) and turns a bad file into one ConchError line.
Every hyper-parameter that sizes memory or compute (image_size, the number of categories, each
generator_config entry) is bounded before anything is built (`TCNN_RULES`, `GENERATOR_RULES`), and G is
built on the `meta` device and its shapes compared with the file's first: one line naming the file and the key.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import torch

from conchshell.artifacts.jukebox import load_vqvae, save_vqvae
from conchshell.errors import ConchError
from conchshell.io import check_state_dict, file_sha256, load_torch, save_torch
from conchshell.models.generator import Generator, build_generator
from conchshell.models.i3d import I3DFeatures
from conchshell.models.tcnn import ARCHS, TCNN
from conchshell.paths import gan_path

__all__ = [
    "TCNNCheckpoint",
    "save_tcnn",
    "load_tcnn",
    "GANCheckpoint",
    "load_generator",
    "gan_path",
    "i3d_identity",
    "check_i3d",
    "load_vqvae",
    "save_vqvae",
]

TCNN_KEYS = ("arch", "model", "mean", "std", "categories", "image_size")
#: S-T feature width of a gan.pt whose generator_config has no `in_channels`: such files predate the
#: Inception-I3D (the default, 1024 channels), when the only I3D was the ResNet-50 one (2048 channels).
LEGACY_ST_CHANNELS = 2048
GAN_KEYS = ("level", "generator", "generator_config", "categories", "config", "step")


def _int(lo: int, hi: int):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi), f"an integer {lo}..{hi}"


def _ints(lo: int, hi: int, most: int = 16):
    ok = _int(lo, hi)[0]
    check = lambda v: isinstance(v, (list, tuple)) and 0 < len(v) <= most and all(ok(x) for x in v)  # noqa: E731
    return check, f"a list of 1..{most} integers {lo}..{hi}"


def _stages(channels: int, kernel: int, stride: int, most: int = 16):
    ok = (_int(1, channels)[0], _int(1, kernel)[0], _int(1, stride)[0])
    check = lambda v: (  # noqa: E731
        isinstance(v, (list, tuple))
        and 0 < len(v) <= most
        and all(isinstance(s, (list, tuple)) and len(s) == 3 and all(f(x) for f, x in zip(ok, s)) for s in v)
    )
    return check, f"a list of 1..{most} [channels ≤ {channels}, kernel ≤ {kernel}, stride ≤ {stride}]"


def _number(lo: float, hi: float):
    ok = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo < v <= hi  # noqa: E731
    return ok, f"a number in ({lo:g}, {hi:g}]"


#: Bounds of the values that size memory or compute, with a wide margin over the paper's models (224-pixel
#: pictures, 6 categories; G-Deep: 16 k frames, channels ≤ 1024). params.yaml's own bounds are tighter.
MAX_CATEGORIES = 1000
TCNN_RULES = {"image_size": _int(32, 1024)}
GENERATOR_RULES = {
    "frames": _int(1, 200_000),  # 60 s at hop 8 and 16 kHz is 120 k
    "in_channels": _int(1, 8192),
    "num_classes": _int(1, MAX_CATEGORIES),
    "embed_dim": _int(1, 4096),
    "st_frames": _int(1, 1024),
    "length": _int(1, 200_000),
    "stages": _stages(8192, 1024, 64),
    "post_kernel": _int(1, 1024),
    "latent_dim": _int(1, 4096),
    "dilations": _ints(1, 4096),
    "out_scale": _number(0, 1e6),
}


def check_rules(values: dict, rules: dict, path: str | os.PathLike, where: str) -> None:
    """One-line ConchError `<path>: <where><key>: <value> is not <allowed>` for the first value out of bounds.

    Keys absent from `values` are skipped (their defaults are in bounds)."""
    for key, (ok, allowed) in rules.items():
        if key in values and not ok(values[key]):
            shown = repr(values[key])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise ConchError(f"{path}: {where}{key}: {shown} is not {allowed}")


def _check_categories(categories, path: str | os.PathLike) -> None:
    if not isinstance(categories, (list, tuple)) or not 1 <= len(categories) <= MAX_CATEGORIES:
        raise ConchError(f"{path}: categories: expected a list of 1..{MAX_CATEGORIES} names")


# -- TCNN ------------------------------------------------------------------------------------------------
@dataclass
class TCNNCheckpoint:
    """models/tcnn.pt loaded: the classifier (eval mode), its normalisation mean/std [3], categories, picture side."""

    model: TCNN
    mean: torch.Tensor
    std: torch.Tensor
    categories: list[str]
    image_size: int


def save_tcnn(path: str | os.PathLike, model: TCNN, mean, std, categories: list[str], image_size: int) -> None:
    """Write models/tcnn.pt (TCNN_KEYS layout), atomically."""
    save_torch(
        {
            "arch": model.arch,
            "model": model.state_dict(),
            "mean": torch.as_tensor(mean).tolist(),
            "std": torch.as_tensor(std).tolist(),
            "categories": list(categories),
            "image_size": int(image_size),
        },
        path,
    )


def load_tcnn(path: str | os.PathLike) -> TCNNCheckpoint:
    """models/tcnn.pt → TCNNCheckpoint; ConchError on a bad file."""
    ckpt = load_torch(path, "TCNN checkpoint")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in TCNN_KEYS):
        missing = [k for k in TCNN_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        raise ConchError(f"{path}: not a TCNN checkpoint (missing {', '.join(missing)}); re-run train_tcnn")
    if ckpt["arch"] not in ARCHS:
        raise ConchError(f"{path}: unknown TCNN arch {ckpt['arch']!r}")
    check_rules(ckpt, TCNN_RULES, path, "")
    _check_categories(ckpt["categories"], path)
    for key in ("mean", "std"):
        if not _three_finite(ckpt[key], positive=key == "std"):
            raise ConchError(f"{path}: {key}: expected 3 finite numbers{' > 0' if key == 'std' else ''}")
    model = TCNN(ckpt["arch"], len(ckpt["categories"]))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ConchError(f"{path}: weights do not fit {ckpt['arch']} ({str(err).splitlines()[0]})") from err
    model.eval()
    mean = torch.tensor(ckpt["mean"], dtype=torch.float32)
    std = torch.tensor(ckpt["std"], dtype=torch.float32)
    return TCNNCheckpoint(model, mean, std, list(ckpt["categories"]), int(ckpt["image_size"]))


def _three_finite(values, positive: bool) -> bool:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return len(numbers) == 3 and all(math.isfinite(v) and (v > 0 or not positive) for v in numbers)


# -- GAN generator ---------------------------------------------------------------------------------------
@dataclass
class GANCheckpoint:
    """models/gan.pt loaded: G (eval mode) and what it was trained for; `meta` holds every other key of the file."""

    generator: Generator
    level: str
    categories: list[str]
    generator_config: dict
    i3d: dict | None = None
    meta: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        """Width of the S-T features G reads."""
        return int(self.generator_config.get("in_channels", LEGACY_ST_CHANNELS))


def with_identity_st_statistics(state: dict, config: dict) -> dict:
    """A G state dict from before G standardised its input (no st_mean / st_std) → the same with identity ones."""
    if "st_mean" in state or "st_std" in state:
        return state
    channels = int(config.get("in_channels", LEGACY_ST_CHANNELS))
    return {**state, "st_mean": torch.zeros(channels), "st_std": torch.ones(channels)}


def load_generator(path: str | os.PathLike) -> GANCheckpoint:
    """models/gan.pt → GANCheckpoint (G in eval mode); ConchError on a bad file."""
    ckpt = load_torch(path, "GAN checkpoint")
    missing = [k for k in GAN_KEYS if k not in ckpt] if isinstance(ckpt, dict) else list(GAN_KEYS)
    if missing:
        raise ConchError(f"{path}: not a ConchShell GAN checkpoint (no `{missing[0]}`); re-run train_gan")
    config = ckpt["generator_config"]
    if not isinstance(config, dict) or not isinstance(ckpt["generator"], dict):
        raise ConchError(f"{path}: generator_config and generator must be mappings; re-run train_gan")
    if "ratios" in config:  # the upsampling G of before issue 27
        raise ConchError(f"{path}: written for the earlier upsampling generator, not Table 1's; re-run train_gan")
    check_rules(config, GENERATOR_RULES, path, "generator_config.")
    _check_categories(ckpt["categories"], path)
    ckpt["generator"] = with_identity_st_statistics(ckpt["generator"], config)
    try:
        with torch.device("meta"):  # shapes first, no memory: a config the weights do not fill stops here
            skeleton = build_generator(dict(config))
        check_state_dict(skeleton.state_dict(), ckpt["generator"], path, "generator weights do not match")
        g = build_generator(dict(config))
        g.load_state_dict(ckpt["generator"])
    except (TypeError, RuntimeError, ValueError) as err:
        raise ConchError(
            f"{path}: generator weights do not match its generator_config ({str(err).splitlines()[0]})"
        ) from err
    g.eval()
    meta = {k: v for k, v in ckpt.items() if k != "generator"}
    i3d = meta.get("i3d") if isinstance(meta.get("i3d"), dict) else None
    return GANCheckpoint(
        g, str(ckpt["level"]), [str(c) for c in ckpt["categories"]], dict(ckpt["generator_config"]), i3d, meta
    )


# -- I3D identity ----------------------------------------------------------------------------------------
def i3d_identity(i3d: I3DFeatures, checkpoint: str | os.PathLike | None, seed: int) -> dict:
    """What built `i3d`: arch, checkpoint path and its file sha256 (or None), seed, and the weights' sha256."""
    return {
        "arch": i3d.arch,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "checkpoint_sha256": None if checkpoint is None else file_sha256(checkpoint),
        "seed": None if checkpoint is not None else int(seed),
        "sha256": i3d.sha256(),
    }


def check_i3d(recorded: dict | None, i3d: I3DFeatures, where: str | os.PathLike) -> None:
    """One ConchError line when `i3d`'s weights are not those `recorded` at encode time (None: nothing recorded)."""
    if not recorded or recorded.get("sha256") in (None, i3d.sha256()):
        return
    made = f"checkpoint {recorded['checkpoint']}" if recorded.get("checkpoint") else f"seed {recorded.get('seed')}"
    raise ConchError(
        f"{where}: trained on S-T features of another I3D ({recorded.get('arch')}, {made}) than params.yaml's "
        f"i3d settings build now (i3d_sha256 differs); restore i3d.arch / i3d.checkpoint / seed, or re-run "
        "encode_images and train_gan"
    )
