"""Speed and memory of the image branch on CPU: picture → TCNN → Algorithm 1 → I3D → S-T features.

    uv run python benchmarks/image_features.py [--threads 2] [--batch 1] [--arch tcnn6] [--repeats 3]

Prints one row per part (ms per picture, pictures/s, peak resident memory while that part ran) and
compares the variants of the expensive parts: Algorithm 1 on the stored block maps (`time_blocks`, as
written in the paper) against `time_frames` (the last conv reduced to its 3 group means, block maps
dropped as soon as their frame is taken), and default (NCHW) against channels_last memory layout.
Weights are random (seeded): speed does not depend on them. Peak memory is the process's resident
high-water mark (VmHWM), reset before each part on Linux; elsewhere it is the process peak so far.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from conchshell.artifacts.i3d import build_i3d
from conchshell.evaluation.cost import count_macs, human
from conchshell.models.image_branch import ImageBranch
from conchshell.models.tcnn import TCNN, frames_to_video, time_image_features


def reset_peak_memory() -> bool:
    """Reset the kernel's resident high-water mark of this process (Linux); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mib() -> float:
    """The resident high-water mark in MiB (VmHWM, or ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(median wall seconds per call, median CPU seconds per call (all threads), peak MiB), after a warm-up.

    On a shared machine the wall time includes waiting for a core; the CPU time does not.
    """
    fn()
    reset_peak_memory()
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus), peak_memory_mib()


def parts(branch: ImageBranch, pictures: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Name → the call to time, on `pictures` [B,3,H,W] (works on the meta device too, for counting)."""
    tcnn, i3d, arch = branch.tcnn, branch.i3d, branch.arch
    x = branch.preprocess(pictures)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    tcnn_cl = copy.deepcopy(tcnn).to(memory_format=torch.channels_last)
    video = frames_to_video(tcnn.time_frames(x), arch)
    video_cl = video.contiguous(memory_format=torch.channels_last_3d)
    i3d_cl = copy.deepcopy(i3d).to(memory_format=torch.channels_last_3d)
    return {
        "TCNN classifier path": lambda: tcnn.classify(x),
        "time path: time_blocks + Alg. 1": lambda: time_image_features(tcnn.time_blocks(x), arch),
        "time path: time_frames (fused)": lambda: tcnn.time_frames(x),
        "time path: time_frames, ch-last": lambda: tcnn_cl.time_frames(x_cl),
        "I3D (to last stage)": lambda: i3d(video),
        "I3D, channels_last_3d": lambda: i3d_cl(video_cl),
        "ImageBranch (whole, as shipped)": lambda: branch(pictures),
    }


def make_branch(arch: str) -> ImageBranch:
    """A seeded TCNN + I3D image branch (random weights; normalisation 0.5 ± 0.25)."""
    torch.manual_seed(0)
    return ImageBranch(TCNN(arch, 6).eval(), build_i3d(seed=0), torch.full((3,), 0.5), torch.full((3,), 0.25), arch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (issue 6 budget: 2)")
    parser.add_argument("--batch", type=int, default=1, help="pictures per call")
    parser.add_argument("--size", type=int, default=224, help="picture side")
    parser.add_argument("--arch", default="tcnn6", choices=["tcnn6", "tcnn18"])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per part (median)")
    parser.add_argument("--only", nargs="*", help="run only the parts whose name contains one of these words")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shape = (args.batch, 3, args.size, args.size)
    with torch.device("meta"):  # MACs are counted on shapes only
        counting = parts(make_branch(args.arch), torch.zeros(shape))
    pictures = torch.rand(shape)
    with torch.inference_mode():
        table = parts(make_branch(args.arch), pictures)
        base = peak_memory_mib()
        print(
            f"image branch on CPU: {args.arch}, batch {args.batch}, {args.size}×{args.size}, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}; resident after setup {base:.0f} MiB"
        )
        header = f"{'part':<34} {'MACs/pic':>11} {'ms/pic':>9} {'pics/s':>8} {'CPU ms/pic':>11} {'peak MiB':>9}"
        print(header)
        print("-" * len(header))
        for name, call in table.items():
            if args.only and not any(word.lower() in name.lower() for word in args.only):
                continue
            macs = count_macs(counting[name]) / args.batch
            seconds, cpu, peak = measure(call, args.repeats)
            per_picture = seconds / args.batch
            print(
                f"{name:<34} {human(macs):>11} {1000 * per_picture:>9.0f} {1 / per_picture:>8.2f} "
                f"{1000 * cpu / args.batch:>11.0f} {peak:>9.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
