"""Picture → 8 s wav latency per level, split by step (TCNN, I3D, G, decode), as a real-time factor.

    uv run python benchmarks/generate.py [--levels high low deep] [--threads 2] [--batch 1] [--repeats 3]
                                          [--models DIR] [--size demo|paper] [--device cpu|cuda]
                                          [--backend auto|eager] [--against REV]

Steps: TCNN (normalise, classifier path, time path + Algorithm 1), I3D (S-T features), G (generator),
decode (quantise + Jukebox decoder of that level). `total` times the whole pipeline call as `conchshell
generate` runs it: through the fast path (`conchshell.inference.export`, ONNX Runtime) when the revision has one and
`--backend auto`, each step then timed as its own ONNX Runtime graph; graphs are exported (and cached) before
timing. RTF = seconds of compute per second of music (8 s). Peak memory is the resident high-water mark.
FLOP-bound limit: the step's counted FLOPs (`torch.utils.flop_counter`, 2 × MACs of convs and matmuls) over
this machine's measured fp32 matmul rate — the time the step would take if every FLOP ran at matmul speed.

`--against REV` checks REV out in a temporary git worktree and runs both pipelines side by side, each in its
own process importing its own tree's `conchshell` (with its own params.yaml): every step is timed on one
side then the other (A B A B …, `--repeats` rounds), and the table gives per-step medians of both and the
ratio REV / this tree (above 1: this tree is faster). Random weights in both (speed does not depend on them).

Models: the trained ones in `--models` when they hold a generator for the level (not with --against), else
random weights in `--size`'s sizes for every part (default gan.size): `paper` is Table 1's G, TCNN-6,
Inception-I3D and the Jukebox-5b VQ-VAE architecture; `demo` is params.yaml's (`sized_parts`).
Target: the Deep level, batch 1, 2 CPU threads, under 2 s for 8 s of music.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from conchshell.config import LEVELS, load_config

try:  # this revision: the PyTorch pipeline in conchshell.inference.pipeline, the audio spec in conchshell.audio.spec
    from conchshell.audio.spec import PAPER
    from conchshell.inference.pipeline import Pipeline, load_pipeline

    AUDIO_RATE, SECONDS = PAPER.rate, PAPER.seconds
except ImportError:  # an older revision (--against): both in conchshell.inference.generate
    from conchshell.inference.generate import AUDIO_RATE, SECONDS, Pipeline, load_pipeline
from conchshell.artifacts.i3d import build_i3d
from conchshell.evaluation.cost import count_flops, human
from conchshell.models.generator import build_generator, generator_config
from conchshell.models.image_branch import ImageBranch
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE
from conchshell.models.tcnn import NUM_FRAMES, TCNN, frames_to_video

sys.path.insert(0, str(Path(__file__).parent))
from image_features import peak_memory_mib, reset_peak_memory  # the sibling benchmark's helpers

STEPS = ("TCNN", "I3D", "G", "decode", "total")
HERE = Path(__file__).resolve()


def sized_parts(cfg, size: str) -> dict:
    """What `--size` means for every part. `paper`: Table 1's G, TCNN-6, Inception-I3D and the Jukebox-5b
    VQ-VAE architecture (random weights unless a checkpoint is given; fed 16 kHz as the paper feeds it);
    `demo`: params.yaml's (its image encoder, I3D, VQ-VAE preset, and G at gan.width)."""
    v = cfg.vqvae
    if size == "paper":
        return {
            "image_encoder": "tcnn6",
            "i3d_arch": "inception",
            "preset": "jukebox-5b",
            "hps": preset_hps("jukebox-5b", sr=v.sample_rate),
        }
    hps = preset_hps(v.preset, width=v.width, depth=v.depth, l_bins=v.l_bins, sr=v.sample_rate)
    return {
        "image_encoder": cfg.image_encoder,
        "i3d_arch": getattr(cfg.i3d, "arch", None),
        "preset": v.preset,
        "hps": hps,
    }


def st_frames(i3d) -> dict:
    """generator_config's `st_frames` for `i3d` (T' of Algorithm 1's NUM_FRAMES frames), where this revision's G
    takes it (Table 1's G flattens the S-T features; the earlier one read any T')."""
    if "st_frames" not in inspect.signature(generator_config).parameters:
        return {}
    from conchshell.models.i3d import temporal_length

    return {"st_frames": temporal_length(NUM_FRAMES, i3d.arch)}


def random_pipeline(level: str, cfg, size: str, num_classes: int = 6) -> Pipeline:
    """A Pipeline with random weights in `size`'s sizes for every part (`sized_parts`: TCNN, I3D, VQ-VAE, G).

    Written against both this tree's API and older ones (no i3d.arch, I3D features always 2048 wide).
    """
    torch.manual_seed(0)
    parts = sized_parts(cfg, size)
    tcnn = TCNN(parts["image_encoder"], num_classes).eval()
    i3d = (
        build_i3d(None, seed=0, arch=parts["i3d_arch"])
        if "arch" in inspect.signature(build_i3d).parameters and parts["i3d_arch"]
        else build_i3d(None, seed=0)
    )
    branch = ImageBranch(tcnn, i3d, [0.5] * 3, [0.25] * 3, parts["image_encoder"])
    vqvae = VQVAE(parts["hps"]).eval()
    if "spec" in inspect.signature(JukeboxCodec).parameters:  # this revision: the model's rate from the VQ-VAE
        codec = JukeboxCodec(vqvae, PAPER)
    else:
        codec = JukeboxCodec(vqvae, cfg.vqvae.sample_rate, AUDIO_RATE)
    num_samples = int(AUDIO_RATE * SECONDS)
    frames = codec.frames(LEVELS[level], num_samples)  # an index: older revisions' codecs take no names
    width = getattr(i3d, "feature_dim", 2048)
    g_config = generator_config(
        level, frames, size=size, width=cfg.gan.width, in_channels=width, num_classes=num_classes, **st_frames(i3d)
    )
    g = build_generator(g_config)
    return Pipeline(branch, g.eval(), codec, level, [str(i) for i in range(num_classes)], 224, num_samples)


def build(level: str, args, cfg) -> tuple[Pipeline, str]:
    models = Path(args.models)
    gan = models / f"gan-{level}.pt"
    if not gan.is_file():
        gan = models / "gan.pt"
    if not args.random and gan.is_file() and (models / "tcnn.pt").is_file() and (models / "vqvae.pt").is_file():
        meta = torch.load(gan, map_location="cpu", weights_only=True)
        if meta.get("level") == level:
            extra = (cfg.i3d.arch,) if hasattr(cfg.i3d, "arch") else ()
            return load_pipeline(
                models, level, args.device, cfg.i3d.checkpoint, cfg.seed, *extra
            ), f"trained ({models})"
    return random_pipeline(level, cfg, args.size).to(args.device), f"random, {args.size} sizes"


class _Step(nn.Module):
    """A step as a module (what the fast path exports)."""

    def __init__(self, fn, owner: nn.Module):
        super().__init__()
        self.fn, self.owner = fn, owner

    def forward(self, *inputs):
        return self.fn(*inputs)


class OrtStep:
    """One step exported to ONNX (legacy exporter, opset 17) and run by ONNX Runtime with torch's thread count:
    the step as the fast path runs it inside its one graph, timed on its own."""

    def __init__(self, step: nn.Module, inputs: tuple, folder: str):
        import io
        import warnings

        import onnxruntime as ort

        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                step.eval(),
                tuple(x.clone() for x in inputs),
                buffer,
                dynamo=False,
                opset_version=17,
                input_names=[f"in{i}" for i in range(len(inputs))],
                do_constant_folding=True,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
        self.session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, *inputs):
        return self.session.run(None, {f"in{i}": x.numpy() for i, x in enumerate(inputs)})


def whole(fast, pipeline: Pipeline, cache: str | None):
    """This revision's fast path as `conchshell generate` runs it: a callable on pictures [B,3,H,W] in [0,1]."""
    if hasattr(fast, "export_bundle"):  # one graph on uint8 pictures (issue 15, start-up)
        quick = fast.FastPipeline(pipeline, "auto", cache)
        return lambda x: quick.run((x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return fast.FastPipeline(pipeline, "auto", cache)  # two graphs on float pictures


def steps(
    pipeline: Pipeline, pictures: torch.Tensor, backend: str = "eager", cache: str | None = None
) -> dict[str, tuple]:
    """Step name → (callable timed, eager callable, its input args) on `pictures`; each step's input is the
    previous output. With backend auto, the timed callables are the fast path's (when this revision has one)."""
    branch, level = pipeline.branch, LEVELS[pipeline.level]  # an index: older revisions' codecs take no names

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
    eager = {
        "TCNN": (tcnn, (pictures,)),
        "I3D": (branch.i3d, (video,)),
        "G": (g, (st, probs.argmax(-1))),
        "decode": (decode, (z,)),
        "total": (pipeline, (pictures,)),
    }
    fast = fast_module()
    if backend == "eager" or fast is None or pictures.device.type != "cpu" or not fast.onnxruntime_available():
        return {name: (fn, fn, inputs) for name, (fn, inputs) in eager.items()}
    owners = {"TCNN": branch, "I3D": branch.i3d, "G": pipeline.generator, "decode": pipeline.codec}
    timed = {
        name: OrtStep(_Step(fn, owners[name]), inputs, cache) for name, (fn, inputs) in eager.items() if name != "total"
    }
    timed["total"] = whole(fast, pipeline, cache)
    return {name: (timed[name], fn, inputs) for name, (fn, inputs) in eager.items()}


def fast_module():
    """This revision's `conchshell.inference.export`, or None where it has none (an editable install's finder may offer
    another tree's module: only one beside the imported `conchshell` package counts)."""
    import conchshell

    try:
        import conchshell.inference.export as fast
    except ImportError:
        return None
    return fast if Path(fast.__file__).parent == Path(conchshell.__file__).parent else None


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


PRECISION = {"dtype": None}  # --precision bf16: the pipeline runs under CUDA bf16 autocast


def cuda_settings(precision: str, cudnn_benchmark: bool) -> None:
    """--precision fp32 | tf32 (TF32 matmuls and convs) | bf16 (bf16 autocast, TF32 elsewhere); cuDNN autotuning."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision != "fp32"
    torch.backends.cudnn.benchmark = cudnn_benchmark
    PRECISION["dtype"] = torch.bfloat16 if precision == "bf16" else None


def autocast(device: str):
    if device == "cuda" and PRECISION["dtype"] is not None:
        return torch.autocast("cuda", dtype=PRECISION["dtype"])
    return contextlib.nullcontext()


def precision_error(pipeline, pictures: torch.Tensor, args) -> str:
    """How far --precision moves the pieces from fp32's: max |Δ| of the wave and Δ of its RMS, relative."""
    with torch.inference_mode():
        with autocast(args.device):
            fast, _ = pipeline(pictures)
        saved = PRECISION["dtype"], torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        cuda_settings("fp32", torch.backends.cudnn.benchmark)
        exact, _ = pipeline(pictures)
        PRECISION["dtype"] = saved[0]
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1:]
    fast, exact = fast.float(), exact.float()
    scale = exact.pow(2).mean().sqrt().item()
    return (
        f"{args.precision} vs fp32 waves: max |diff| {(fast - exact).abs().max().item():.3g} "
        f"(RMS of the fp32 wave {scale:.3g}), RMS diff / RMS {((fast - exact).pow(2).mean().sqrt().item() / scale):.3g}"
    )


def time_once(fn, inputs, device: str) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one `fn(*inputs)`."""
    with torch.inference_mode(), autocast(device):
        sync(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(*inputs)
        sync(device)
        return time.perf_counter() - start, time.process_time() - start_cpu


def time_call(fn, inputs, repeats: int, device: str) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) of `fn(*inputs)` over `repeats` runs after a warm-up.

    On a shared machine the wall time includes waiting for a core; CPU seconds / threads does not.
    """
    time_once(fn, inputs, device)
    runs = [time_once(fn, inputs, device) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


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
    for name, (fn, eager, inputs) in steps(pipeline, pictures, args.backend).items():
        reset_peak_memory()
        seconds, cpu = time_call(fn, inputs, args.repeats, args.device)
        flops = count_flops(eager, *inputs)
        rows.append(
            {
                "level": level,
                "step": name,
                "seconds": seconds,
                "cpu": cpu / args.threads,
                "rtf": seconds / music,
                "flops": flops,
                "bound": flops / rate,
                "peak_mib": peak_memory_mib(),
                "source": source,
            }
        )
    total = rows[-1]["seconds"]
    print(
        f"{level}, batch {args.batch}: {total * 1e3 / args.batch:.1f} ms per {SECONDS:g} s piece, "
        f"{music / total:,.0f}× real time",
        file=sys.stderr,
    )
    if args.device == "cuda" and args.precision != "fp32":
        print(f"{level}: {precision_error(pipeline, pictures, args)}", file=sys.stderr)
    return rows


def format_rows(rows: list[dict]) -> str:
    head = (
        f"{'level':<6} {'step':<7} {'ms':>9} {'CPU ms/thread':>14} {'RTF':>7} {'FLOPs':>12} "
        f"{'FLOP-bound ms':>14} {'peak MiB':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['level']:<6} {r['step']:<7} {r['seconds'] * 1e3:>9.1f} {r['cpu'] * 1e3:>14.1f} {r['rtf']:>7.3f} "
            f"{human(r['flops']):>12} "
            f"{r['bound'] * 1e3:>14.1f} {r['peak_mib']:>9.0f}"
        )
    return "\n".join(lines)


# -- side by side with another revision -----------------------------------------------------------------
def worker(args) -> int:
    """`--worker`: build one level's pipeline in this process's tree, then time one step per stdin line
    (`{"step": name}`), answering `{"wall": s, "cpu": s}`; the first answer lists the steps' FLOPs."""
    torch.set_num_threads(args.threads)
    cfg = load_config(args.params)
    args.size = args.size or cfg.gan.size
    args.random = True
    level = args.levels[0]
    pipeline, source = build(level, args, cfg)
    pictures = torch.rand(args.batch, 3, 224, 224, device=args.device)
    with tempfile.TemporaryDirectory(prefix="conchshell-bench-onnx-") as cache:
        table = steps(pipeline, pictures, args.backend, cache)
        flops = {}
        for name, (fn, eager, inputs) in table.items():
            time_once(fn, inputs, args.device)  # warm-up (exports the fast path's graphs)
            flops[name] = count_flops(eager, *inputs)
        fast = table["total"][0] is not table["total"][1]
        print(json.dumps({"flops": flops, "source": source, "fast": fast}), flush=True)
        for line in sys.stdin:
            name = json.loads(line)["step"]
            fn, _, inputs = table[name]
            wall, cpu = time_once(fn, inputs, args.device)
            print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)
    return 0


class Side:
    """A `--worker` process running `tree`'s conchshell (cwd = tree, so its own params.yaml)."""

    def __init__(self, tree: Path, args, level: str):
        argv = [
            sys.executable,
            "-u",
            str(HERE),
            "--worker",
            "--levels",
            level,
            "--threads",
            str(args.threads),
            "--batch",
            str(args.batch),
            "--device",
            args.device,
            "--backend",
            args.backend,
        ]
        if args.size:
            argv += ["--size", args.size]
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(args.threads)}
        self.proc = subprocess.Popen(argv, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"benchmark worker in {self.proc.args} stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def time(self, step: str) -> tuple[float, float]:
        self.proc.stdin.write(json.dumps({"step": step}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        return answer["wall"], answer["cpu"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def against(args, rate: float) -> int:
    repo = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=HERE.parent, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    rev = subprocess.run(["git", "rev-parse", "--short", args.against], cwd=repo, capture_output=True, text=True)
    if rev.returncode != 0:
        print(f"--against {args.against}: not a revision of {repo}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="conchshell-against-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(base), rev.stdout.strip()], cwd=repo, check=True
        )
        try:
            for level in args.levels:
                compare_level(level, repo, base, rev.stdout.strip(), args, rate)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=repo, check=False)
    return 0


def compare_level(level: str, repo: Path, base: Path, rev: str, args, rate: float) -> None:
    ours, theirs = Side(repo, args, level), Side(base, args, level)
    runs = {(side, step): [] for side in ("ours", "theirs") for step in STEPS}
    try:
        for _ in range(args.repeats):  # A B A B: each step on one side, then on the other
            for step in STEPS:
                for side, proc in (("ours", ours), ("theirs", theirs)):
                    runs[side, step].append(proc.time(step))
    finally:
        ours.close()
        theirs.close()
    print(
        f"\n{level}, batch {args.batch}, {args.threads} threads, {args.size} sizes, {args.repeats} interleaved rounds; "
        f"this tree: {'fast path (ONNX Runtime)' if ours.info['fast'] else 'eager'}; {rev}: "
        f"{'fast path' if theirs.info['fast'] else 'eager'}"
    )
    head = (
        f"{'step':<7} {'ours s':>8} {rev + ' s':>12} {'ratio':>6} {'ours CPU/th':>12} {rev + ' CPU/th':>14} "
        f"{'CPU ratio':>9} {'ours FLOPs':>11} {rev + ' FLOPs':>13} {'bound ours ms':>13}"
    )
    print(head)
    print("-" * len(head))
    for step in STEPS:
        a = [statistics.median(x[i] for x in runs["ours", step]) for i in (0, 1)]
        b = [statistics.median(x[i] for x in runs["theirs", step]) for i in (0, 1)]
        fa, fb = ours.info["flops"][step], theirs.info["flops"][step]
        print(
            f"{step:<7} {a[0]:>8.3f} {b[0]:>12.3f} {b[0] / a[0]:>5.2f}× {a[1] / args.threads:>12.3f} "
            f"{b[1] / args.threads:>14.3f} {b[1] / a[1]:>8.2f}× {human(fa):>11} {human(fb):>13} {fa / rate * 1e3:>13.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--levels", nargs="+", choices=tuple(LEVELS), default=None, help="default: high low deep (with --against: deep)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="models")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--size", choices=("demo", "paper"), default=None, help="sizes of every part when random (default gan.size)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--precision", choices=("fp32", "tf32", "bf16"), default="fp32", help="CUDA only: TF32, or bf16 autocast"
    )
    parser.add_argument("--cudnn-benchmark", action="store_true", help="CUDA only: let cuDNN autotune its kernels")
    parser.add_argument(
        "--backend",
        choices=("auto", "eager"),
        default="auto",
        help="auto: the fast path where the revision has one (what `conchshell generate` runs)",
    )
    parser.add_argument("--against", metavar="REV", help="time this tree and git revision REV side by side")
    parser.add_argument("--random", action="store_true", help="random weights even when --models holds trained ones")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.levels = args.levels or (["deep"] if args.against or args.worker else ["high", "low", "deep"])
    if args.worker:
        return worker(args)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.params)
    args.size = args.size or cfg.gan.size
    rate = matmul_rate(args.device, args.threads)
    if args.device == "cuda":
        cuda_settings(args.precision, args.cudnn_benchmark)
    print(
        f"device {args.device}, {args.threads} threads, batch {args.batch}, fp32 matmul {human(rate, 'FLOP/s')}"
        + (f", precision {args.precision}, cudnn.benchmark {args.cudnn_benchmark}" if args.device == "cuda" else ""),
        file=sys.stderr,
    )
    if args.against:
        return against(args, rate)
    rows = []
    for level in args.levels:
        rows += bench_level(level, args, cfg, rate)
        print(f"{level}: {rows[-1]['source']}", file=sys.stderr)
    print(format_rows(rows))
    deep = [r for r in rows if r["level"] == "deep" and r["step"] == "total"]
    if deep and args.batch == 1:
        wall, cpu = deep[0]["seconds"], deep[0]["cpu"]
        verdict = "meets" if min(wall, cpu) < 2.0 else "misses"
        print(
            f"Deep level, batch 1: {wall:.2f} s wall ({cpu:.2f} s CPU per thread) for {SECONDS:g} s of music, "
            f"FLOP-bound {deep[0]['bound']:.2f} s — {verdict} the 2 s target"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
