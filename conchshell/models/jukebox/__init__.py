"""Our implementation of the Jukebox VQ-VAE (key-compatible with the official `vqvae.pth.tar`)."""

from conchshell.models.jukebox.checkpoint import load_vqvae, save_vqvae
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE

__all__ = ["VQVAE", "JukeboxCodec", "load_vqvae", "save_vqvae", "preset_hps"]
