"""Jukebox VQ-VAE checkpoints in the official layout: a dict whose `model` entry is the state dict.

Official files (`vqvae.pth.tar`) also carry `hps` (Jukebox's Hyperparams, a dict subclass), `opt`,
`step` and metrics; ours add `preset` and `sample_rate`. Loading reads only `model` (and `hps` for
the architecture), strips a leading `module.` from keys and loads strictly.
"""

from __future__ import annotations

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
    return ckpt


def _strip_module(state: dict) -> dict:
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def load_state_strict(model: VQVAE, state: dict, path: str | os.PathLike) -> None:
    """Strict load with a one-line ConchError naming the first missing/unexpected keys or bad shapes."""
    check_state_dict(model.state_dict(), state, path, "state dict does not match the VQ-VAE")
    model.load_state_dict(state, strict=True)


def build_from_checkpoint(ckpt: dict, path: str | os.PathLike, preset: str = "jukebox-5b") -> VQVAE:
    """A VQVAE with hps from the file's `hps` (when present) over `preset`, weights loaded strictly."""
    hps = merge_hps(preset_hps(preset), ckpt.get("hps") if isinstance(ckpt.get("hps"), dict) else None)
    try:
        model = VQVAE(hps)
    except (KeyError, TypeError, ValueError) as err:
        raise ConchError(f"{path}: hps do not describe a VQ-VAE ({err})") from err
    load_state_strict(model, _strip_module(ckpt["model"]), path)
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
    model = build_from_checkpoint(ckpt, path, preset if preset in ("demo", "jukebox-5b") else "jukebox-5b")
    model.preset = str(preset)
    model.sample_rate = int(ckpt.get("sample_rate") or model.hps.get("sr", 44100))
    return freeze(model)


def checkpoint_dict(model: VQVAE, preset: str, sample_rate: int, **extra) -> dict:
    """The official layout: `model` (state dict), `hps`, plus `preset` and `sample_rate`."""
    hps = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.hps.items()}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"hps": hps, "model": state, "preset": preset, "sample_rate": int(sample_rate), **extra}


def save_vqvae(model: VQVAE, path: str | os.PathLike, preset: str, sample_rate: int, **extra) -> None:
    """Write `checkpoint_dict(...)` atomically to `path`."""
    save_torch(checkpoint_dict(model, preset, sample_rate, **extra), Path(path))
