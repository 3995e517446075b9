"""Start-up of `conchshell generate`: the one-picture command's wall time against its pure compute time.

    uv run python benchmarks/startup.py [--models models | --size paper|demo] [--params params.yaml] [--picture P]
                                        [--threads 2] [--repeats 5] [--backend auto|eager] [--bytecode cached|off]

A: `conchshell generate P -o out.wav --overwrite` in a fresh process, wall seconds (Python start, imports, the
   models' identity, session set-up or model loading, reading the picture, compute, writing the wav).
B: pure compute: the same pipeline's `run(picture)` in a process that already holds it warm.
Timed interleaved (A B A B …, `--repeats` rounds) after one warm-up command (which exports the models'
ONNX bundle when it is missing; its time is printed apart). Prints the medians and the ratio A / B — issue 15
asks for at most 2 — and, from one more fresh process, where the command's time goes (imports, model identity,
session set-up, picture, compute, wav), and the wall time of `conchshell --help` (at most 1.5 s).

Models: the trained ones in `--models` (the demo: level low, demo sizes), or with `--size paper|demo` random
weights at the Deep level, every part in those sizes (written to a temporary models folder and exported into a
temporary ONNX cache; `benchmarks/generate.py`'s `sized_parts`): `paper` is Table 1's G, TCNN-6, Inception-I3D
and the Jukebox-5b VQ-VAE architecture (its decoder 37.7 G FLOPs against the demo's 2.0), `demo` params.yaml's.

Bytecode: `cached` (the default) runs the commands as Python does by default, compiling each module once and
reusing its bytecode — here into a private folder (PYTHONPYCACHEPREFIX), so the benchmark writes nothing into the
environment, and even where the environment sets PYTHONDONTWRITEBYTECODE. `off` keeps the environment as it is:
with PYTHONDONTWRITEBYTECODE set (as on this project's sandbox), every run compiles numpy, Pillow, PyYAML … from
source again, about 0.2 s here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]

#: Runs in a fresh process: the command's phases one by one, as conchshell.cli runs them.
PHASES = r"""
import json, sys, time
t = [time.perf_counter()]
from conchshell.inference import engine, runtime
from conchshell.audio.files import write_wav
from conchshell.data.images import read_picture
from conchshell.inference.generate import generate
import numpy as np
t.append(time.perf_counter())
models, params, picture, out, backend = sys.argv[1:6]
checkpoint, seed, arch = engine.pipeline_settings(__import__("pathlib").Path(params))
cache = runtime.default_cache_dir()
key = runtime.models_key(models, None, checkpoint, seed, arch, cache)
t.append(time.perf_counter())
pipeline = engine.load(models, None, "cpu", checkpoint, seed, arch, backend, prepack=1 >= runtime.PREPACK_FROM)
t.append(time.perf_counter())
x = read_picture(picture, pipeline.image_size)[None]
t.append(time.perf_counter())
wave, label = pipeline.run(x)
t.append(time.perf_counter())
write_wav(out, wave[0], pipeline.sample_rate)
t.append(time.perf_counter())
names = ["imports", "model identity", "session / model loading", "picture", "compute", "wav"]
print(json.dumps({"phases": dict(zip(names, [b - a for a, b in zip(t, t[1:])])), "torch": "torch" in sys.modules}))
"""

#: Runs in a long-lived process: loads the pipeline once, then times `run` per stdin line.
WARM = r"""
import json, sys, time
from conchshell.inference import engine, runtime
from conchshell.data.images import read_picture
models, params, picture, backend = sys.argv[1:5]
checkpoint, seed, arch = engine.pipeline_settings(__import__("pathlib").Path(params))
pipeline = engine.load(models, None, "cpu", checkpoint, seed, arch, backend)
x = read_picture(picture, pipeline.image_size)[None]
pipeline.run(x)
print(json.dumps({"backend": type(pipeline).__name__}), flush=True)
for _ in sys.stdin:
    start = time.perf_counter()
    pipeline.run(x)
    print(json.dumps({"wall": time.perf_counter() - start}), flush=True)
"""


def command(args, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "conchshell.cli",
        "generate",
        str(args.picture),
        "-o",
        str(out),
        "--overwrite",
        "--models",
        args.models,
        "--params",
        args.params,
        "--backend",
        args.backend,
    ]


def timed(argv: list[str], env: dict) -> float:
    """Wall seconds of one command; exits with its stderr when it fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed:\n{done.stderr.strip()}")
    return seconds


def default_picture() -> Path:
    """The first prepared picture (data/prepared/images), if any."""
    images = sorted((REPO / "data/prepared/images").glob("*.png"))
    if not images:
        raise SystemExit("no --picture given and data/prepared/images is empty (run `dvc repro prepare`)")
    return images[0]


def write_random_models(folder: Path, params: Path, level: str = "deep", size: str = "paper") -> None:
    """models/tcnn.pt, vqvae.pt and gan.pt with random weights (seeded, so every run times the same models), every
    part in `size`'s sizes (benchmarks/generate.py's `sized_parts`: paper = Table 1's G, TCNN-6, Inception-I3D,
    the Jukebox-5b VQ-VAE architecture; demo = params.yaml's); G of `level`."""
    import torch

    from conchshell.artifacts.checkpoints import i3d_identity, load_vqvae, save_tcnn, save_vqvae
    from conchshell.artifacts.i3d import build_i3d
    from conchshell.audio.spec import PAPER
    from conchshell.config import load_config
    from conchshell.io import save_torch
    from conchshell.models.generator import build_generator, generator_config
    from conchshell.models.jukebox.codec import JukeboxCodec
    from conchshell.models.jukebox.vqvae import VQVAE
    from conchshell.models.tcnn import TCNN

    sys.path.insert(0, str(HERE.parent))
    from generate import sized_parts, st_frames  # the sibling benchmark's meaning of --size, G's input T'

    cfg, categories = load_config(params), [f"category{i}" for i in range(6)]
    parts = sized_parts(cfg, size)
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    tcnn = TCNN(parts["image_encoder"], len(categories))
    save_tcnn(folder / "tcnn.pt", tcnn, [0.5] * 3, [0.25] * 3, categories, 224)
    v = cfg.vqvae
    vqvae = VQVAE(parts["hps"])
    save_vqvae(vqvae, folder / "vqvae.pt", parts["preset"], v.sample_rate)
    checkpoint = cfg.i3d.checkpoint if cfg.i3d.arch == parts["i3d_arch"] else None
    i3d = build_i3d(checkpoint, seed=cfg.seed, arch=parts["i3d_arch"])
    frames = JukeboxCodec(load_vqvae(folder / "vqvae.pt"), PAPER).frames(level, PAPER.samples)  # as generate loads it
    g_config = generator_config(level, frames, size, cfg.gan.width, i3d.feature_dim, len(categories), **st_frames(i3d))
    gan = {
        "level": level,
        "generator": build_generator(g_config).state_dict(),
        "generator_config": g_config,
        "categories": categories,
        "config": {},
        "step": 0,
        "i3d": i3d_identity(i3d, checkpoint, cfg.seed),
        **PAPER.to_dict(),
    }
    save_torch(gan, folder / "gan.pt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--picture", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", choices=("auto", "eager"), default="auto")
    parser.add_argument(
        "--size", choices=("demo", "paper"), default=None, help="random Deep models, every part in these sizes"
    )
    parser.add_argument("--bytecode", choices=("cached", "off"), default="cached")
    args = parser.parse_args(argv)
    args.picture = (args.picture or default_picture()).resolve()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="conchshell-startup-") as tmp:
        out = Path(tmp) / "out.wav"
        if args.bytecode == "cached":
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        if args.size:  # its own ONNX cache too: the user's keeps its bundles
            args.models, env["CONCHSHELL_CACHE"] = str(Path(tmp) / "models"), str(Path(tmp) / "onnx")
            write_random_models(Path(args.models), Path(args.params), size=args.size)
        first = timed(command(args, out), env)
        print(f"warm-up command (exports the ONNX bundle when missing): {first:.2f} s", file=sys.stderr)
        warm = subprocess.Popen(
            [sys.executable, "-c", WARM, args.models, args.params, str(args.picture), args.backend],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        backend = json.loads(warm.stdout.readline())["backend"]
        walls, computes = [], []
        try:
            for _ in range(args.repeats):  # A B A B
                walls.append(timed(command(args, out), env))
                warm.stdin.write("\n")
                warm.stdin.flush()
                computes.append(json.loads(warm.stdout.readline())["wall"])
        finally:
            warm.stdin.close()
            warm.wait()
        phases = subprocess.run(
            [sys.executable, "-c", PHASES, args.models, args.params, str(args.picture), str(out), args.backend],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        breakdown = json.loads(phases.stdout.strip().splitlines()[-1])
        help_walls = [timed([sys.executable, "-m", "conchshell.cli", "--help"], env) for _ in range(3)]
    wall, compute = statistics.median(walls), statistics.median(computes)
    models = f"random Deep models, {args.size} sizes" if args.size else f"models {args.models}"
    bytecode = {
        "cached": "bytecode cached",
        "off": "bytecode "
        + ("compiled every run" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "as the environment"),
    }
    print(
        f"{args.picture.name}, {models}, {args.threads} threads, backend {args.backend} ({backend}), "
        f"{bytecode[args.bytecode]}, {args.repeats} interleaved rounds"
    )
    print(f"  command wall      {wall:6.2f} s   (runs: {' '.join(f'{w:.2f}' for w in walls)})")
    print(f"  pure compute      {compute:6.2f} s   (runs: {' '.join(f'{c:.2f}' for c in computes)})")
    print(f"  ratio wall/compute {wall / compute:5.2f}   (issue 15: at most 2)")
    torch_note = "imports torch" if breakdown["torch"] else "no torch imported"
    print(
        f"  one fresh run, by phase ({torch_note}): "
        + ", ".join(f"{name} {sec:.2f} s" for name, sec in breakdown["phases"].items())
    )
    print(f"  conchshell --help {statistics.median(help_walls):6.2f} s   (issue 15: at most 1.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
