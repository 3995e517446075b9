"""What the music metrics add to the `evaluate` stage: piano transcription time per 8 s clip, and the total.

Transcribes 8 s, 16 kHz clips of three kinds, interleaved (A B C A B C ...): clean demo pieces, the same
pieces under white noise at 0 dB SNR (rough, like a short demo GAN run's output) and plain noise; prints
the median seconds per clip split into the network (resampling + ONNX) and the note decoding, and the CPU
seconds (one thread: what the wall time is on an idle machine; the wall time grows with others' load). Then the
evaluate stage's added time on the demo data (params.yaml): every generated piece is transcribed on each
run, ground truth and VQ-VAE reconstructions once (cached by content), set against the stage's time
without them (`--baseline`, README: evaluation 2.5 min on the 2-core test machine) and the issue's 1.5×.

    uv run python benchmarks/transcription.py [--clips N] [--baseline SECONDS]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from conchshell import paths
from conchshell.audio.spec import PAPER
from conchshell.config import load_config
from conchshell.data.demo import CATEGORIES, demo_piece
from conchshell.evaluation.music.transcription import PianoTranscriber, frame_windows, unwrap

RATE, SECONDS = PAPER.rate, PAPER.seconds


def clips(count: int) -> dict[str, list[np.ndarray]]:
    """`count` clips of each kind: demo piece, demo piece + white noise (0 dB SNR), white noise."""
    rng = np.random.default_rng(0)
    out = {"demo piece": [], "piece + noise 0 dB": [], "white noise": []}
    for k in range(count):
        category = CATEGORIES[k % len(CATEGORIES)]
        piece = demo_piece(f"{category}_piece_{k:03d}", category, 0, RATE, SECONDS)
        noise = rng.normal(0, 1, piece.shape).astype(np.float32)
        noise *= np.sqrt(np.mean(piece**2) / np.mean(noise**2))
        out["demo piece"].append(piece)
        out["piece + noise 0 dB"].append(piece + noise)
        out["white noise"].append(0.3 * noise / np.abs(noise).max())
    return out


def timed_transcription(transcriber: PianoTranscriber, wave: np.ndarray) -> tuple[float, float, float, int]:
    """(network seconds, decoding seconds, CPU seconds of both, notes) of one clip."""
    cpu, start = time.process_time(), time.perf_counter()
    x = transcriber.resample(wave, RATE)
    note, onset = transcriber.session.run(transcriber.output_names, {transcriber.input_name: frame_windows(x)})
    frames, onsets = unwrap(note, len(x)), unwrap(onset, len(x))
    middle = time.perf_counter()
    notes = transcriber.decode(frames, onsets)
    return middle - start, time.perf_counter() - middle, time.process_time() - cpu, len(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6, help="clips of each kind")
    parser.add_argument("--baseline", type=float, default=150.0, help="evaluate stage seconds without music metrics")
    args = parser.parse_args()
    transcriber = PianoTranscriber()
    kinds = clips(args.clips)
    timed_transcription(transcriber, kinds["demo piece"][0])  # warm-up
    times = {kind: [] for kind in kinds}
    for k in range(args.clips):  # interleaved, so load from other processes hits every kind alike
        for kind, waves in kinds.items():
            times[kind].append(timed_transcription(transcriber, waves[k]))
    print(f"basic-pitch (ONNX, 1 thread), {SECONDS:g} s clips at {RATE} Hz, median of {args.clips} per kind")
    print(f"{'clip':>20} {'network s':>10} {'decode s':>9} {'total s':>8} {'CPU s':>6} {'notes':>6}")
    per_clip = cpu_per_clip = 0.0
    for kind, rows in times.items():
        net, dec, cpu = (statistics.median(r[i] for r in rows) for i in range(3))
        per_clip, cpu_per_clip = max(per_clip, net + dec), max(cpu_per_clip, cpu)
        print(
            f"{kind:>20} {net:>10.3f} {dec:>9.3f} {net + dec:>8.3f} {cpu:>6.3f} {statistics.median(r[3] for r in rows):>6.0f}"
        )

    cfg = load_config(paths.PARAMS)
    pictures = len(CATEGORIES) * cfg.data.pictures_per_category
    pieces = len(CATEGORIES) * cfg.data.pieces_per_category
    first = pictures + 2 * pieces  # generated; ground truth and reconstructions once per piece
    later = pictures  # ground truth and reconstructions come from the cache
    print(
        f"\nevaluate on the demo ({pictures} pictures, {pieces} pieces), at the slowest kind's "
        f"{per_clip:.2f} s/clip wall ({cpu_per_clip:.2f} s CPU):"
    )
    for label, count in (("first run (empty cache)", first), ("later runs (cached truth)", later)):
        wall, cpu = count * per_clip, count * cpu_per_clip
        print(
            f"  {label:>26}: {count:>3} transcriptions, +{wall:5.1f} s wall / +{cpu:5.1f} s CPU → "
            f"{(args.baseline + wall) / args.baseline:.2f}× / {(args.baseline + cpu) / args.baseline:.2f}× "
            f"the {args.baseline:.0f} s stage (budget 1.5×)"
        )


if __name__ == "__main__":
    main()
