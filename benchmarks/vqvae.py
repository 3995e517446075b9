"""Jukebox VQ-VAE speed and memory: encode and decode of 8 s at 16 kHz, per level.

Prints a table of seconds per call, real-time factor (audio seconds / compute seconds; > 1 is faster
than real time) and peak resident memory. Uses models/vqvae.pt when present, else an untrained model of
the chosen preset (weights do not change the speed).

    uv run python benchmarks/vqvae.py [--preset demo|jukebox-5b] [--threads N] [--repeats N]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from conchshell import paths
from conchshell.artifacts.jukebox import load_vqvae
from conchshell.audio.spec import PAPER
from conchshell.models.jukebox import VQVAE, JukeboxCodec, preset_hps

SECONDS, RATE = PAPER.seconds, PAPER.rate


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeats: int) -> float:
    """Best wall time of `repeats` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def build(preset: str, checkpoint: Path) -> VQVAE:
    if preset == "demo" and checkpoint.is_file():
        return load_vqvae(checkpoint)
    return VQVAE(preset_hps(preset), preset, RATE).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", choices=("demo", "jukebox-5b"))
    parser.add_argument("--checkpoint", default=str(paths.VQVAE), help="demo checkpoint, when present")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.preset, Path(args.checkpoint))
    codec = JukeboxCodec(model, PAPER)
    wave = 0.1 * torch.randn(1, int(SECONDS * RATE))
    print(
        f"VQ-VAE {args.preset} ({sum(p.numel() for p in model.parameters()):,} parameters), "
        f"{SECONDS:g} s at {RATE} Hz, batch 1, {args.threads} thread(s), best of {args.repeats}"
    )
    print(
        f"{'level':>5} {'hop':>4} {'frames':>6} {'encode s':>9} {'enc RTF':>8} {'decode s':>9} {'dec RTF':>8} {'peak MiB':>9}"
    )
    with torch.inference_mode():
        for level in range(model.levels):
            encoder = model.encoders[level]
            x = codec._to_model(wave).permute(0, 2, 1)

            def encode() -> torch.Tensor:
                return model.bottleneck.level_blocks[level].codes(encoder(x))

            codes = encode()
            enc = timed(encode, args.repeats)
            dec = timed(lambda: codec.decode_codes(codes, level), args.repeats)
            print(
                f"{level:>5} {model.hop_lengths[level]:>4} {codes.shape[1]:>6} {enc:>9.3f} {SECONDS / enc:>8.1f} "
                f"{dec:>9.3f} {SECONDS / dec:>8.1f} {peak_rss_mib():>9.0f}"
            )


if __name__ == "__main__":
    main()
