"""Objective scores of generated pieces against their ground truth (the paper's Table 2 and beyond).

Per picture (reference = the paired ground-truth piece, mono [T] at the audio spec's rate):
- **PESQ** wide band at 16 kHz (ITU-T P.862.2; −0.5 … 4.64, higher is better), narrow band at 8 kHz, via `pesq`;
- **STOI** (0 … 1, higher is better), via `pystoi`;
- **log-mel L1**: mean |log mel(ref) − log mel(gen)| (conchshell.audio.log_mel `METRIC`: 80 mels, n_fft 1024, hop 256; lower is better).
Per split:
- **category agreement**: the judge (`conchshell.evaluation.judge`, trained on the real training pieces) names
  each generated piece's category; the fraction that matches the picture's category;
- **Fréchet distance** between the judge's embeddings of the real and of the generated pieces;
- the **VQ-VAE ceiling**: the same metrics (agreement and Fréchet included) for the Jukebox
  reconstruction of the ground truth at the evaluated level (what the decoder alone allows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import linalg
from torch import nn
from tqdm import tqdm

from conchshell.evaluation.judge import Judge, judge_pieces
from conchshell.evaluation.pair_metrics import PAIR_METRICS, mel_l1, pair_metrics, pesq_score, stoi  # noqa: F401 (re-exported)
from conchshell.evaluation.piece_scores import ScoredPiece, by_category, means
from conchshell.evaluation.report import Sample
from conchshell.inference.pipeline import synthesise


# -- the judge's Fréchet distance -----------------------------------------------------------------
def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to real [N,E] and fake [M,E] embeddings (0 when equal).

    ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^½); a tiny ridge keeps the root of rank-deficient covariances defined.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) < 2 or len(fake) < 2:
        return math.nan
    mu_r, mu_f = real.mean(0), fake.mean(0)
    ridge = 1e-6 * np.eye(real.shape[1])
    cov_r, cov_f = np.cov(real, rowvar=False) + ridge, np.cov(fake, rowvar=False) + ridge
    root = linalg.sqrtm(cov_r @ cov_f)
    root = np.real(root)
    value = float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * root))
    return max(value, 0.0)


# -- split-level aggregation ------------------------------------------------------------------------
@dataclass
class PieceScores(ScoredPiece):
    """A picture's PAIR_METRICS (`ScoredPiece`), and the categories the judge hears in its generated and reconstructed piece."""

    predicted_category: str | None = None
    ceiling_predicted_category: str | None = None


@dataclass
class SplitScores:
    """All pieces of one split plus the split-level judge scores."""

    split: str
    pieces: list[PieceScores] = field(default_factory=list)
    frechet: float = math.nan
    ceiling_frechet: float = math.nan

    def agreement(self, pieces: list[PieceScores] | None = None, ceiling: bool = False) -> float:
        """Share of `pieces` (default: all) whose generated (or, with `ceiling`, reconstructed) piece the
        judge puts in the picture's category."""
        pieces = self.pieces if pieces is None else pieces
        if not pieces:
            return math.nan
        verdicts = [p.ceiling_predicted_category if ceiling else p.predicted_category for p in pieces]
        return float(np.mean([v == p.category for v, p in zip(verdicts, pieces)]))

    def flat(self) -> dict[str, float]:
        """Flat keys for metrics/eval.json: `<split>.pesq`, …, `<split>.ceiling.pesq`, …"""
        out = means(self.pieces, PAIR_METRICS, f"{self.split}.")
        out[f"{self.split}.category_agreement"] = self.agreement()
        out[f"{self.split}.frechet"] = self.frechet
        out.update(means(self.pieces, PAIR_METRICS, f"{self.split}.ceiling.", ceiling=True))
        out[f"{self.split}.ceiling.category_agreement"] = self.agreement(ceiling=True)
        out[f"{self.split}.ceiling.frechet"] = self.ceiling_frechet
        out[f"{self.split}.pieces"] = len(self.pieces)
        return out

    def per_category(self) -> list[dict]:
        """One row per category: agreement and the mean per-piece metrics (plots/eval_per_category.csv)."""
        return [
            {
                "split": self.split,
                "category": category,
                "agreement": self.agreement(group),
                "ceiling_agreement": self.agreement(group, ceiling=True),
                "pieces": len(group),
                **means(group, PAIR_METRICS),
            }
            for category, group in by_category(self.pieces)
        ]


def finite_or_none(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON-safe metrics: NaN / inf → None (JSON has no NaN; dvc shows `-`)."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in metrics.items()}


# -- evaluating a split -------------------------------------------------------------------------------
@torch.inference_mode()
def evaluate_split(
    split: str,
    dataset,
    generator: nn.Module,
    codec,
    level: str,
    judge: Judge,
    categories: list[str],
    batch_size: int = 4,
    keep: int = 0,
    progress: bool = True,
    on_piece=None,
) -> tuple[SplitScores, list[Sample]]:
    """Generate every picture's piece of a PairDataset-like `dataset` and score it (see the module doc).

    `dataset[i]` gives {"id", "piece", "st" [C_st,T'], "label" (TCNN-predicted), "true_label", "codes" [T_L],
    "audio" [T]}. Returns the scores and the waves of the first `keep` pictures (one per category first).
    `on_piece(id, category, ground_truth [T], generated [T], reconstruction [T])`, when given, sees every picture
    (the music metrics: conchshell/evaluation/music/split.py).
    """
    scores = SplitScores(split)
    real, fake, recon_embeds, samples = {}, [], [], {}
    ceilings: dict[str, dict[str, float]] = {}  # by piece: the pictures of one piece share its reconstruction
    wanted = _sample_order(dataset, keep)
    for start in tqdm(range(0, len(dataset), batch_size), desc=f"evaluate {split}", disable=not progress):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        st = torch.stack([it["st"] for it in items])
        label = torch.stack([it["label"] for it in items])
        truth = torch.stack([it["audio"] for it in items])
        generated = synthesise(generator, codec, level, st, label, truth.shape[-1])
        recon = codec.decode_codes(torch.stack([it["codes"] for it in items]), level, truth.shape[-1])
        pred, embed = judge_pieces(judge, generated.numpy())
        pred_recon, embed_recon = judge_pieces(judge, recon.numpy())
        _, embed_real = judge_pieces(judge, truth.numpy())
        for k, it in enumerate(items):
            gen_k, rec_k, ref_k = generated[k].numpy(), recon[k].numpy(), truth[k].numpy()
            category = categories[int(it["true_label"])]
            if it["piece"] not in ceilings:
                ceilings[it["piece"]] = pair_metrics(ref_k, rec_k, codec.spec.rate)
            piece = PieceScores(
                it["id"],
                category,
                pair_metrics(ref_k, gen_k, codec.spec.rate),
                ceilings[it["piece"]],
                categories[int(pred[k])],
                categories[int(pred_recon[k])],
            )
            scores.pieces.append(piece)
            if on_piece is not None:
                on_piece(it["id"], category, ref_k, gen_k, rec_k)
            real.setdefault(_wave_key(ref_k), embed_real[k].numpy())
            fake.append(embed[k].numpy())
            recon_embeds.append(embed_recon[k].numpy())
            if start + k in wanted:
                samples[start + k] = Sample(it["id"], category, piece.predicted_category, None, gen_k, ref_k, rec_k)
    real_embeds = np.stack(list(real.values())) if real else np.zeros((0, 1))
    if fake:
        scores.frechet = frechet_distance(real_embeds, np.stack(fake))
        scores.ceiling_frechet = frechet_distance(real_embeds, np.stack(recon_embeds))
    return scores, [samples[i] for i in wanted]


def _sample_order(dataset, keep: int) -> list[int]:
    """Indices of the pictures to keep as samples: one per category first (manifest order), then the rest."""
    if keep <= 0:
        return []
    labels = [_true_label(dataset, i) for i in range(len(dataset))]
    first = [labels.index(c) for c in sorted(set(labels), key=labels.index)]
    rest = [i for i in range(len(dataset)) if i not in first]
    return (first + rest)[:keep]


def _true_label(dataset, index: int) -> int:
    items = getattr(dataset, "items", None)
    return int(items[index][1]) if items is not None else int(dataset[index]["true_label"])


def _wave_key(wave: np.ndarray) -> bytes:
    """Identifies a ground-truth clip (several pictures share one) so it counts once among the real pieces."""
    return wave[:: max(1, len(wave) // 4096)].tobytes()
