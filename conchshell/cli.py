"""The `conchshell` command.

    conchshell generate PICTURE... -o OUT [--overwrite] [--models DIR] [--level high|low|deep] [--seed N]
                       [--device cpu|cuda] [--denoise] [--batch N] [--params FILE]
                       [--backend auto|onnxruntime|eager]
    conchshell generate --from DIR_OR_LIST -o OUT [--workers N] [same options]   (also under torchrun)
    conchshell info [--models DIR] [--features DIR]
    conchshell serve [--models DIR] [--host 127.0.0.1] [--port 7860] [--ratings PATH]

One 8 s, 16 kHz mono wav per picture. With one picture, OUT may name the wav file; otherwise OUT is a
folder and each piece is written to OUT/<picture stem>.wav (`-1`, `-2`, ... when names clash). Every
destination is checked before any model loads: a folder or an input picture is never overwritten, an
existing file only with --overwrite. A picture that cannot be read, or a piece that cannot be written,
is reported by name, the others still get their music, and the exit status is 2.

With --from, a folder of pictures or a list file (one path a line) is streamed, batched, resumed and
sharded over torchrun's ranks, and OUT/manifest.csv lists the pieces (conchshell/inference/collection.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conchshell import paths
from conchshell.config import LEVELS, load_config
from conchshell.errors import EXIT_USER_ERROR, ConchError, error_lines, report_errors
from conchshell.io import sweep_folders


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conchshell", description="ConchShell: pictures → piano music.")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="turn pictures into 8 s piano pieces (wav)")
    gen.add_argument("pictures", nargs="*", metavar="PICTURE", help="picture files (any format Pillow reads)")
    gen.add_argument(
        "--from",
        dest="source",
        metavar="DIR_OR_LIST",
        help="every picture under a folder, or listed in a file (one path a line): streamed, resumable, "
        "sharded under torchrun; writes OUT/manifest.csv",
    )
    gen.add_argument("--workers", type=int, default=2, help="--from: processes decoding pictures (default 2)")
    gen.add_argument("-o", "--out", required=True, help="output wav (one picture) or folder")
    gen.add_argument("--overwrite", action="store_true", help="replace existing wav files (never folders or inputs)")
    gen.add_argument(
        "--models", default=str(paths.MODELS), help="folder with tcnn.pt, vqvae.pt, gan.pt (default models)"
    )
    gen.add_argument("--level", choices=tuple(LEVELS), help="Jukebox level; must match the trained generator")
    gen.add_argument("--seed", type=int, help="random seed (default: params.yaml's seed)")
    gen.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    gen.add_argument("--denoise", action="store_true", help="spectral noise reduction of each piece (noisereduce)")
    gen.add_argument(
        "--batch", "--batch-size", dest="batch_size", type=int, default=4, help="pictures per forward pass (default 4)"
    )
    gen.add_argument(
        "--params",
        default=str(paths.PARAMS),
        help="params.yaml the models were trained with: its i3d.arch, i3d.checkpoint and seed",
    )
    gen.add_argument(
        "--backend",
        choices=("auto", "onnxruntime", "eager"),
        default="auto",
        help="inference engine: ONNX Runtime when installed (auto, the default), or PyTorch (eager)",
    )
    info = commands.add_parser("info", help="which models and feature caches exist, and whether they match params")
    info.add_argument("--models", default=str(paths.MODELS), help="models folder (default models)")
    info.add_argument("--features", default=str(paths.FEATURES), help="feature caches (default data/features)")
    info.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    add_serve_parser(commands)
    return parser


def add_serve_parser(commands) -> None:
    """`conchshell serve`: the Try-it page and the blind listening test (conchshell/web)."""
    serve = commands.add_parser("serve", help="web page: hear a picture, and a blind listening test")
    serve.add_argument(
        "--models", default=str(paths.MODELS), help="folder with tcnn.pt, vqvae.pt, gan.pt (default models)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument("--ratings", default="listening/ratings.sqlite", help="SQLite ratings database")
    serve.add_argument("--samples", default=str(paths.SAMPLES), help="the evaluate stage's samples (default samples)")
    serve.add_argument("--prepared", default=str(paths.PREPARED), help="prepared data (val pictures, manifest)")
    serve.add_argument("--params", default=str(paths.PARAMS), help="params.yaml giving i3d.checkpoint and seed")
    serve.add_argument("--level", choices=tuple(LEVELS), help="Jukebox level; must match the trained generator")
    serve.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    serve.add_argument("--max-upload-mb", type=float, default=20.0, help="largest picture upload (default 20 MB)")


def say(line: str, error: bool = False) -> None:
    """Print one line without breaking the progress bar's line (tqdm.write, when a bar may be showing)."""
    stream = sys.stderr if error else sys.stdout
    if "tqdm" in sys.modules:  # imported by `generate` only for two pictures or more
        sys.modules["tqdm"].tqdm.write(line, file=stream)
    else:
        print(line, file=stream)


def run_generate(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ConchError(f"--batch: must be >= 1, got {args.batch_size}")
    if bool(args.pictures) == bool(args.source):
        raise ConchError("generate: name pictures, or --from DIR_OR_LIST, not both (and not neither)")
    if args.workers < 0:
        raise ConchError(f"--workers: must be >= 0, got {args.workers}")
    if not args.out.strip():
        raise ConchError("-o: the output path is empty (name a .wav for one picture, or a folder)")
    if not Path(args.models).is_dir():
        raise ConchError(f"{args.models}: models folder not found (run `dvc repro`, or give --models DIR)")
    from conchshell.inference import engine  # no torch here: the ONNX Runtime path with exported models never needs it

    i3d_checkpoint, i3d_seed, i3d_arch = engine.pipeline_settings(Path(args.params))
    seed = i3d_seed if args.seed is None else args.seed
    from conchshell.inference.generate import generate, plan_outputs

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConchError("--device cuda: no CUDA device is available here (use --device cpu)")
    if args.source:
        return run_collection(args, seed, (args.models, args.level, args.device, i3d_checkpoint, i3d_seed, i3d_arch))
    pictures = [Path(p) for p in args.pictures]
    targets = plan_outputs(pictures, Path(args.out), args.overwrite)  # before any model loads
    sweep_folders(*sorted({t.parent for t in targets}))  # a killed run's temporaries
    settings = (args.models, args.level, args.device, i3d_checkpoint, i3d_seed, i3d_arch, args.backend)
    pipeline = engine.load(*settings, prepack=len(pictures) >= engine.PREPACK_FROM)
    postprocess = None
    if args.denoise:
        from conchshell.audio.denoise import denoise

        postprocess = denoise
    failed = 0
    for result, target in zip(generate(pipeline, pictures, args.batch_size, seed, postprocess), targets):
        error = result.error or write_piece(target, result.wave, pipeline.sample_rate)
        if error is not None:
            failed += 1
            for line in error_lines(error):
                say(line, error=True)
            continue
        say(f"{result.picture} → {target} ({result.category})")
    if failed:
        say(f"{failed} of {len(pictures)} pictures failed", error=True)
        return EXIT_USER_ERROR
    return 0


def run_collection(args: argparse.Namespace, seed: int, settings: tuple) -> int:
    """`generate --from`: every destination checked first, then this rank's share (torchrun: one rank each)."""
    from conchshell.inference import engine
    from conchshell.inference.collection import generate_collection, plan_collection
    from conchshell.inference.ranks import barrier, close_distributed, init_distributed

    plan = plan_collection(Path(args.source), Path(args.out), args.overwrite)  # before any model loads
    env = init_distributed(cpu=args.device == "cpu")
    try:
        if not env.main:
            barrier(env)  # rank 0 loads first: it exports the ONNX bundle when none is cached
        pipeline = engine.load(*settings[:2], env.device.type, *settings[3:], args.backend)
        if env.main:
            barrier(env)
        postprocess = None
        if args.denoise:
            from conchshell.audio.denoise import denoise

            postprocess = denoise
        quiet = len(plan.pictures) > 1  # the bar shows progress; a line per piece only for errors
        failed = generate_collection(
            pipeline,
            plan,
            args.batch_size,
            seed,
            env,
            args.workers,
            postprocess,
            lambda line, error: say(line, error) if error or not quiet else None,
        )
    finally:
        close_distributed()
    if failed:
        if env.main:
            say(f"{failed} of {len(plan.pictures)} pictures failed", error=True)
        return EXIT_USER_ERROR
    if env.main:
        print(f"{sum(plan.done)} pictures already done, {len(plan.pictures) - sum(plan.done)} generated → {args.out}")
    return 0


def write_piece(target: Path, wave, sample_rate: int) -> str | None:
    """Write one wav; None, or one line naming `target` when the file system refuses (full, read-only, ...)."""
    import soundfile

    from conchshell.audio.files import write_wav

    try:
        write_wav(target, wave, sample_rate)
    except ConchError as err:
        return str(err)
    except (OSError, soundfile.SoundFileError) as err:
        reason = getattr(err, "strerror", None) or " ".join(str(err).split()) or type(err).__name__
        return f"{target}: could not write the piece ({reason})"
    return None


@report_errors
def main(argv: list[str] | None = None) -> int:
    """Console script entry point (`conchshell`)."""
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        return run_generate(args)
    if args.command == "serve":
        from conchshell.web.serve import run_serve  # web dependencies only for this command

        return run_serve(args)
    from conchshell.artifacts.info import describe

    print("\n".join(describe(load_config(args.params), Path(args.models), Path(args.features))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
