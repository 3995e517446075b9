"""Diversity and novelty of a set of pieces (issue 22), on log-mel spectrograms (conchshell.audio.log_mel `METRIC`).

For N pieces of one set (generated, real paired, or VQ-VAE reconstructions), mono [T] each, with categories,
and M training pieces:
- **spread** = the mean over categories of the mean log-mel L1 distance between two pieces of the category;
  **spread_ratio** = spread(set) / spread(real pieces) (1 for the real pieces themselves);
- **distinct_nearest** = the number of distinct training pieces nearest (log-mel L1) to the N pieces, / N;
- **max_correlation** = the largest Pearson correlation of two different pieces' waveforms (zero lag);
- **novelty** = mean distance to the nearest training piece / the reconstructions' mean distance (the ceiling's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from conchshell.audio.log_mel import METRIC, log_mel


def features(waves: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """Mono waves [T] (equal lengths) → log-mel spectrograms flattened, [N, 80·frames]."""
    if not len(waves):
        return np.zeros((0, 0), np.float32)
    batch = torch.from_numpy(np.stack([np.asarray(w, np.float32) for w in waves]))
    return log_mel(batch, sample_rate, METRIC).reshape(len(waves), -1).numpy()


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference between every row of a [N, F] and of b [M, F] → [N, M]."""
    return np.stack([np.abs(row[None, :] - b).mean(axis=1) for row in a]) if len(a) else np.zeros((0, len(b)))


def spread(feats: np.ndarray, categories: Sequence[str]) -> float:
    """Mean over categories of the mean pairwise distance between the category's pieces [N, F] (NaN: no pairs)."""
    cats = np.asarray(categories)
    values = []
    for c in sorted(set(cats.tolist())):
        group = feats[cats == c]
        if len(group) >= 2:
            d = distances(group, group)
            values.append(float(d[np.triu_indices(len(group), 1)].mean()))
    return float(np.mean(values)) if values else math.nan


def nearest(feats: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each piece's nearest training piece: (index [N], distance [N])."""
    d = distances(feats, train)
    index = d.argmin(axis=1)
    return index, d[np.arange(len(feats)), index]


def max_correlation(waves: Sequence[np.ndarray]) -> float:
    """Largest Pearson correlation between two different waves [T] (NaN for fewer than 2)."""
    if len(waves) < 2:
        return math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(np.stack([np.asarray(w, np.float64) for w in waves]))
    r = np.nan_to_num(r, nan=0.0)  # a silent piece correlates with nothing
    return float(r[np.triu_indices(len(waves), 1)].max())


def diversity(
    sets: dict[str, Sequence[np.ndarray]], categories: Sequence[str], train: Sequence[np.ndarray], sample_rate: int
) -> dict[str, dict[str, float]]:
    """Scores of each set of N pieces, `sets` {"generated", "real", "ceiling": [N] waves}; `train` the M training
    pieces → {set: {spread, spread_ratio, distinct_nearest, max_correlation, nearest_distance, novelty}}."""
    train_feats = features(train, sample_rate)
    feats = {name: features(waves, sample_rate) for name, waves in sets.items()}
    near = {name: nearest(f, train_feats) for name, f in feats.items()}
    real_spread = spread(feats["real"], categories)
    ceiling_distance = float(near["ceiling"][1].mean())
    out = {}
    for name, waves in sets.items():
        index, distance = near[name]
        own = spread(feats[name], categories)
        out[name] = {
            "spread": own,
            "spread_ratio": own / real_spread if real_spread > 0 else math.nan,
            "distinct_nearest": len(set(index.tolist())) / len(index) if len(index) else math.nan,
            "max_correlation": max_correlation(waves),
            "nearest_distance": float(distance.mean()),
            "novelty": float(distance.mean()) / ceiling_distance if ceiling_distance > 0 else math.nan,
        }
    return out
