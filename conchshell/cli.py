"""The `conchshell` command.

    conchshell generate PICTURE... -o OUT [--models DIR] [--level high|low|deep] [--seed N]
                       [--device cpu|cuda] [--denoise] [--batch-size N]
    conchshell info [--models DIR] [--features DIR]
    conchshell serve [--models DIR] [--host 127.0.0.1] [--port 7860] [--ratings PATH]

One 8 s, 16 kHz mono wav per picture. With one picture, OUT may name the wav file; otherwise OUT is a
folder and each piece is written to OUT/<picture stem>.wav. A picture that cannot be read is reported by
name, the others still get their music, and the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conchshell import paths
from conchshell.config import LEVELS, load_config
from conchshell.errors import EXIT_USER_ERROR, ConchError, report_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conchshell", description="ConchShell: pictures → piano music.")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="turn pictures into 8 s piano pieces (wav)")
    gen.add_argument("pictures", nargs="+", metavar="PICTURE", help="picture files (any format Pillow reads)")
    gen.add_argument("-o", "--out", required=True, help="output wav (one picture) or folder")
    gen.add_argument("--models", default=str(paths.MODELS), help="folder with tcnn.pt, vqvae.pt, gan.pt (default models)")
    gen.add_argument("--level", choices=tuple(LEVELS), help="Jukebox level; must match the trained generator")
    gen.add_argument("--seed", type=int, help="random seed (default: params.yaml's seed)")
    gen.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    gen.add_argument("--denoise", action="store_true", help="spectral noise reduction of each piece (noisereduce)")
    gen.add_argument("--batch-size", type=int, default=4, help="pictures per forward pass (default 4)")
    gen.add_argument("--params", default=str(paths.PARAMS), help="params.yaml giving i3d.checkpoint and seed")
    info = commands.add_parser("info", help="which models and feature caches exist, and whether they match params")
    info.add_argument("--models", default=str(paths.MODELS), help="models folder (default models)")
    info.add_argument("--features", default=str(paths.FEATURES), help="feature caches (default data/features)")
    info.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    add_serve_parser(commands)
    return parser


def add_serve_parser(commands) -> None:
    """`conchshell serve`: the Try-it page and the blind listening test (conchshell/web)."""
    serve = commands.add_parser("serve", help="web page: hear a picture, and a blind listening test")
    serve.add_argument("--models", default=str(paths.MODELS), help="folder with tcnn.pt, vqvae.pt, gan.pt (default models)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument("--ratings", default="listening/ratings.sqlite", help="SQLite ratings database")
    serve.add_argument("--samples", default=str(paths.SAMPLES), help="the evaluate stage's samples (default samples)")
    serve.add_argument("--prepared", default=str(paths.PREPARED), help="prepared data (val pictures, manifest)")
    serve.add_argument("--params", default=str(paths.PARAMS), help="params.yaml giving i3d.checkpoint and seed")
    serve.add_argument("--level", choices=tuple(LEVELS), help="Jukebox level; must match the trained generator")
    serve.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    serve.add_argument("--max-upload-mb", type=float, default=20.0, help="largest picture upload (default 20 MB)")


def output_paths(pictures: list[Path], out: Path) -> list[Path]:
    """Where each picture's wav goes: OUT itself for one picture and OUT ending in .wav, else OUT/<stem>.wav."""
    if len(pictures) == 1 and out.suffix.lower() == ".wav":
        return [out]
    stems: dict[str, int] = {}
    result = []
    for picture in pictures:
        n = stems.get(picture.stem, 0)
        stems[picture.stem] = n + 1
        result.append(out / (f"{picture.stem}.wav" if n == 0 else f"{picture.stem}-{n}.wav"))
    return result


def pipeline_settings(params: Path) -> tuple[str | None, int]:
    """(i3d checkpoint, seed) that encode_images built the I3D with: params.yaml's when it exists, else (None, 0).

    Without a checkpoint the I3D is a seeded random init, so the seed must be the pipeline's, not --seed.
    """
    if params.is_file():
        cfg = load_config(params)
        return cfg.i3d.checkpoint, cfg.seed
    return None, 0


def run_generate(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ConchError(f"--batch-size: must be >= 1, got {args.batch_size}")
    if not Path(args.models).is_dir():
        raise ConchError(f"{args.models}: models folder not found (run `dvc repro`, or give --models DIR)")
    import torch  # heavy imports only once the arguments are known to be usable

    from conchshell.data.audio import write_wav
    from conchshell.generate import generate, load_pipeline

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConchError("--device cuda: no CUDA device is available here (use --device cpu)")
    i3d_checkpoint, i3d_seed = pipeline_settings(Path(args.params))
    seed = i3d_seed if args.seed is None else args.seed
    pipeline = load_pipeline(args.models, args.level, args.device, i3d_checkpoint, i3d_seed)
    postprocess = None
    if args.denoise:
        from conchshell.denoise import denoise

        postprocess = denoise
    pictures = [Path(p) for p in args.pictures]
    targets = output_paths(pictures, Path(args.out))
    failed = 0
    for result, target in zip(generate(pipeline, pictures, args.batch_size, seed, postprocess), targets):
        if result.error is not None:
            failed += 1
            print(f"error: {result.error}", file=sys.stderr)
            continue
        write_wav(target, result.wave, pipeline.sample_rate)
        print(f"{result.picture} → {target} ({result.category})")
    if failed:
        print(f"{failed} of {len(pictures)} pictures failed", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


@report_errors
def main(argv: list[str] | None = None) -> int:
    """Console script entry point (`conchshell`)."""
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        return run_generate(args)
    if args.command == "serve":
        from conchshell.web.serve import run_serve  # web dependencies only for this command

        return run_serve(args)
    from conchshell.info import describe

    print("\n".join(describe(load_config(args.params), Path(args.models), Path(args.features))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
