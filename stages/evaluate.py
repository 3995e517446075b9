"""Stage `evaluate`: score the generator on train and val, write samples and report.html.

Reads models/gan.pt, models/vqvae.pt, data/features/{audio,images}.h5 and data/prepared; writes
metrics/eval.json (flat keys `<split>.<metric>`, `<split>.ceiling.<metric>`), plots/eval_per_category.csv,
plots/eval_music_per_category.csv, samples/ (generated / ground-truth / reconstruction wavs and mel PNGs) and
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
from conchshell.data.manifest import categories, read_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.evaluation.judge import accuracy, train_judge
from conchshell.evaluation.music.split import MusicEvaluation, demo_true_notes
from conchshell.evaluation.music.transcription import PianoTranscriber, TranscriptionCache
from conchshell.evaluation.report import piano_roll_png, spectrogram_png, write_report
from conchshell.evaluation.scores import evaluate_split, finite_or_none
from conchshell.inference.pipeline import fold_weight_norm
from conchshell.io import atomic_path, state_dict_sha256, sweep_folders, write_json
from conchshell.models.jukebox.codec import JukeboxCodec


@report_errors
def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    sweep_folders(args.out, Path(args.out) / paths.METRICS, Path(args.out) / paths.PLOTS)  # a killed run's temporaries
    cfg = load_config(args.params)
    torch.manual_seed(cfg.seed)
    prepared, models, out = Path(args.prepared), Path(args.models), Path(args.out)
    manifest, names = read_manifest(prepared), categories(prepared)

    gan = load_generator(models / "gan.pt")
    generator = fold_weight_norm(gan.generator)
    if gan.level != cfg.level:
        raise ConchError(
            f"{models / 'gan.pt'}: trained for level {gan.level}, params say {cfg.level}; re-run train_gan"
        )
    vqvae = load_vqvae(models / "vqvae.pt")
    audio_h5, images_h5 = Path(args.features) / "audio.h5", Path(args.features) / "images.h5"
    store = AudioStore(audio_h5, state_dict_sha256(vqvae.state_dict()))
    ImageStore(images_h5).require_finite(list(manifest["id"]))  # NaN would score silently (agreement, Fréchet)
    audio_spec = store.spec
    codec = JukeboxCodec(vqvae, vqvae.sample_rate, audio_spec.rate)

    real = {split: real_pieces(store, manifest, split) for split in ("train", "val")}
    judge = train_judge(*real["train"], len(names), audio_spec.rate, epochs=cfg.evaluate.judge_epochs, seed=cfg.seed)
    metrics = {f"judge.{split}_accuracy": accuracy(judge, *real[split]) for split in ("train", "val")}
    print(f"evaluate: the judge recognises {metrics['judge.val_accuracy']:.2f} of the real val pieces", file=sys.stderr)

    music = MusicEvaluation(
        PianoTranscriber(),
        audio_spec.rate,
        TranscriptionCache(args.transcription_cache),
        demo_true_notes(manifest, cfg.seed, audio_spec.seconds) if cfg.data.source == "demo" else {},
    )
    rows, kept = [], []
    for split in ("train", "val"):
        rows_split = limit_clips(manifest[manifest["split"] == split], cfg.evaluate.max_clips_per_split)
        dataset = PairDataset(rows_split, audio_h5, images_h5, cfg.level, split=None)
        keep = cfg.evaluate.samples if split == "val" else 0
        scores, samples = evaluate_split(
            split,
            dataset,
            generator,
            codec,
            cfg.level,
            judge,
            names,
            cfg.evaluate.batch_size,
            keep,
            on_piece=music.split(split),
        )
        metrics.update(scores.flat())
        metrics.update(music.splits[split].flat())
        rows += scores.per_category()
        kept += samples

    rate = audio_spec.rate
    write_json(out / paths.METRICS / "eval.json", finite_or_none(metrics))
    per_category = pd.DataFrame(rows)
    with atomic_path(out / paths.PLOTS / "eval_per_category.csv") as tmp:
        per_category[per_category["split"] == "val"].to_csv(tmp, index=False)
    music_rows = music.per_category("val")
    with atomic_path(out / paths.PLOTS / "eval_music_per_category.csv") as tmp:
        pd.DataFrame(music_rows).to_csv(tmp, index=False)
    write_samples(out / paths.SAMPLES, kept, rate)
    pictures = dict(zip(manifest["id"], manifest["image"]))
    report_samples = [
        replace(
            s,
            picture=read_picture(prepared / pictures[s.id]),
            piano_roll=piano_roll_png(music.notes[s.id].ground_truth, music.notes[s.id].generated, audio_spec.seconds),
        )
        for s in kept
    ]
    title = f"ConchShell — level {cfg.level}, {cfg.image_encoder}"
    write_report(
        out / paths.REPORT, title, metrics, report_samples, rate, tables={"Music scores per category (val)": music_rows}
    )
    print(
        f"evaluate: val PESQ {metrics.get('val.pesq', float('nan')):.3f}, STOI {metrics.get('val.stoi', float('nan')):.3f}, "
        f"agreement {metrics.get('val.category_agreement', float('nan')):.2f} → {out / paths.REPORT}",
        file=sys.stderr,
    )
    print(
        f"evaluate: music metrics transcribed {music.transcribed} pieces in {music.seconds:.1f} s "
        f"({music.cache.hits} from the cache)",
        file=sys.stderr,
    )
    return 0


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
