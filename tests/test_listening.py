"""The listening study's statistics: hidden-reference screening, Krippendorff's α, clipped CIs, and the
listening stage on a small hand-made ratings database with known answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from web_helpers import make_study

from conchshell.evaluation.listening import ratings
from conchshell.evaluation.listening.agreement import alpha
from conchshell.evaluation.listening.mos import describe, summarise, table
from conchshell.evaluation.listening.screening import screen
from conchshell.web.trials import experiment_id

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "stages"))
import listening as listening_stage  # noqa: E402

NAN = np.nan
#: Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the worked example: 4 coders × 12
#: units, values 1..5, gaps missing. Published: nominal α = 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def test_alpha_matches_the_published_worked_example():
    assert alpha(KRIPPENDORFF_2011, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert alpha(KRIPPENDORFF_2011, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert alpha(KRIPPENDORFF_2011, "interval") == pytest.approx(0.849, abs=5e-4)
    assert alpha(np.array([[1, 5, 3], [1, 5, 3]])) == 1.0
    assert alpha(np.array([[1, NAN], [NAN, 2]])) is None  # no unit rated twice
    assert alpha(np.array([[3, 3], [3, 3]])) is None  # no variation: α undefined


def hand_made(experiment: str) -> pd.DataFrame:
    """The worked example as I2M ratings: rater k = coder k, unit u = (sample s<u//3>, SYSTEMS[u%3]).

    Melody and noise: raters a, b, c give the ground truth 5, the generated piece 1, the reconstruction 3;
    rater d reverses the hidden reference (ground truth 1, generated 5), so d alone is flagged.
    """
    rows = []
    for k, rater in enumerate("abcd"):
        for unit, score in enumerate(KRIPPENDORFF_2011[k]):
            if np.isnan(score):
                continue
            system = ratings.SYSTEMS[unit % 3]
            other = {"generated": 1, "ground_truth": 5, "reconstruction": 3}[system]
            if rater == "d" and system != "reconstruction":
                other = 6 - other
            rows.append((rater, f"s{unit // 3}", system, experiment, int(score), other, other))
    return pd.DataFrame(rows, columns=["rater", "sample", "system", "experiment", "i2m", "melody", "noise"])


def test_screening_flags_the_rater_who_hears_the_reference_as_worse():
    result = screen(hand_made("exp"))
    assert result.values.tolist() == [
        ["a", 3, 0, 0.0, False],  # s3: a rated neither piece
        ["b", 3, 0, 0.0, False],  # s3: b's ground truth missing
        ["c", 3, 0, 0.0, False],  # s0: c's generated missing
        ["d", 4, 4, 1.0, True],
    ]


def test_a_shown_interval_stays_on_the_scale_with_n_beside_it():
    summary = summarise(pd.DataFrame({"system": ["generated"] * 2, "i2m": [1, 5], "melody": [2, 2], "noise": [5, 4]}))
    cell = summary["generated"]["i2m"]
    assert cell["ci95"] == pytest.approx(12.706205 * np.sqrt(8) / np.sqrt(2), rel=1e-6)  # −15.4 .. 21.4 unclipped
    assert (cell["low"], cell["high"]) == (1.0, 5.0)
    assert describe(cell) == "3.00 [1.00, 5.00], n=2"
    assert describe(summary["generated"]["melody"]) == "2.00 [2.00, 2.00], n=2"
    assert describe(summary["ground_truth"]["noise"]) == "n=0"
    rows = table(summary).set_index("label")
    assert rows.loc["generated I2M", ["ci95_low", "ci95_high", "n"]].tolist() == [1.0, 5.0, 2]


def test_listening_stage_reports_screening_and_alpha_on_a_hand_made_study(tmp_path):
    samples, _ = make_study(tmp_path, ids=("s0", "s1", "s2", "s3"))
    db = tmp_path / "ratings.sqlite"
    ratings.create(db)
    for row in hand_made(experiment_id(samples)).itertuples():
        trial = ratings.current_trial(db, row.rater, row.experiment, lambda taken, counts: (row.sample, row.system))
        scores = {"i2m": row.i2m, "melody": row.melody, "noise": row.noise}
        assert ratings.record_rating(db, trial["id"], row.rater, scores, 1.0, "abc")
    out = tmp_path / "out"
    assert listening_stage.main(["--ratings", str(db), "--samples", str(samples), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics" / "listening.json").read_text())
    assert (metrics["ratings"], metrics["raters"]) == (41, 4)
    assert metrics["screening"] == {"threshold": 0.15, "flagged": 1, "raters_kept": 3, "ratings_kept": 30}
    assert metrics["alpha"]["i2m"] == pytest.approx(0.815, abs=5e-4)  # the published value
    assert metrics["alpha_screened"]["melody"] == 1.0  # a, b, c agree on every piece
    assert metrics["alpha"]["melody"] < 0.5  # d's reversals
    generated = metrics["generated"]["i2m"], metrics["screened"]["generated"]["i2m"]
    assert (generated[0]["mos"], generated[0]["n"]) == (pytest.approx(46 / 14), 14)  # a 1+3+4, b/d 1+3+4+5, c 3+4+5
    assert (generated[1]["mos"], generated[1]["n"]) == (pytest.approx(33 / 10), 10)  # without d
    csv = pd.read_csv(out / "plots" / "listening.csv")
    assert set(csv["raters"]) == {"all", "screened"} and csv["ci95_low"].min() >= 1 and csv["ci95_high"].max() <= 5
