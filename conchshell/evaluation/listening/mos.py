"""Ratings → mean opinion score (MOS) per system and scale, with a 95% confidence interval; its figure.

For the n ratings x_1..x_n of one system on one scale (integers 1..5):
    MOS  = mean(x)
    ci95 = t_{0.975, n-1} · s / sqrt(n),  s = sample standard deviation (ddof 1)
the half-width of the Student-t 95% interval MOS ± ci95 (None when n < 2: no spread to estimate).
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


def summarise(ratings: pd.DataFrame) -> dict:
    """Ratings (columns system, i2m, melody, noise) → {system: {scale: {"mos", "ci95", "n"}}}.

    Every system of SYSTEMS and every scale appears, with n = 0 and null MOS when it has no ratings,
    so the file has the same keys before and after a study (what `dvc metrics diff` compares).
    """
    summary: dict = {}
    for system in SYSTEMS:
        rows = ratings[ratings["system"] == system]
        summary[system] = {}
        for column, _ in SCALES:
            mos, ci95 = mos_ci(rows[column].to_numpy())
            summary[system][column] = {"mos": _round(mos), "ci95": _round(ci95), "n": int(len(rows))}
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def table(summary: dict) -> pd.DataFrame:
    """summarise()'s result → one row per (system, scale): label, system, scale, mos, ci95_low, ci95_high, n."""
    rows = []
    for system, scales in summary.items():
        for column, name in SCALES:
            cell = scales[column]
            mos, half = cell["mos"], cell["ci95"]
            rows.append(
                {
                    "label": f"{system} {name}",
                    "system": system,
                    "scale": name,
                    "mos": mos,
                    "ci95_low": None if half is None else round(mos - half, 6),
                    "ci95_high": None if half is None else round(mos + half, 6),
                    "n": cell["n"],
                }
            )
    return pd.DataFrame(rows, columns=["label", "system", "scale", "mos", "ci95_low", "ci95_high", "n"])


def figure_png(summary: dict) -> bytes:
    """Grouped bars: MOS per scale (groups) and system (bars), 95% CI as error bars; PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.5), dpi=100)
    width = 0.8 / len(SYSTEMS)
    total = 0
    for k, system in enumerate(SYSTEMS):
        cells = [summary[system][column] for column, _ in SCALES]
        total += cells[0]["n"]
        heights = [c["mos"] if c["mos"] is not None else 0.0 for c in cells]
        errors = [c["ci95"] if c["ci95"] is not None else 0.0 for c in cells]
        x = np.arange(len(SCALES)) + (k - (len(SYSTEMS) - 1) / 2) * width
        ax.bar(x, heights, width, yerr=errors, capsize=3, label=f"{system} (n={cells[0]['n']})")
    ax.set_xticks(np.arange(len(SCALES)), [f"{name}-MOS" for _, name in SCALES])
    ax.set_ylim(0, 5.5)
    ax.set_ylabel("MOS (1–5), 95% CI")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(SYSTEMS), frameon=False)
    if total == 0:
        ax.text(1.0, 2.5, "no ratings yet", ha="center", va="center", fontsize=14, color="gray")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
