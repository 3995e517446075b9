"""The demo dataset: deterministic from the seed, and its categories differ in picture and music."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conchshell.data import demo


def chroma(wave: np.ndarray, rate: int = 16000) -> np.ndarray:
    """Pitch-class energy histogram [12] (A = 0) of a wave, from its power spectrum (60 Hz – 2 kHz)."""
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / rate)
    band = (freqs > 60) & (freqs < 2000)
    pitch_class = np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) % 12
    hist = np.bincount(pitch_class, weights=power[band], minlength=12)
    return hist / hist.sum()


def test_same_seed_same_bytes_other_seed_other_bytes():
    for make in (
        lambda seed: demo.demo_picture("forest_004", "forest", seed),
        lambda seed: demo.demo_piece("night_city_piece_002", "night_city", seed, 16000, 8.0),
    ):
        assert make(3).tobytes() == make(3).tobytes()
        assert make(3).tobytes() != make(4).tobytes()


def test_items_do_not_depend_on_each_other():
    a = demo.DemoSource(seed=1, pictures_per_category=4, pieces_per_category=2, sample_rate=16000, seconds=8.0)
    b = demo.DemoSource(seed=1, pictures_per_category=20, pieces_per_category=10, sample_rate=16000, seconds=8.0)
    assert a.picture(a.pairs[3]).tobytes() == b.picture(b.pairs[3]).tobytes()
    assert a.piece("desert_piece_001").tobytes() == b.piece("desert_piece_001").tobytes()


def test_pairs_give_each_piece_two_pictures():
    pairs = demo.demo_pairs(20, 10)
    assert len(pairs) == 120 and len({p.id for p in pairs}) == 120
    per_clip = Counter(p.clip_id for p in pairs)
    assert len(per_clip) == 60 and set(per_clip.values()) == {2}
    assert all(p.clip_id.startswith(p.category + "_piece_") for p in pairs)
    assert sorted({p.category for p in pairs}) == list(demo.CATEGORIES)


def test_picture_and_piece_shapes():
    picture = demo.demo_picture("beach_000", "beach", 0)
    assert picture.shape == (224, 224, 3) and picture.dtype == np.uint8
    assert demo.demo_picture("beach_000", "beach", 0, size=64).shape == (64, 64, 3)
    piece = demo.demo_piece("beach_piece_000", "beach", 0, 16000, 8.0)
    assert piece.shape == (128000,) and piece.dtype == np.float32
    assert np.isfinite(piece).all() and np.abs(piece).max() == pytest.approx(0.95, abs=1e-4)
    assert np.abs(piece[-16000:]).max() > 0.01  # it plays to the end


def test_pictures_of_categories_differ():
    def mean_colour(category):
        return np.mean(
            [demo.demo_picture(f"{category}_{j:03d}", category, 0).reshape(-1, 3).mean(0) for j in range(4)], 0
        )

    night, beach, forest = mean_colour("night_city"), mean_colour("beach"), mean_colour("forest")
    assert night.sum() < beach.sum() - 150  # night scenes are dark
    assert forest[1] > forest[2] and beach[2] > beach[0]  # green forests, blue beaches


def test_pieces_of_categories_differ_in_pitch_classes():
    hists = {
        c: np.array([chroma(demo.demo_piece(demo.piece_id(c, i), c, 0, 16000, 8.0)) for i in range(3)])
        for c in ("beach", "desert", "night_city")
    }
    within = max(np.abs(h[i] - h[j]).sum() for h in hists.values() for i in range(3) for j in range(i + 1, 3))
    for a, b in (("beach", "desert"), ("beach", "night_city"), ("desert", "night_city")):
        between = np.abs(hists[a].mean(0) - hists[b].mean(0)).sum()
        assert between > 1.5 * within, (a, b, between, within)
    # The tonic's pitch class is among the strongest of each category (A = 0: C = 3, D = 5, F = 8).
    for category, tonic in (("beach", 3), ("desert", 5), ("night_city", 8)):
        assert tonic in np.argsort(hists[category].mean(0))[-3:]


def test_tempo_differs_between_categories():
    def onsets_per_second(category):
        rng = np.random.default_rng(0)
        return np.mean([len(demo.compose_score(category, rng, 8.0).onset) / 8.0 for _ in range(4)])

    assert onsets_per_second("night_city") > 2 * onsets_per_second("snowy_mountains")
