"""Following (within-category Spearman ρ) and diversity scores on tiny inputs, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conchshell.evaluation import diversity as div
from conchshell.evaluation.following import category_rho, following, measured, within_category_rho
from conchshell.evaluation.music.metrics import Notes


def test_rho_per_category_then_averaged():
    cats = ["a"] * 4 + ["b"] * 3
    x = [1, 2, 3, 4, 10, 20, 30]
    # a: ranks of y = 1,3,2,4 → d² = 0+1+1+0 = 2 → ρ = 1 − 6·2 / (4·15) = 0.8; b: reversed → −1
    y = [0.1, 0.3, 0.2, 0.4, 9.0, 8.0, 7.0]
    mean, per = within_category_rho(cats, x, y)
    assert per == {"a": pytest.approx(0.8), "b": pytest.approx(-1.0)}
    assert mean == pytest.approx(-0.1)
    # shifting a whole category (its key, its tempo) changes nothing: ranks are only compared inside it
    assert within_category_rho(cats, x, [v + (100 if c == "b" else 0) for v, c in zip(y, cats)])[0] == pytest.approx(
        -0.1
    )


def test_rho_undefined_and_constant_cases():
    assert math.isnan(category_rho([1, 2], [1, 2]))  # two pictures: no ρ
    assert math.isnan(category_rho([5, 5, 5], [1, 2, 3]))  # constant attribute
    assert category_rho([1, 2, 3], [7, 7, 7]) == 0.0  # the same piece for every picture follows nothing
    assert category_rho([1, 2, 3], [1, float("nan"), 3]) == 0.0


def test_following_reads_pitch_centre_and_density_from_notes():
    def notes(pitches):
        n = len(pitches)
        return Notes(np.arange(n) * 0.5, np.arange(n) * 0.5 + 0.4, np.array(pitches), np.ones(n))

    m = measured(notes([60, 62, 64, 90]), seconds=2.0)
    assert m == {"pitch_centre": 63.0, "notes_per_second": 2.0}  # median, not the mean 69
    measures = [measured(notes(p), 4.0) for p in ([60], [62, 62], [64, 64, 64])]
    rho, _ = following(["c"] * 3, {"brightness": [0.1, 0.5, 0.9], "objects": [9, 5, 1]}, measures)
    assert rho == {"brightness_pitch": pytest.approx(1.0), "objects_density": pytest.approx(-1.0)}


def test_spread_nearest_and_correlation_by_hand():
    feats = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    # category a: pairs (0,1): 1, (0,2): 2, (1,2): 3 → 2; category b: two equal pieces → 0; mean 1
    assert div.spread(feats, ["a", "a", "a", "b", "b"]) == pytest.approx(1.0)
    index, distance = div.nearest(feats[:3], np.array([[0.0, 0.0], [0.0, 3.0]]))
    assert index.tolist() == [0, 0, 1] and distance.tolist() == pytest.approx([0.0, 1.0, 0.5])
    t = np.linspace(0, 1, 1000)
    a, b = np.sin(40 * t), np.cos(40 * t)
    assert div.max_correlation([a, b, 2 * a + 1]) == pytest.approx(1.0)
    assert div.max_correlation([a, np.zeros_like(a)]) == 0.0  # silence correlates with nothing


def test_diversity_of_identical_pieces_is_zero_and_real_is_one():
    rng = np.random.default_rng(0)
    real = [rng.normal(0, 0.1, 4000).astype(np.float32) for _ in range(4)]
    train = [rng.normal(0, 0.1, 4000).astype(np.float32) for _ in range(3)]
    same = [real[0]] * 4  # a G that gives every picture one piece
    scores = div.diversity({"generated": same, "real": real, "ceiling": real}, ["c"] * 4, train, 16000)
    assert scores["generated"]["spread_ratio"] == 0.0 and scores["real"]["spread_ratio"] == 1.0
    assert scores["generated"]["distinct_nearest"] == 0.25 and scores["generated"]["max_correlation"] == pytest.approx(
        1.0
    )
    assert scores["real"]["max_correlation"] < 0.2 and scores["real"]["novelty"] == pytest.approx(1.0)
