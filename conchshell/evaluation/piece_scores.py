"""One picture's scores beside the VQ-VAE's ceiling, and a split's means of them: the shape shared by the
signal scores (`conchshell.evaluation.scores.PieceScores`) and the music scores (`conchshell.evaluation.music.metrics.MusicPiece`).

    ScoredPiece.generated  {metric: value}   the generated piece against the picture's ground-truth piece
    ScoredPiece.ceiling    {metric: value}   the VQ-VAE reconstruction of the ground truth against it
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class ScoredPiece:
    """Scores of one picture's piece: generated vs ground truth, and the reconstruction vs ground truth."""

    id: str
    category: str
    generated: dict[str, float]
    ceiling: dict[str, float]


def finite_mean(values: Iterable[float | None]) -> float:
    """Mean of the finite values (None, NaN and inf left out); NaN when there are none."""
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else math.nan


def means(
    pieces: Sequence[ScoredPiece], metrics: Iterable[str], prefix: str = "", ceiling: bool = False
) -> dict[str, float]:
    """{prefix + metric: the finite mean over `pieces` of their generated (or `ceiling`) scores}."""
    return {f"{prefix}{k}": finite_mean((p.ceiling if ceiling else p.generated)[k] for p in pieces) for k in metrics}


def by_category(pieces: Sequence[ScoredPiece]) -> list[tuple[str, list]]:
    """[(category, its pieces)] in sorted category order."""
    return [(c, [p for p in pieces if p.category == c]) for c in sorted({p.category for p in pieces})]
