"""Inter-rater agreement: Krippendorff's α per scale (the `krippendorff` package).

A unit is one (experiment, sample, system) piece; its values are the raters' scores on one scale, a
rater × unit matrix with gaps where a rater did not rate the piece. The scores are ordered categories
1..5, so the distance is the ordinal one:

    α = 1 − D_o / D_e

with D_o the disagreement observed within units and D_e the one expected by chance over all pairable
values (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"). α = 1 is perfect agreement,
0 chance level. None when no unit has two ratings or all scores are equal (α is undefined).
"""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd

from conchshell.evaluation.listening.ratings import SCALES

LEVEL = "ordinal"


def reliability_matrix(ratings: pd.DataFrame, scale: str) -> np.ndarray:
    """Ratings → float [raters, units] of `scale`'s scores, NaN where a rater did not rate a unit."""
    wide = ratings.pivot_table(index="rater", columns=["experiment", "sample", "system"], values=scale, aggfunc="mean")
    return wide.to_numpy(dtype=np.float64)


def alpha(matrix: np.ndarray, level: str = LEVEL) -> float | None:
    """Krippendorff's α of a [raters, units] matrix (NaN = missing); None when undefined."""
    matrix = np.asarray(matrix, dtype=np.float64)
    pairable = (np.sum(~np.isnan(matrix), axis=0) >= 2) if matrix.size else np.zeros(0, bool)
    if not pairable.any() or np.unique(matrix[:, pairable][~np.isnan(matrix[:, pairable])]).size < 2:
        return None
    return float(krippendorff.alpha(reliability_data=matrix[:, pairable], level_of_measurement=level))


def alphas(ratings: pd.DataFrame, level: str = LEVEL) -> dict[str, float | None]:
    """{scale: α} for each of SCALES (None where undefined)."""
    if ratings.empty:
        return {column: None for column, _ in SCALES}
    return {column: alpha(reliability_matrix(ratings, column), level) for column, _ in SCALES}
