"""Following: does each picture's piece follow what the picture shows, inside its category (issue 22)?

Per picture, its attributes come from the manifest (`brightness`, `objects`: conchshell/data/manifest.py) and a
piece's measured values from its transcription (conchshell/evaluation/music/transcription.py):
- **pitch centre** = the median MIDI pitch of the transcribed notes (the median shrugs off octave errors);
- **notes per second** = the number of transcribed notes / the piece's seconds.

A link's **following ρ** is the mean over categories of `scipy.stats.spearmanr(attribute, measure)` computed
inside each category (ranks are never compared across categories, whose keys and tempi differ). A category
with fewer than 3 pictures or a constant attribute is left out; a measure constant inside a category (a G
that gives every picture the same piece) counts ρ = 0: it follows nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from conchshell.evaluation.music.metrics import Notes

LINKS = {"brightness_pitch": ("brightness", "pitch_centre"), "objects_density": ("objects", "notes_per_second")}


def measured(notes: Notes, seconds: float) -> dict[str, float]:
    """{pitch_centre, notes_per_second} of a transcription (pitch centre NaN without notes)."""
    centre = float(np.median(notes.pitch)) if len(notes) else math.nan
    return {"pitch_centre": centre, "notes_per_second": len(notes) / seconds}


def category_rho(attribute: Sequence[float], measure: Sequence[float]) -> float:
    """Spearman ρ of one category's pictures; NaN when undefined (< 3 pictures, constant attribute), 0 when
    the measure is constant (or NaN somewhere: a silent piece ranks nowhere)."""
    x, y = np.asarray(attribute, np.float64), np.asarray(measure, np.float64)
    if len(x) < 3 or np.ptp(x) == 0:
        return math.nan
    if not np.isfinite(y).all() or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def within_category_rho(
    categories: Sequence[str], attribute: Sequence[float], measure: Sequence[float]
) -> tuple[float, dict[str, float]]:
    """(mean over categories of `category_rho`, {category: ρ}) for parallel lists of N pictures."""
    cats = np.asarray(categories)
    x, y = np.asarray(attribute, np.float64), np.asarray(measure, np.float64)
    per = {str(c): category_rho(x[cats == c], y[cats == c]) for c in sorted(set(cats.tolist()))}
    kept = [r for r in per.values() if math.isfinite(r)]
    return (float(np.mean(kept)) if kept else math.nan), per


def following(
    categories: Sequence[str], attributes: dict[str, Sequence[float]], measures: Sequence[dict[str, float]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Every link's ρ for N pictures: `attributes` {brightness, objects: [N]}, `measures` [N] of `measured`
    → ({link: ρ}, {link: {category: ρ}})."""
    means, per = {}, {}
    for link, (attribute, measure) in LINKS.items():
        means[link], per[link] = within_category_rho(categories, attributes[attribute], [m[measure] for m in measures])
    return means, per
