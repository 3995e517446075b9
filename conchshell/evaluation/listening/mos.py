"""Ratings → mean opinion score (MOS) per system and scale, with a 95% confidence interval; its figure.

For the n ratings x_1..x_n of one system on one scale (integers 1..5):
    MOS  = mean(x)
    ci95 = t_{0.975, n-1} · s / sqrt(n),  s = sample standard deviation (ddof 1)
the half-width of the Student-t 95% interval MOS ± ci95 (None when n < 2: no spread to estimate).
Shown, the interval is clipped to the scale, [max(1, MOS − ci95), min(5, MOS + ci95)], always with n
beside it: with n = 2 the unclipped interval can run from −15.6 to 22.6, and two equal ratings give a
zero-width one that only n puts in proportion.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from scipy import stats

from conchshell.evaluation.listening.ratings import SCALES, SYSTEMS


def mos_ci(scores: np.ndarray) -> tuple[float | None, float | None]:
    """scores [n] → (MOS, 95% CI half-width); (None, None) for n = 0, (MOS, None) for n = 1."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    if n == 0:
        return None, None
    mean = float(scores.mean())
    if n < 2:
        return mean, None
    half = float(stats.t.ppf(0.975, n - 1) * scores.std(ddof=1) / math.sqrt(n))
    return mean, half


SCALE_RANGE = (1.0, 5.0)


def clipped(mos: float | None, half: float | None) -> tuple[float | None, float | None]:
    """(MOS, CI half-width) → the interval's (low, high) clipped to SCALE_RANGE; (None, None) without a CI."""
    if mos is None or half is None:
        return None, None
    return max(SCALE_RANGE[0], mos - half), min(SCALE_RANGE[1], mos + half)


def describe(cell: dict) -> str:
    """A summary cell → "3.50 [2.10, 4.90], n=4" (the CI clipped to the scale), "4.00, n=1", or "n=0"."""
    if cell["mos"] is None:
        return "n=0"
    if cell["ci95"] is None:
        return f"{cell['mos']:.2f}, n={cell['n']}"
    low, high = clipped(cell["mos"], cell["ci95"])
    return f"{cell['mos']:.2f} [{low:.2f}, {high:.2f}], n={cell['n']}"


def summarise(ratings: pd.DataFrame) -> dict:
    """Ratings (columns system, i2m, melody, noise) → {system: {scale: {"mos", "ci95", "low", "high", "n"}}}.

    low / high: the 95% interval clipped to the 1–5 scale (None below 2 ratings).

    Every system of SYSTEMS and every scale appears, with n = 0 and null MOS when it has no ratings,
    so the file has the same keys before and after a study (what `dvc metrics diff` compares).
    """
    summary: dict = {}
    for system in SYSTEMS:
        rows = ratings[ratings["system"] == system]
        summary[system] = {}
        for column, _ in SCALES:
            mos, ci95 = mos_ci(rows[column].to_numpy())
            low, high = clipped(mos, ci95)
            summary[system][column] = {
                "mos": _round(mos),
                "ci95": _round(ci95),
                "low": _round(low),
                "high": _round(high),
                "n": int(len(rows)),
            }
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


TABLE_COLUMNS = ["raters", "label", "system", "scale", "mos", "ci95_low", "ci95_high", "n"]


def table(summary: dict, raters: str = "all") -> pd.DataFrame:
    """summarise()'s result → one row per (system, scale): TABLE_COLUMNS, the CI clipped to the scale.

    `raters` labels the rows: "all", or "screened" for the raters kept by conchshell.evaluation.listening.screening.
    """
    rows = []
    for system, scales in summary.items():
        for column, name in SCALES:
            cell = scales[column]
            rows.append(
                {
                    "raters": raters,
                    "label": f"{system} {name}" + ("" if raters == "all" else f" ({raters})"),
                    "system": system,
                    "scale": name,
                    "mos": cell["mos"],
                    "ci95_low": cell["low"],
                    "ci95_high": cell["high"],
                    "n": cell["n"],
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def figure_png(summary: dict, title: str = "") -> bytes:
    """Grouped bars: MOS per scale (groups) and system (bars), the 95% CI clipped to 1–5 as error bars and
    n above each bar; PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.5), dpi=100)
    width = 0.8 / len(SYSTEMS)
    total = 0
    for k, system in enumerate(SYSTEMS):
        cells = [summary[system][column] for column, _ in SCALES]
        total += cells[0]["n"]
        heights = np.array([c["mos"] if c["mos"] is not None else 0.0 for c in cells])
        spans = [[h - c["low"], c["high"] - h] if c["low"] is not None else [0.0, 0.0] for h, c in zip(heights, cells)]
        errors = np.clip(np.array(spans).T, 0.0, None)
        x = np.arange(len(SCALES)) + (k - (len(SYSTEMS) - 1) / 2) * width
        ax.bar(x, heights, width, yerr=errors, capsize=3, label=system)
        for xi, top, c in zip(x, heights + errors[1], cells):
            ax.text(xi, top + 0.05, f"n={c['n']}", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(np.arange(len(SCALES)), [f"{name}-MOS" for _, name in SCALES])
    ax.set_ylim(0, 5.6)
    ax.set_ylabel("MOS (1–5), 95% CI")
    if title:
        ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(SYSTEMS), frameon=False)
    if total == 0:
        ax.text(1.0, 2.5, "no ratings yet", ha="center", va="center", fontsize=14, color="gray")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
