"""Picture → 8 s wav latency per level, split by step (TCNN, I3D, G, decode), as a real-time factor.

    uv run python benchmarks/generate.py [--levels high low deep] [--threads 2] [--batch 1] [--repeats 3]
                                          [--models DIR] [--size demo|paper] [--device cpu|cuda]

Steps: TCNN (normalise, classifier path, time path + Algorithm 1), I3D (S-T features), G (generator),
decode (quantise + Jukebox decoder of that level). `total` times the whole `Pipeline` call. RTF = seconds
of compute per second of music (8 s); below 1 is faster than real time. Peak memory is the resident
high-water mark while that level ran. FLOP-bound limit: the step's counted FLOPs
(`torch.utils.flop_counter`, 2 × MACs of convs and matmuls) over this machine's measured fp32 matmul rate
— the time the step would take if every FLOP ran at matmul speed.

Models: the trained ones in `--models` when they hold a generator for the level, else random weights
(speed does not depend on them) in the sizes params.yaml gives (gan.size / gan.width, the VQ-VAE preset).
Target: the Deep level, batch 1, 2 CPU threads, under 2 s for 8 s of music.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from conchshell.config import LEVELS, load_config
from conchshell.generate import AUDIO_RATE, SECONDS, Pipeline, load_pipeline
from conchshell.models.generator import build_generator, generator_config
from conchshell.models.i3d import build_i3d
from conchshell.models.image_branch import ImageBranch
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE
from conchshell.models.tcnn import TCNN, frames_to_video
from conchshell.profile import count_flops, human

sys.path.insert(0, str(Path(__file__).parent))
from image_features import peak_memory_mib, reset_peak_memory  # the sibling benchmark's helpers


def random_pipeline(level: str, cfg, size: str, num_classes: int = 6) -> Pipeline:
    """A Pipeline with random weights in the configured sizes (TCNN, I3D, demo/jukebox VQ-VAE, G)."""
    torch.manual_seed(0)
    tcnn = TCNN(cfg.image_encoder, num_classes).eval()
    branch = ImageBranch(tcnn, build_i3d(None, seed=0, arch=cfg.i3d.arch), [0.5] * 3, [0.25] * 3, cfg.image_encoder)
    v = cfg.vqvae
    hps = preset_hps(v.preset, width=v.width, depth=v.depth, l_bins=v.l_bins, sr=v.sample_rate)
    codec = JukeboxCodec(VQVAE(hps).eval(), v.sample_rate, AUDIO_RATE)
    num_samples = int(AUDIO_RATE * SECONDS)
    frames = codec.frames(LEVELS[level], num_samples)
    g_config = generator_config(level, frames, size, cfg.gan.width, branch.i3d.feature_dim, num_classes)
    g = build_generator(g_config)
    return Pipeline(branch, g.eval(), codec, level, [str(i) for i in range(num_classes)], 224, num_samples)


def build(level: str, args, cfg) -> tuple[Pipeline, str]:
    models = Path(args.models)
    gan = models / f"gan-{level}.pt"
    if not gan.is_file():
        gan = models / "gan.pt"
    if gan.is_file() and (models / "tcnn.pt").is_file() and (models / "vqvae.pt").is_file():
        meta = torch.load(gan, map_location="cpu", weights_only=True)
        if meta.get("level") == level:
            return load_pipeline(models, level, args.device, cfg.i3d.checkpoint, cfg.seed, cfg.i3d.arch), f"trained ({models})"
    return random_pipeline(level, cfg, args.size).to(args.device), f"random, G size {args.size}"


def steps(pipeline: Pipeline, pictures: torch.Tensor) -> dict[str, tuple]:
    """Step name → (callable timed, its input args) on `pictures`; each step's input is the previous output."""
    branch, level = pipeline.branch, pipeline.level_index

    def tcnn(x):
        h = branch.preprocess(x)
        probs = torch.softmax(branch.tcnn.classify(h), -1)
        return frames_to_video(branch.tcnn.time_frames(h), branch.arch), probs

    def g(st, label):
        return pipeline.generator(st, label)

    def decode(z):
        z_q, _ = pipeline.codec.quantise(z, level, straight_through=False)
        return pipeline.codec.decode(z_q, level, pipeline.num_samples)

    with torch.inference_mode():
        video, probs = tcnn(pictures)
        st = branch.i3d(video)
        z = g(st, probs.argmax(-1))
    return {
        "TCNN": (tcnn, (pictures,)),
        "I3D": (branch.i3d, (video,)),
        "G": (g, (st, probs.argmax(-1))),
        "decode": (decode, (z,)),
        "total": (pipeline, (pictures,)),
    }


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_call(fn, inputs, repeats: int, device: str) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) of `fn(*inputs)` over `repeats` runs after a warm-up.

    On a shared machine the wall time includes waiting for a core; CPU seconds / threads does not.
    """
    walls, cpus = [], []
    with torch.inference_mode():
        for i in range(repeats + 1):
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(*inputs)
            sync(device)
            if i:
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def matmul_rate(device: str, threads: int, n: int = 1024, repeats: int = 5) -> float:
    """Measured fp32 matmul FLOP/s (n×n @ n×n, 2n³ FLOPs) of `threads` threads.

    On the CPU the rate uses CPU seconds per thread (what the matmul would take with its cores to itself),
    like the `CPU ms/thread` column it is compared with.
    """
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    wall, cpu = time_call(torch.mm, (a, b), repeats, device)
    return 2 * n**3 / (cpu / threads if device == "cpu" else wall)


def bench_level(level: str, args, cfg, rate: float) -> list[dict]:
    pipeline, source = build(level, args, cfg)
    pictures = torch.rand(args.batch, 3, 224, 224, device=args.device)
    rows = []
    music = SECONDS * args.batch
    for name, (fn, inputs) in steps(pipeline, pictures).items():
        reset_peak_memory()
        seconds, cpu = time_call(fn, inputs, args.repeats, args.device)
        flops = count_flops(fn, *inputs)
        rows.append({
            "level": level, "step": name, "seconds": seconds, "cpu": cpu / args.threads, "rtf": seconds / music,
            "flops": flops,
            "bound": flops / rate, "peak_mib": peak_memory_mib(), "source": source,
        })
    return rows


def format_rows(rows: list[dict]) -> str:
    head = (f"{'level':<6} {'step':<7} {'ms':>9} {'CPU ms/thread':>14} {'RTF':>7} {'FLOPs':>12} "
            f"{'FLOP-bound ms':>14} {'peak MiB':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['level']:<6} {r['step']:<7} {r['seconds'] * 1e3:>9.1f} {r['cpu'] * 1e3:>14.1f} {r['rtf']:>7.3f} "
            f"{human(r['flops']):>12} "
            f"{r['bound'] * 1e3:>14.1f} {r['peak_mib']:>9.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", choices=tuple(LEVELS), default=["high", "low", "deep"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="models")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--size", choices=("demo", "paper"), default=None, help="G size when random (default gan.size)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.params)
    args.size = args.size or cfg.gan.size
    rate = matmul_rate(args.device, args.threads)
    print(f"device {args.device}, {args.threads} threads, batch {args.batch}, fp32 matmul {human(rate, 'FLOP/s')}",
          file=sys.stderr)
    rows = []
    for level in args.levels:
        rows += bench_level(level, args, cfg, rate)
        print(f"{level}: {rows[-1]['source']}", file=sys.stderr)
    print(format_rows(rows))
    deep = [r for r in rows if r["level"] == "deep" and r["step"] == "total"]
    if deep and args.batch == 1:
        wall, cpu = deep[0]["seconds"], deep[0]["cpu"]
        verdict = "meets" if min(wall, cpu) < 2.0 else "misses"
        print(f"Deep level, batch 1: {wall:.2f} s wall ({cpu:.2f} s CPU per thread) for {SECONDS:g} s of music, "
              f"FLOP-bound {deep[0]['bound']:.2f} s — {verdict} the 2 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
