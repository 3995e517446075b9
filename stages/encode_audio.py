"""Stage `encode_audio`: encode every prepared clip once with the VQ-VAE into data/features/audio.h5.

Each clip (in order of first appearance in the manifest, all splits) is read at the audio spec of the
prepared data (`data.sample_rate`, `data.seconds`: conchshell.audio.spec), recorded in the store's attrs, run through
the VQ-VAE at the rate its checkpoint records (params' `vqvae.sample_rate`; resampled on the way in when that differs), and stored with its
codes and continuous latents for all three levels, so changing `level` never re-runs this stage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from conchshell import paths
from conchshell.artifacts.jukebox import load_vqvae
from conchshell.artifacts.stores import encode_audio_store, unique_clips
from conchshell.audio.files import read_audio
from conchshell.config import load_config
from conchshell.data.manifest import read_manifest
from conchshell.errors import report_errors
from conchshell.io import guard_temporaries, state_dict_sha256, sweep_folders
from conchshell.models.jukebox import JukeboxCodec


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--prepared", default=str(paths.PREPARED), help="prepared data folder")
    parser.add_argument("--vqvae", default=str(paths.VQVAE), help="VQ-VAE checkpoint")
    parser.add_argument("--out", default=str(paths.AUDIO_H5), help="output HDF5 store")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(Path(args.out).parent)  # a killed run's temporaries
    cfg = load_config(args.params)
    prepared = Path(args.prepared)
    clips = unique_clips(read_manifest(prepared))
    vqvae = load_vqvae(args.vqvae)
    audio_spec = cfg.data.audio
    codec = JukeboxCodec(vqvae, audio_spec)
    attrs = {
        "preset": vqvae.preset,
        "sample_rate": codec.model_rate,
        **audio_spec.to_dict(),
        "hop_lengths": np.array(vqvae.hop_lengths, dtype=np.int64),
        "vqvae_sha256": state_dict_sha256(vqvae.state_dict()),
        "l_bins": vqvae.l_bins,
        "emb_width": vqvae.emb_width,
    }
    frames = encode_audio_store(
        args.out,
        [clip for clip, _ in clips],
        lambda k: read_audio(prepared / clips[k][1], audio_spec.rate, audio_spec.seconds),
        codec,
        audio_spec.samples,
        cfg.vqvae.encode_batch_size,
        attrs,
    )
    print(f"encode_audio: {len(clips)} clips, frames {frames} per level, written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
