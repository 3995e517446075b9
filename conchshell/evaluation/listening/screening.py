"""Hidden-reference post-screening of raters, in the spirit of ITU-R BS.1534 (MUSHRA) §4.1.2.

The ground-truth piece is the test's hidden reference: a careful rater should not rate it below the
generated piece for the same picture. For each rater and each sample where the rater rated both
pieces, a *reversal* is

    mean(ground_truth's three scores) < mean(generated's three scores)

and the rater is flagged when reversals / compared > `threshold` (BS.1534-3 excludes an assessor who
misjudges the hidden reference for more than 15% of the items; 0.15 here too). A rater with no such
sample cannot be screened and is kept.
"""

from __future__ import annotations

import pandas as pd

from conchshell.evaluation.listening.ratings import SCALES, SYSTEMS

THRESHOLD = 0.15
SCREEN_COLUMNS = ["rater", "compared", "reversals", "fraction", "flagged"]


def screen(ratings: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Ratings (rater, sample, system, experiment, scales) → one row per rater: SCREEN_COLUMNS, by rater."""
    if ratings.empty:
        return pd.DataFrame(columns=SCREEN_COLUMNS)
    mean = ratings[[c for c, _ in SCALES]].astype(float).mean(axis=1)
    wide = ratings.assign(mean=mean).pivot_table(
        index=["rater", "experiment", "sample"], columns="system", values="mean"
    )
    both = wide.reindex(columns=SYSTEMS).dropna(subset=["ground_truth", "generated"])
    reversed_ = (both["ground_truth"] < both["generated"]).groupby(level="rater")
    compared, reversals = reversed_.size(), reversed_.sum()
    rows = []
    for rater in sorted(ratings["rater"].unique()):
        n, bad = int(compared.get(rater, 0)), int(reversals.get(rater, 0))
        fraction = bad / n if n else 0.0
        rows.append((rater, n, bad, fraction, n > 0 and fraction > threshold))
    return pd.DataFrame(rows, columns=SCREEN_COLUMNS)


def kept(ratings: pd.DataFrame, screening: pd.DataFrame) -> pd.DataFrame:
    """The ratings of the raters screening did not flag."""
    flagged = set(screening.loc[screening["flagged"].astype(bool), "rater"])
    return ratings[~ratings["rater"].isin(flagged)]
