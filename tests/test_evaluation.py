"""Evaluation: metrics on hand-made signals, the audio classifier, the Fréchet distance, and the stage."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import torch
from PIL import Image

from conchshell.artifacts.stores import AudioStore, write_audio_store, write_image_store
from conchshell.audio.spec import AudioSpec
from conchshell.evaluation import scores as ev
from conchshell.io import state_dict_sha256
from conchshell.models.jukebox.codec import JukeboxCodec

RATE = 16000


pytestmark = pytest.mark.usefixtures("one_thread")


def piano_like(seconds: float = 8.0, base: float = 220.0, seed: int = 0) -> np.ndarray:
    """Notes with harmonics and decaying envelopes, float32 [T], peak 0.9."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = np.zeros_like(t)
    for onset in np.arange(0, seconds, 0.5):
        f = base * 2 ** (rng.integers(0, 12) / 12)
        local = np.clip(t - onset, 0, None)
        env = np.where(t >= onset, np.exp(-3 * local), 0)
        wave += env * sum(np.sin(2 * np.pi * f * k * local) / k for k in (1, 2, 3))
    return (0.9 * wave / np.abs(wave).max()).astype(np.float32)


def with_noise(wave: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(wave)).astype(np.float32)
    scale = np.sqrt((wave**2).mean() / (noise**2).mean() / 10 ** (snr_db / 10))
    return wave + scale * noise


def test_identical_signals_score_best():
    ref = piano_like()
    scores = ev.pair_metrics(ref, ref.copy(), RATE)
    assert scores["pesq"] > 4.5
    assert scores["stoi"] > 0.999
    assert scores["mel_l1"] == pytest.approx(0.0, abs=1e-6)


def test_more_noise_scores_worse():
    ref = piano_like()
    mild, strong = ev.pair_metrics(ref, with_noise(ref, 20), RATE), ev.pair_metrics(ref, with_noise(ref, 0), RATE)
    best = ev.pair_metrics(ref, ref, RATE)
    assert best["pesq"] > mild["pesq"] > strong["pesq"]
    assert best["stoi"] > mild["stoi"] > strong["stoi"]
    assert best["mel_l1"] < mild["mel_l1"] < strong["mel_l1"]


def test_pesq_of_silence_is_nan_not_a_crash():
    ref = piano_like(seconds=2.0)
    assert math.isnan(ev.pesq_score(np.zeros_like(ref), np.zeros_like(ref), RATE))


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 8))
    assert ev.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-3)
    near, far = ev.frechet_distance(a, a + 0.5), ev.frechet_distance(a, a + 2.0)
    assert 0 < near < far
    assert near == pytest.approx(8 * 0.25, rel=0.05)


def test_judge_hears_the_demo_categories_on_held_out_pieces():
    from conchshell.data.demo import demo_piece
    from conchshell.evaluation.judge import accuracy, judge_pieces, train_judge

    cats = ("beach", "night_city", "snowy_mountains")

    def pieces(indices):
        waves = [demo_piece(f"{c}_piece_{i:03d}", c, 0, RATE, 4.0) for c in cats for i in indices]
        return waves, [k for k in range(len(cats)) for _ in indices]

    train_waves, train_labels = pieces(range(12))  # the demo varies register and density inside a category
    held_waves, held_labels = pieces(range(10, 12))
    judge = train_judge(train_waves, train_labels, len(cats), RATE, crops=4, epochs=300)
    assert accuracy(judge, held_waves, held_labels) == 1.0
    noisy = [
        w + np.random.default_rng(1).normal(0, 0.1 * np.sqrt(np.mean(w**2)), len(w)).astype(np.float32)
        for w in held_waves
    ]  # 20 dB SNR: a decoder's hiss must not change the verdict
    assert accuracy(judge, noisy, held_labels) == 1.0
    dull = [
        scipy.signal.lfilter([0.2], [1.0, -0.8], w).astype(np.float32) for w in held_waves
    ]  # a decoder's lost treble
    assert accuracy(judge, dull, held_labels) == 1.0
    predicted, embedding = judge_pieces(judge, [np.zeros(16000, np.float32)])  # silence: a verdict, not NaN
    assert embedding.shape == (1, 16) and torch.isfinite(embedding).all()


def test_split_scores_flatten_per_split_with_ceiling():
    piece = ev.PieceScores(
        "a_0", "a", {"pesq": 2.0, "stoi": 0.5, "mel_l1": 1.0}, {"pesq": 3.0, "stoi": 0.8, "mel_l1": 0.5}, "a", "a"
    )
    other = ev.PieceScores(
        "b_0", "b", {"pesq": math.nan, "stoi": 0.3, "mel_l1": 2.0}, {"pesq": 4.0, "stoi": 0.9, "mel_l1": 0.1}, "a", "b"
    )
    scores = ev.SplitScores("val", [piece, other], frechet=1.5, ceiling_frechet=0.2)
    flat = scores.flat()
    assert flat["val.pesq"] == 2.0  # NaN pieces are left out of the mean
    assert flat["val.stoi"] == pytest.approx(0.4)
    assert flat["val.category_agreement"] == 0.5
    assert flat["val.ceiling.category_agreement"] == 1.0
    assert flat["val.ceiling.pesq"] == 3.5 and flat["val.frechet"] == 1.5
    rows = {r["category"]: r for r in scores.per_category()}
    assert rows["a"]["agreement"] == 1.0 and rows["b"]["agreement"] == 0.0
    assert ev.finite_or_none({"x": math.nan, "y": 1.0}) == {"x": None, "y": 1.0}


# -- the stage, end to end on tiny models and a tiny prepared folder ----------------------------------
def make_pipeline_outputs(root, level: str = "high"):
    """data/prepared (manifest, categories, pictures), data/features/{audio,images}.h5 and models/."""
    from test_cli import CATEGORIES, LEVEL_INDEX, make_models  # tiny models in the contract layouts

    from conchshell.artifacts.jukebox import load_vqvae

    prepared, features = root / "data/prepared", root / "data/features"
    (prepared / "images").mkdir(parents=True)
    make_models(root / "models", level)
    codec = JukeboxCodec(load_vqvae(root / "models/vqvae.pt"), AudioSpec(16000, 8.0))
    rows, clips = [], []
    for label, category in enumerate(CATEGORIES):
        for piece in range(3):
            clip = f"{category}_piece_{piece}"
            clips.append((clip, label))
            for k in range(2):
                pid = f"{category}_{piece * 2 + k:03d}"
                Image.new("RGB", (64, 64), (40 + 80 * label, 90, 30 * piece)).save(prepared / "images" / f"{pid}.png")
                split = "val" if piece == 2 else "train"
                rows.append((pid, category, label, split, f"images/{pid}.png", f"audio/{clip}.wav"))
    pd.DataFrame(rows, columns=["id", "category", "label", "split", "image", "audio"]).to_csv(
        prepared / "manifest.csv", index=False
    )
    (prepared / "categories.json").write_text(json.dumps(CATEGORIES))
    audio = np.stack([piano_like(8.0, 110.0 * 4**label, i) for i, (_, label) in enumerate(clips)])
    with torch.inference_mode():
        wave = torch.from_numpy(audio)
        codes = [c.numpy() for c in codec.encode(wave)]
        latents = [z.numpy() for z in codec.latents(wave)]
    attrs = {
        "preset": "demo",
        "sample_rate": 16000,
        "audio_rate": 16000,
        "hop_lengths": [codec.hop(i) for i in range(3)],
        "vqvae_sha256": state_dict_sha256(codec.vqvae.state_dict()),
        "l_bins": 16,
        "emb_width": 64,
    }
    write_audio_store(features / "audio.h5", [c for c, _ in clips], audio, codes, latents, attrs)
    n = len(rows)
    rng = np.random.default_rng(0)
    write_image_store(
        features / "images.h5",
        [r[0] for r in rows],
        rng.standard_normal((n, 1024, 2)).astype(np.float32),
        np.array([r[2] for r in rows]),
        np.full((n, 2), 0.5, np.float32),
        {"image_encoder": "tcnn6", "categories": json.dumps(CATEGORIES)},
    )
    params = root / "params.yaml"
    params.write_text(f"level: {level}\nevaluate:\n  samples: 2\n  judge_epochs: 20\n  batch_size: 3\n")
    return params, LEVEL_INDEX


@pytest.mark.slow
def test_evaluate_stage_writes_metrics_plots_samples_and_report(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("evaluate_stage", Path(__file__).parents[1] / "stages/evaluate.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)

    params, _ = make_pipeline_outputs(tmp_path)
    out = tmp_path / "out"
    status = stage.main(
        [
            "--params",
            str(params),
            "--prepared",
            str(tmp_path / "data/prepared"),
            "--models",
            str(tmp_path / "models"),
            "--features",
            str(tmp_path / "data/features"),
            "--out",
            str(out),
            "--transcription-cache",
            str(tmp_path / "cache"),
        ]
    )
    assert status == 0
    metrics = json.loads((out / "metrics/eval.json").read_text())
    for split in ("train", "val"):
        for key in (
            "pesq",
            "stoi",
            "mel_l1",
            "category_agreement",
            "frechet",
            "ceiling.pesq",
            "ceiling.stoi",
            "ceiling.mel_l1",
            "ceiling.category_agreement",
        ):
            assert f"{split}.{key}" in metrics
        assert 0.0 <= metrics[f"judge.{split}_accuracy"] <= 1.0
        assert 0.0 <= metrics[f"{split}.category_agreement"] <= 1.0
        assert metrics[f"{split}.stoi"] is None or -1.0 <= metrics[f"{split}.stoi"] <= 1.0
    assert metrics["train.pieces"] == 8 and metrics["val.pieces"] == 4
    # the ceiling is the VQ-VAE's own error: mel L1 of each val piece against its stored codes decoded, by hand
    from test_cli import CATEGORIES

    from conchshell.artifacts.jukebox import load_vqvae

    store = AudioStore(tmp_path / "data/features/audio.h5")
    codec = JukeboxCodec(load_vqvae(tmp_path / "models/vqvae.pt"), store.spec)
    val = [store.index_of(f"{c}_piece_2") for c in CATEGORIES]  # two pictures each: the mean over pieces
    with torch.inference_mode():
        recon = [codec.decode_codes(torch.from_numpy(store.codes(i, 2))[None], 2, store.spec.samples)[0] for i in val]
    by_hand = np.mean([ev.mel_l1(store.audio(i), r.numpy(), 16000) for i, r in zip(val, recon)])
    assert metrics["val.ceiling.mel_l1"] == pytest.approx(by_hand, rel=1e-4)
    for split in ("train", "val"):  # the music metrics (tests/test_music_metrics.py)
        for key in (
            "pitch_class_cosine",
            "key_agreement",
            "key_weighted",
            "onset_f1",
            "note_density_ratio",
            "pitch_range_ratio",
            "silent_generated",
        ):
            assert f"{split}.{key}" in metrics and (key == "silent_generated" or f"{split}.ceiling.{key}" in metrics)
    for infix in ("", "real.", "ceiling."):  # diversity of the val pieces beside its trust (real) and ceiling
        for key in ("spread_ratio", "distinct_nearest", "max_correlation", "novelty"):
            assert f"val.{infix}diversity.{key}" in metrics
    assert metrics["val.ceiling.diversity.novelty"] == 1.0  # (spread: None here, one piece per category in val)
    assert list(pd.read_csv(out / "plots/eval_music_per_category.csv")["category"]) == ["beach", "forest"]
    per_category = pd.read_csv(out / "plots/eval_per_category.csv")
    assert sorted(per_category["category"]) == ["beach", "forest"]
    assert {"agreement", "pesq", "stoi", "mel_l1"} <= set(per_category.columns)
    wavs = sorted(p.name for p in (out / "samples").glob("*.wav"))
    assert len(wavs) == 6 and len(list((out / "samples").glob("*.png"))) == 6  # 2 samples × 3 tracks
    page = (out / "report.html").read_text()
    assert page.count("<audio") == 6 and "val.pesq" not in page and "category_agreement" in page
    assert page.count('alt="piano roll"') == 2 and "Music scores per category (val)" in page


def test_evaluate_stops_naming_the_pictures_whose_features_are_not_finite(tmp_path, capsys):
    """Issue 26.4: NaN in the val pictures' cached S-T features scored silently (agreement 0.33, Fréchet 221)."""
    import importlib.util
    from pathlib import Path

    import h5py

    spec = importlib.util.spec_from_file_location("evaluate_stage", Path(__file__).parents[1] / "stages/evaluate.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    params, _ = make_pipeline_outputs(tmp_path)
    images_h5 = tmp_path / "data/features/images.h5"
    with h5py.File(images_h5, "r+") as f:
        ids = [s.decode() for s in f["ids"][()]]
        for row in (ids.index("beach_004"), ids.index("forest_005")):  # val pictures
            f["st_features"][row, 3, 1] = np.nan
    out = tmp_path / "out"
    argv = [
        "--params",
        str(params),
        "--prepared",
        str(tmp_path / "data/prepared"),
        "--models",
        str(tmp_path / "models"),
    ]
    status = stage.main([*argv, "--features", str(tmp_path / "data/features"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert err == (
        f"error: {images_h5}: S-T features of 2 pictures are not finite (NaN or inf): beach_004, forest_005; "
        "re-run encode_images (`dvc repro -f encode_images`)"
    )
    assert not (out / "metrics/eval.json").exists()
