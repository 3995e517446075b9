"""Stage `evaluate`: score the generator on train and val, write samples and report.html.

Reads models/gan.pt, models/vqvae.pt, data/features/{audio,images}.h5 and data/prepared; writes
metrics/eval.json (flat keys `<split>.<metric>`, `<split>.ceiling.<metric>`, and for val the following and
diversity scores with their trust `val.real.<metric>`: conchshell/evaluation/inside_category.py),
plots/eval_per_category.csv, plots/eval_music_per_category.csv, plots/eval_following_per_category.csv, samples/ (generated / ground-truth / reconstruction wavs and mel PNGs) and
report.html. Ground-truth and reconstruction transcriptions are cached in cache/transcriptions/ (by content).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from conchshell import paths
from conchshell.artifacts.checkpoints import load_generator, load_vqvae
from conchshell.artifacts.stores import AudioStore, ImageStore, PairDataset, unique_clips
from conchshell.audio.files import write_wav
from conchshell.config import load_config
from conchshell.data.images import read_picture
from conchshell.data.manifest import categories, has_attributes, read_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.evaluation.inside_category import InsideCategory
from conchshell.evaluation.judge import accuracy, train_judge
from conchshell.evaluation.music.split import MusicEvaluation, demo_true_notes
from conchshell.evaluation.music.transcription import PianoTranscriber, TranscriptionCache
from conchshell.evaluation.report import piano_roll_png, spectrogram_png, write_report
from conchshell.evaluation.scores import evaluate_split, finite_or_none
from conchshell.inference.pipeline import fold_weight_norm
from conchshell.io import atomic_path, guard_temporaries, state_dict_sha256, sweep_folders, write_json
from conchshell.models.jukebox.codec import JukeboxCodec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS))
    parser.add_argument("--prepared", default=str(paths.PREPARED))
    parser.add_argument("--models", default=str(paths.MODELS))
    parser.add_argument("--features", default=str(paths.FEATURES))
    parser.add_argument("--out", default=".", help="folder for metrics/, plots/, samples/, report.html")
    parser.add_argument(
        "--transcription-cache",
        default=str(paths.TRANSCRIPTIONS),
        help="folder of cached ground-truth / reconstruction transcriptions",
    )
    return parser.parse_args(argv)


def load_models(cfg, models: Path, features: Path):
    """(generator with weight norm folded, codec, audio store) for the evaluated level."""
    gan = load_generator(models / "gan.pt")
    if gan.level != cfg.level:
        raise ConchError(
            f"{models / 'gan.pt'}: trained for level {gan.level}, params say {cfg.level}; re-run train_gan"
        )
    vqvae = load_vqvae(models / "vqvae.pt")
    store = AudioStore(features / "audio.h5", state_dict_sha256(vqvae.state_dict()))
    return fold_weight_norm(gan.generator), JukeboxCodec(vqvae, store.spec), store


def judge_real(cfg, store: AudioStore, manifest: pd.DataFrame, names: list[str]):
    """(judge trained on the real training pieces, its accuracies, the real pieces by split)."""
    real = {split: real_pieces(store, manifest, split) for split in ("train", "val")}
    judge = train_judge(*real["train"], len(names), store.spec.rate, epochs=cfg.evaluate.judge_epochs, seed=cfg.seed)
    metrics = {f"judge.{split}_accuracy": accuracy(judge, *real[split]) for split in ("train", "val")}
    print(f"evaluate: the judge recognises {metrics['judge.val_accuracy']:.2f} of the real val pieces", file=sys.stderr)
    return judge, metrics, real


def score_splits(cfg, args, manifest, names, generator, codec, judge, music: MusicEvaluation):
    """Generate and score train and val → (flat metrics, per-category rows, kept samples, val's InsideCategory)."""
    metrics, rows, kept = {}, [], []
    inside = InsideCategory("val")
    for split in ("train", "val"):
        rows_split = limit_clips(manifest[manifest["split"] == split], cfg.evaluate.max_clips_per_split)
        dataset = PairDataset(
            rows_split, Path(args.features) / "audio.h5", Path(args.features) / "images.h5", cfg.level, split=None
        )
        on_music = music.split(split)

        def on_piece(*piece, on_music=on_music, split=split):
            on_music(*piece)
            if split == "val":
                inside.on_piece(*piece)

        scores, samples = evaluate_split(
            split,
            dataset,
            generator,
            codec,
            cfg.level,
            judge,
            names,
            cfg.evaluate.batch_size,
            cfg.evaluate.samples if split == "val" else 0,
            on_piece=on_piece,
        )
        metrics.update(scores.flat())
        metrics.update(music.splits[split].flat())
        rows += scores.per_category()
        kept += samples
    return metrics, rows, kept, inside


def inside_category(inside: InsideCategory, manifest, music: MusicEvaluation, train_waves, rate: int, seconds: float):
    """Following (when the manifest has attributes) and diversity of the val pieces → (flat metrics, rows)."""
    clip_of = dict(zip(manifest["id"], manifest["audio"]))
    metrics = inside.diversity([clip_of[i] for i in inside.ids], train_waves, rate)
    if not has_attributes(manifest):
        return metrics, []
    flat, rows = inside.following(manifest, music.notes, seconds)
    return metrics | flat, rows


def write_tables(out: Path, rows: list[dict], music_rows: list[dict], following_rows: list[dict]) -> None:
    """plots/eval_per_category.csv (val), eval_music_per_category.csv, eval_following_per_category.csv."""
    per_category = pd.DataFrame(rows)
    tables = {
        "eval_per_category.csv": per_category[per_category["split"] == "val"],
        "eval_music_per_category.csv": pd.DataFrame(music_rows),
        "eval_following_per_category.csv": pd.DataFrame(following_rows),
    }
    for name, table in tables.items():
        with atomic_path(out / paths.PLOTS / name) as tmp:
            table.to_csv(tmp, index=False)


def report(out, prepared, manifest, cfg, metrics, kept, music, rate, seconds, tables) -> None:
    """samples/ and report.html."""
    write_samples(out / paths.SAMPLES, kept, rate)
    pictures = dict(zip(manifest["id"], manifest["image"]))
    report_samples = [
        replace(
            s,
            picture=read_picture(prepared / pictures[s.id]),
            piano_roll=piano_roll_png(music.notes[s.id].ground_truth, music.notes[s.id].generated, seconds),
        )
        for s in kept
    ]
    title = f"ConchShell — level {cfg.level}, {cfg.image_encoder}"
    write_report(out / paths.REPORT, title, metrics, report_samples, rate, tables=tables)


@report_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(args.out, Path(args.out) / paths.METRICS, Path(args.out) / paths.PLOTS)  # a killed run's temporaries
    cfg = load_config(args.params)
    torch.manual_seed(cfg.seed)
    prepared, out = Path(args.prepared), Path(args.out)
    manifest, names = read_manifest(prepared), categories(prepared)
    ImageStore(Path(args.features) / "images.h5").require_finite(list(manifest["id"]))  # NaN would score silently
    generator, codec, store = load_models(cfg, Path(args.models), Path(args.features))
    rate, seconds = store.spec.rate, store.spec.seconds
    judge, metrics, real = judge_real(cfg, store, manifest, names)
    true_notes = demo_true_notes(manifest, cfg.seed, seconds) if cfg.data.source == "demo" else {}
    music = MusicEvaluation(PianoTranscriber(), rate, TranscriptionCache(args.transcription_cache), true_notes)
    scores, rows, kept, inside = score_splits(cfg, args, manifest, names, generator, codec, judge, music)
    extra, following_rows = inside_category(inside, manifest, music, real["train"][0], rate, seconds)
    metrics |= scores | extra
    write_json(out / paths.METRICS / "eval.json", finite_or_none(metrics))
    music_rows = music.per_category("val")
    write_tables(out, rows, music_rows, following_rows)
    tables = {"Music scores per category (val)": music_rows, "Following ρ per category (val)": following_rows}
    report(out, prepared, manifest, cfg, metrics, kept, music, rate, seconds, tables)
    print_summary(metrics, music, out)
    return 0


def print_summary(metrics: dict, music: MusicEvaluation, out: Path) -> None:
    def get(key: str) -> float:
        value = metrics.get(key)
        return float("nan") if value is None else value

    print(
        f"evaluate: val PESQ {get('val.pesq'):.3f}, STOI {get('val.stoi'):.3f}, agreement "
        f"{get('val.category_agreement'):.2f}, following ρ brightness→pitch {get('val.following.brightness_pitch'):.2f} "
        f"(real {get('val.real.following.brightness_pitch'):.2f}), objects→density {get('val.following.objects_density'):.2f} "
        f"(real {get('val.real.following.objects_density'):.2f}), spread {get('val.diversity.spread_ratio'):.2f} of the "
        f"real pieces' → {out / paths.REPORT}",
        file=sys.stderr,
    )
    print(
        f"evaluate: music metrics transcribed {music.transcribed} pieces in {music.seconds:.1f} s "
        f"({music.cache.hits} from the cache)",
        file=sys.stderr,
    )


def real_pieces(store: AudioStore, manifest: pd.DataFrame, split: str) -> tuple[list, list[int]]:
    """Each real clip of `split` once → (waves, list of [T]; categories)."""
    label_of = dict(zip(manifest["audio"], manifest["label"]))
    clips = unique_clips(manifest, split)
    return [store.audio(store.index_of(c)) for c, _ in clips], [int(label_of[rel]) for _, rel in clips]


def limit_clips(rows: pd.DataFrame, max_clips: int | None) -> pd.DataFrame:
    """The rows whose clip is among the first `max_clips` clips of `rows` (all rows when None)."""
    if max_clips is None:
        return rows
    first = list(dict.fromkeys(rows["audio"]))[:max_clips]
    return rows[rows["audio"].isin(first)]


def write_samples(folder: Path, samples, rate: int) -> None:
    """samples/<id>_{generated,ground_truth,reconstruction}.{wav,png}."""
    with atomic_path(folder, replace_dir=True) as tmp:
        tmp.mkdir(parents=True)
        for s in samples:
            for track in ("generated", "ground_truth", "reconstruction"):
                wave = getattr(s, track)
                write_wav(tmp / f"{s.id}_{track}.wav", wave, rate)
                (tmp / f"{s.id}_{track}.png").write_bytes(spectrogram_png(wave, rate, f"{s.id} {track}"))


if __name__ == "__main__":
    sys.exit(main())
