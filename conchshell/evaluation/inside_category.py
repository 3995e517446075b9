"""Inside a category: following, diversity and novelty of a split's pieces (issue 22), for metrics/eval.json.

`InsideCategory.on_piece` sees each picture's three pieces while `evaluate_split` runs (as the music scores
do); `scores` then gives flat keys for three sets, each measure's trust (the real paired pieces) beside it:

    <split>.following.<link>          generated pieces        (conchshell/evaluation/following.py)
    <split>.real.following.<link>     real paired pieces: the measure's trust
    <split>.ceiling.following.<link>  VQ-VAE reconstructions: the ceiling
    <split>{,.real,.ceiling}.diversity.<score>  (conchshell/evaluation/diversity.py)

Pictures sharing a piece count once in the diversity scores (by picture id order, first kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from conchshell.evaluation.diversity import diversity
from conchshell.evaluation.following import following, measured
from conchshell.evaluation.music.split import PieceNotes

SETS = {"generated": "", "real": "real.", "ceiling": "ceiling."}  # set → key infix
NOTES_OF = {"generated": "generated", "real": "ground_truth", "ceiling": "reconstruction"}


@dataclass
class InsideCategory:
    """The pieces of one split, by picture id: generated, real (ground truth) and reconstruction, mono [T] each."""

    split: str
    ids: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    waves: dict[str, list[np.ndarray]] = field(default_factory=lambda: {name: [] for name in SETS})

    def on_piece(self, id: str, category: str, ground_truth, generated, reconstruction) -> None:
        """`evaluate_split`'s per-picture callback."""
        self.ids.append(id)
        self.categories.append(category)
        for name, wave in zip(("real", "generated", "ceiling"), (ground_truth, generated, reconstruction)):
            self.waves[name].append(np.asarray(wave, np.float32))

    def following(self, manifest: pd.DataFrame, notes: dict[str, PieceNotes], seconds: float):
        """({flat key: ρ}, per-category rows) of the three sets; needs the manifest's attribute columns."""
        rows = manifest.set_index("id").loc[self.ids]
        attributes = {"brightness": rows["brightness"].to_numpy(), "objects": rows["objects"].to_numpy()}
        flat, table = {}, {}
        for name, infix in SETS.items():
            measures = [measured(getattr(notes[i], NOTES_OF[name]), seconds) for i in self.ids]
            means, per = following(self.categories, attributes, measures)
            for link, rho in means.items():
                flat[f"{self.split}.{infix}following.{link}"] = rho
                for category, value in per[link].items():
                    table.setdefault(category, {"category": category})[f"{name}.{link}"] = value
        return flat, list(table.values())

    def diversity(self, clips: list[str], train: list[np.ndarray], sample_rate: int) -> dict[str, float]:
        """Flat keys of every set's diversity scores; `clips` [N] names each picture's real piece."""
        first = [clips.index(c) for c in dict.fromkeys(clips)]  # one picture per real piece
        sets = {name: [waves[i] for i in first] for name, waves in self.waves.items()}
        scores = diversity(sets, [self.categories[i] for i in first], train, sample_rate)
        return {
            f"{self.split}.{SETS[name]}diversity.{key}": value
            for name, values in scores.items()
            for key, value in values.items()
        }
