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
    b = demo.DemoSource(seed=1, pictures_per_category=20, pieces_per_category=2, sample_rate=16000, seconds=8.0)
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
    # within: the mean distance of two pieces of one category (their registers differ with brightness)
    within = np.mean([np.abs(h[i] - h[j]).sum() for h in hists.values() for i in range(3) for j in range(i + 1, 3)])
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


def test_attribute_to_score_mapping_by_hand():
    beach = demo.STYLES["beach"]  # C major, tonic C4 = 60, no register shift
    assert [demo.pitch_centre_target(beach, b) for b in (0.0, 0.5, 1.0)] == [48.0, 60.0, 72.0]
    assert demo.density_factor("beach", 3) == pytest.approx(0.3)  # its fewest wave crests
    assert demo.density_factor("beach", 14) == pytest.approx(1.7)  # its most
    assert demo.density_factor("forest", 15) == pytest.approx(1.0)  # 6 … 24 trees: the middle
    # C major triad around 60: G3 C4 E4 (mean 59.67) beats C4 E4 G4 (63.67); around 64: C4 E4 G4
    assert demo.voicing(beach, 0, 60.0, 3) == [55, 60, 64]
    assert demo.voicing(beach, 0, 64.0, 3) == [60, 64, 67]
    assert demo.voicing(beach, 4, 62.0, 3) == [59, 62, 67]  # G major (degree 4) stays G B D: B3 D4 G4
    # One bar of sixteenths fills downbeat, half bar, beats, eighths, then sixteenths, each level spread out
    assert [demo.metrical_level(s) for s in (0, 8, 4, 12, 2, 1, 16)] == [0, 1, 2, 2, 3, 4, 0]
    assert demo.slot_order(16) == [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15]
    # Two bars: the downbeats 0 and 16 first, then the half bars 8 and 24, then the beats 4 20 12 28
    assert demo.slot_order(32)[:8] == [0, 16, 8, 24, 4, 20, 12, 28]
    # 3 events/s over 2 s at a 0.5 s beat: 6 of the 16 slots, the first six of that order
    assert demo.event_slots(0.5, 2.0, 3.0) == [0, 2, 4, 8, 10, 12]
    assert demo.event_slots(0.5, 2.0, 3.5) == [0, 2, 4, 6, 8, 10, 12]  # one more note, the others kept
    assert demo.luminance_target("night_city", 0.5) == 45.0


@pytest.mark.parametrize("category", demo.CATEGORIES)
def test_pieces_follow_brightness_and_objects_inside_the_key(category):
    _, low, high = demo.OBJECTS[category]
    middle = (low + high) // 2

    def summary(brightness, objects, seed):
        score = demo.compose_score(category, np.random.default_rng(seed), 8.0, demo.Attributes(brightness, objects))
        return demo.score_summary(score, 8.0), score

    for seed in range(3):
        centres = [summary(b, middle, seed)[0][0] for b in (0.0, 0.25, 0.5, 0.75, 1.0)]
        assert all(a <= b for a, b in zip(centres, centres[1:])) and centres[-1] - centres[0] >= 12, centres
        density = [summary(0.5, n, seed)[0][1] for n in (low, middle, high)]
        assert density[0] <= 0.7 * density[1] and density[2] >= 1.3 * density[1], density
        scale = {(demo.STYLES[category].tonic + d) % 12 for d in demo.STYLES[category].scale}
        for b in (0.0, 1.0):  # every note stays in the category's key
            assert {p % 12 for p in summary(b, high, seed)[1].pitch} <= scale


def test_picture_shows_its_brightness_and_pictures_of_a_piece_share_it():
    for category in ("beach", "night_city"):
        clip = demo.piece_id(category, 4)
        target = demo.luminance_target(category, demo.piece_attributes(clip, category, 0).brightness) / 255
        for index in (4, 9):  # two pictures paired with the same piece
            picture = demo.demo_picture(demo.picture_id(category, index), category, 0, clip=clip)
            assert demo.mean_luminance(picture) == pytest.approx(target, abs=1.5 / 255)


@pytest.mark.parametrize("category", demo.CATEGORIES)
def test_a_denser_piece_keeps_every_note_of_a_sparser_one(category):
    _, low, high = demo.OBJECTS[category]

    def notes(objects):
        score = demo.compose_score(category, np.random.default_rng(3), 8.0, demo.Attributes(0.4, objects))
        return set(zip(score.onset, score.duration, score.pitch, score.velocity))

    sparse, middle, dense = notes(low), notes((low + high) // 2), notes(high)
    assert sparse < middle < dense  # more objects add notes; none of the others moves


def test_a_piece_is_a_function_of_its_category_and_attributes(monkeypatch):
    monkeypatch.setattr(demo, "piece_attributes", lambda clip, category, seed: demo.Attributes(0.3, 12))
    one, other = (demo.demo_score(demo.piece_id("forest", i), "forest", 0, 8.0) for i in (1, 7))
    assert one == other and len(one.onset) > 8  # two pieces showing the same attributes play the same notes
    assert one != demo.demo_score(demo.piece_id("forest", 1), "forest", 1, 8.0)  # another seed, another motif
    waves = [demo.demo_piece(demo.piece_id("forest", i), "forest", 0, 8000, 2.0) for i in (1, 7)]
    assert np.array_equal(*waves)  # and sound the same: nothing of a piece is drawn beyond its picture


def test_a_note_sounds_the_same_wherever_it_is_played():
    rate, rng = 8000, lambda: np.random.default_rng(5)
    alone, later = demo.Score([], [], [], []), demo.Score([], [], [], [])
    alone.add(0.0, 0.3, 64, 0.7)
    later.add(0.0, 0.2, 40, 0.5)  # another note first: it must not change the instrument's draw for pitch 64
    later.add(1.0, 0.3, 64, 0.7)
    one, other = demo.render(alone, rng(), rate, rate), demo.render(later, rng(), rate, 2 * rate)
    ring = int(0.78 * rate)  # 0.3 s held + four 0.12 s release constants
    np.testing.assert_allclose(other[rate : rate + ring], one[:ring], atol=1e-6)
    assert not np.allclose(demo.render(alone, np.random.default_rng(6), rate, rate)[:ring], one[:ring])
