"""Jukebox VQ-VAE checkpoints in the official layout: a dict whose `model` entry is the state dict.

Official files (`vqvae.pth.tar`) also carry `hps` (Jukebox's Hyperparams, a dict subclass), `opt`,
`step` and metrics; ours add `preset` and `sample_rate`. Loading reads only `model` (and `hps` for
the architecture), strips a leading `module.` from keys and loads strictly.

Nothing is built from a file before its fields are checked: `check_hps` bounds every architecture
value (type and a sane range), then the model is built on the `meta` device (no memory) and its
state-dict shapes compared with the file's, and only then built for real. A file whose hps would
need terabytes therefore stops with one line, not an allocation.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from conchshell.errors import ConchError
from conchshell.io import check_state_dict, load_torch, save_torch
from conchshell.models.jukebox.presets import merge_hps, preset_hps
from conchshell.models.jukebox.vqvae import VQVAE

#: Jukebox saves its hps as `jukebox.hparams.Hyperparams`, a dict subclass: read it as a plain dict.
_SAFE_GLOBALS = [(dict, "jukebox.hparams.Hyperparams")]


def read_checkpoint(path: str | os.PathLike) -> dict:
    """torch.load(weights_only=True) of a checkpoint dict; one-line ConchError if it is not one."""
    with torch.serialization.safe_globals(_SAFE_GLOBALS):
        ckpt = load_torch(path, "Jukebox VQ-VAE checkpoint")
    if not isinstance(ckpt, dict):
        raise ConchError(f"{path}: not a Jukebox VQ-VAE checkpoint (a {type(ckpt).__name__}, expected a dict)")
    if "model" not in ckpt or not isinstance(ckpt["model"], dict):
        keys = ", ".join(map(str, list(ckpt)[:5])) or "nothing"
        raise ConchError(f"{path}: not a Jukebox VQ-VAE checkpoint (no `model` state dict; it holds {keys})")
    bad_key = next((k for k in ckpt["model"] if not isinstance(k, str)), None)
    if bad_key is not None:
        raise ConchError(f"{path}: `model` state dict has a key that is not a name ({_show(bad_key)})")
    for key, types, allowed in (
        ("hps", dict, "a dict"),
        ("preset", str, "a string"),
        ("sample_rate", int, "an integer"),
    ):
        if ckpt.get(key) is not None and (not isinstance(ckpt[key], types) or isinstance(ckpt[key], bool)):
            raise ConchError(f"{path}: field `{key}` is a {type(ckpt[key]).__name__}, not {allowed}")
    if ckpt.get("sample_rate") is not None and not 1000 <= ckpt["sample_rate"] <= 384000:
        raise ConchError(f"{path}: field `sample_rate`: {ckpt['sample_rate']} Hz is not a sample rate (1000..384000)")
    return ckpt


def _int(lo: int, hi: int):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi), f"an integer {lo}..{hi}"


def _number(lo: float, hi: float):
    ok = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo < v <= hi  # noqa: E731
    return ok, f"a number in ({lo:g}, {hi:g}]"


#: Every hps value that shapes the model: (check, what is allowed). Ranges hold Jukebox's released
#: models with a wide margin; beyond them a file is not a VQ-VAE this package can run.
HPS_RULES = {
    "levels": _int(1, 4),
    "emb_width": _int(1, 4096),
    "l_bins": _int(2, 32768),  # codes are stored as int16
    "width": _int(1, 4096),
    "depth": _int(1, 64),
    "m_conv": _number(0, 64),
    "dilation_growth_rate": _int(1, 64),
    "dilation_cycle": ((lambda v: v is None or _int(1, 64)[0](v)), "null or an integer 1..64"),
    "vqvae_reverse_decoder_dilation": ((lambda v: isinstance(v, bool)), "true or false"),
    "sr": _int(1000, 384000),
}
#: Per-level lists (one value per level).
LEVEL_RULES = {"downs_t": _int(0, 8), "strides_t": _int(1, 16), "hvqvae_multipliers": _number(0, 16)}
#: Bounds on what a level really gets (width and depth × multiplier).
MAX_LEVEL_WIDTH, MAX_LEVEL_DEPTH = 8192, 128


def check_hps(hps: dict, path: str | os.PathLike) -> None:
    """One-line ConchError `<path>: hps.<key>: ...` for a value of the wrong type or outside a sane range."""
    for key, (ok, allowed) in HPS_RULES.items():
        if not ok(hps.get(key)):
            raise ConchError(f"{path}: hps.{key}: {_show(hps.get(key))} is not {allowed}")
    for key, (ok, allowed) in LEVEL_RULES.items():
        values = hps.get(key)
        if not isinstance(values, list) or len(values) != hps["levels"] or not all(ok(v) for v in values):
            raise ConchError(
                f"{path}: hps.{key}: {_show(values)} is not a list of {hps['levels']} values, each {allowed}"
            )
    biggest = max(hps["hvqvae_multipliers"])
    if int(hps["width"] * biggest) > MAX_LEVEL_WIDTH or int(hps["depth"] * biggest) > MAX_LEVEL_DEPTH:
        raise ConchError(
            f"{path}: hps: width {hps['width']} / depth {hps['depth']} × multiplier {biggest:g} exceed "
            f"{MAX_LEVEL_WIDTH} / {MAX_LEVEL_DEPTH} per level"
        )
    if any(int(hps["depth"] * m) < 1 or int(hps["width"] * m) < 1 for m in hps["hvqvae_multipliers"]):
        raise ConchError(f"{path}: hps: a level's width or depth × multiplier is below 1")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _strip_module(state: dict) -> dict:
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def load_state_strict(model: VQVAE, state: dict, path: str | os.PathLike) -> None:
    """Strict load with a one-line ConchError naming the first missing/unexpected keys or bad shapes."""
    check_state_dict(model.state_dict(), state, path, "state dict does not match the VQ-VAE")
    model.load_state_dict(state, strict=True)


def build_from_checkpoint(
    ckpt: dict,
    path: str | os.PathLike,
    preset: str = "jukebox-5b",
    name: str | None = None,
    sample_rate: int | None = None,
) -> VQVAE:
    """A VQVAE with hps from the file's `hps` (when present) over `preset`, weights loaded strictly.

    `name` and `sample_rate` become the model's `preset` and `sample_rate` (defaults: `preset`, the hps' `sr`).

    The hps are checked (`check_hps`) and the state dict compared with a `meta`-device skeleton
    before the real model, and its memory, exist.
    """
    hps = merge_hps(preset_hps(preset), ckpt.get("hps"))
    check_hps(hps, path)
    state = _strip_module(ckpt["model"])
    with torch.device("meta"):
        skeleton = VQVAE(hps)
    check_state_dict(skeleton.state_dict(), state, path, "state dict does not match the VQ-VAE")
    model = VQVAE(hps, name or preset, sample_rate)
    load_state_strict(model, state, path)
    return model


def freeze(model: VQVAE) -> VQVAE:
    """Eval mode, no gradients for the weights."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_vqvae(path: str | os.PathLike, preset: str | None = None) -> VQVAE:
    """Load a checkpoint in the official layout (ours or Jukebox's) as a frozen, eval-mode VQVAE.

    The model's `preset` and `sample_rate` attributes come from the file (defaults: `preset` argument
    or jukebox-5b, and the hps' `sr`).
    """
    ckpt = read_checkpoint(path)
    preset = preset or ckpt.get("preset") or "jukebox-5b"
    base = preset if preset in ("demo", "jukebox-5b") else "jukebox-5b"
    return freeze(build_from_checkpoint(ckpt, path, base, str(preset), ckpt.get("sample_rate")))


def checkpoint_dict(model: VQVAE, preset: str, sample_rate: int, **extra) -> dict:
    """The official layout: `model` (state dict), `hps`, plus `preset` and `sample_rate`."""
    hps = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.hps.items()}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"hps": hps, "model": state, "preset": preset, "sample_rate": int(sample_rate), **extra}


def save_vqvae(model: VQVAE, path: str | os.PathLike, preset: str, sample_rate: int, **extra) -> None:
    """Write `checkpoint_dict(...)` atomically to `path`."""
    save_torch(checkpoint_dict(model, preset, sample_rate, **extra), Path(path))
