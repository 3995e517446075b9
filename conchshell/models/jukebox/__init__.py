"""Our implementation of the Jukebox VQ-VAE (key-compatible with the official `vqvae.pth.tar`,
which `conchshell.artifacts.jukebox` reads and writes)."""

from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE

__all__ = ["VQVAE", "JukeboxCodec", "preset_hps"]
