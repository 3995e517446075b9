"""VQ-VAE hyperparameters under Jukebox's own names.

`jukebox-5b`: the released 5b VQ-VAE (shared by 5b, 5b_lyrics, 1b_lyrics), native rate 44.1 kHz.
`demo`: the same architecture, run at 16 kHz, with width, depth and codebook size from params.yaml and
every level at the base width (hvqvae_multipliers [1, 1, 1]: the 5b doubling of level 0 would double
the demo's CPU training time).
"""

from __future__ import annotations

import copy

from conchshell.errors import ConchError

JUKEBOX_5B: dict = {
    "sr": 44100,
    "levels": 3,
    "downs_t": [3, 2, 2],
    "strides_t": [2, 2, 2],
    "emb_width": 64,
    "l_bins": 2048,
    "l_mu": 0.99,
    "commit": 0.02,
    "width": 32,
    "depth": 4,
    "m_conv": 1.0,
    "dilation_growth_rate": 3,
    "dilation_cycle": None,
    "hvqvae_multipliers": [2, 1, 1],
    "vqvae_reverse_decoder_dilation": True,
    "use_bottleneck": True,
    "sample_length": 1048576,
}

PRESETS = ("demo", "jukebox-5b")

#: hps keys that shape the model (everything else in a checkpoint's hps is ignored).
ARCH_KEYS = (
    "levels",
    "downs_t",
    "strides_t",
    "emb_width",
    "l_bins",
    "width",
    "depth",
    "m_conv",
    "dilation_growth_rate",
    "dilation_cycle",
    "hvqvae_multipliers",
    "vqvae_reverse_decoder_dilation",
)


def preset_hps(name: str, width: int = 16, depth: int = 3, l_bins: int = 256, sr: int | None = None) -> dict:
    """The hps dict of preset `name`; `width`, `depth`, `l_bins`, `sr` apply to `demo` only (`sr` None: the
    5b's, which a checkpoint's hps then replace: `merge_hps`)."""
    if name == "jukebox-5b":
        return copy.deepcopy(JUKEBOX_5B)
    if name == "demo":
        hps = copy.deepcopy(JUKEBOX_5B)
        hps.update(width=width, depth=depth, l_bins=l_bins, hvqvae_multipliers=[1, 1, 1])
        if sr is not None:
            hps.update(sr=sr, sample_length=sr)
        return hps
    raise ConchError(f"vqvae.preset: {name!r} is not a preset; choose one of: {' | '.join(PRESETS)}")


def merge_hps(base: dict, override: dict | None) -> dict:
    """`base` updated with the architecture keys (and `sr`) found in `override` (tuples → lists)."""
    hps = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if key in ARCH_KEYS or key in ("sr", "l_mu", "commit", "sample_length"):
            hps[key] = list(value) if isinstance(value, tuple) else value
    return hps
