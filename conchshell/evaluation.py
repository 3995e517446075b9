"""Objective scores of generated pieces against their ground truth (the paper's Table 2 and beyond).

Per picture (reference = the paired ground-truth piece, 16 kHz mono [T]):
- **PESQ** wide-band (ITU-T P.862.2, 16 kHz; −0.5 … 4.64, higher is better), via `pesq`;
- **STOI** (0 … 1, higher is better), via `pystoi`;
- **log-mel L1**: mean |log mel(ref) − log mel(gen)| over an 80-band mel spectrogram (lower is better).
Per split:
- **category agreement**: an audio classifier (`AudioClassifier`, trained here on the real training
  pieces) predicts each generated piece's category; the fraction that matches the picture's category;
- **Fréchet distance** between the classifier's embeddings of the real and of the generated pieces;
- the **VQ-VAE ceiling**: the same per-piece metrics for the Jukebox reconstruction of the ground truth at
  the evaluated level (what the decoder alone allows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from scipy import linalg
from torch import nn
from tqdm import tqdm

from conchshell.generate import synthesise

SAMPLE_RATE = 16000
PAIR_METRICS = ("pesq", "stoi", "mel_l1")


# -- per-piece metrics --------------------------------------------------------------------------
def pesq_wb(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Wide-band PESQ of `degraded` [T] against `reference` [T] (both 16 kHz); NaN when PESQ finds no speech-like activity."""
    from pesq import NoUtterancesError, PesqError, pesq

    if sample_rate != 16000:
        raise ValueError(f"wide-band PESQ needs 16 kHz audio, got {sample_rate} Hz")
    ref, deg = _pair(reference, degraded)
    try:
        return float(pesq(sample_rate, ref, deg, "wb"))
    except (NoUtterancesError, PesqError):
        return math.nan


def stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """STOI of `degraded` [T] against `reference` [T] (0 … 1)."""
    from pystoi import stoi as _stoi

    ref, deg = _pair(reference, degraded)
    return float(_stoi(ref, deg, sample_rate, extended=False))


_MEL: dict[int, torchaudio.transforms.MelSpectrogram] = {}


def log_mel(wave: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """wave [..., T] → log mel spectrogram [..., 80, frames] (n_fft 1024, hop 256, floor 1e-5)."""
    if sample_rate not in _MEL:
        _MEL[sample_rate] = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=1024, hop_length=256, n_mels=80, f_min=0.0, f_max=sample_rate / 2, power=1.0
        )
    mel = _MEL[sample_rate].to(wave.device)
    return torch.log(torch.clamp(mel(wave.float()), min=1e-5))


def mel_l1(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Mean absolute difference of the log mel spectrograms of `reference` [T] and `degraded` [T]."""
    ref, deg = _pair(reference, degraded)
    a, b = log_mel(torch.from_numpy(ref), sample_rate), log_mel(torch.from_numpy(deg), sample_rate)
    return float((a - b).abs().mean())


def pair_metrics(reference: np.ndarray, degraded: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """{pesq, stoi, mel_l1} of one piece."""
    return {
        "pesq": pesq_wb(reference, degraded, sample_rate),
        "stoi": stoi(reference, degraded, sample_rate),
        "mel_l1": mel_l1(reference, degraded, sample_rate),
    }


def _pair(reference: np.ndarray, degraded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two mono float [T] arrays cut to the same length, as float64 / float32 contiguous arrays."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    deg = np.asarray(degraded, dtype=np.float64).reshape(-1)
    n = min(len(ref), len(deg))
    deg = np.nan_to_num(deg[:n], nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(ref[:n], np.float32), np.ascontiguousarray(deg, np.float32)


# -- the audio category classifier ----------------------------------------------------------------
class AudioClassifier(nn.Module):
    """Log-mel CNN: `forward(wave [B,T]) -> logits [B,C]`, `embed(wave [B,T]) -> [B,E]` (its Fréchet space).

    log mel [B,1,80,F] → 4 × (Conv3×3, BatchNorm, ReLU, MaxPool 2) with 16/32/64/64 channels → mean over
    frequency and time → Linear(64 → E) → ReLU (the embedding) → Linear(E → C).
    """

    def __init__(self, num_classes: int, embed_dim: int = 32, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        self.sample_rate = sample_rate
        layers, c_in = [], 1
        for c_out in (16, 32, 64, 64):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Linear(c_in, embed_dim), nn.ReLU())
        self.head = nn.Linear(embed_dim, num_classes)

    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        """wave [B,T] → embedding [B,E]."""
        mel = log_mel(wave, self.sample_rate)
        mel = (mel - mel.mean(dim=(-2, -1), keepdim=True)) / (mel.std(dim=(-2, -1), keepdim=True) + 1e-5)
        return self.project(self.features(mel.unsqueeze(1)).mean(dim=(-2, -1)))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(wave))


def train_audio_classifier(
    waves: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    epochs: int = 30,
    batch_size: int = 8,
    lr: float = 2e-3,
    seed: int = 0,
    crop_seconds: float = 2.0,
    progress: bool = True,
) -> AudioClassifier:
    """Fit an AudioClassifier on real pieces waves [N,T] with categories labels long [N]; returns it in eval mode.

    Each step sees a random `crop_seconds` window of every piece (circularly shifted) at a random gain:
    the category must not hinge on where the piece starts or how loud it is, and short windows keep
    training cheap. The embedding is a mean over time, so the classifier then reads whole pieces.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AudioClassifier(num_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in tqdm(range(epochs), desc="audio classifier", disable=not progress):
        order = torch.randperm(len(waves), generator=generator)
        for start in range(0, len(waves), batch_size):
            index = order[start : start + batch_size]
            if len(index) < 2:  # BatchNorm needs two pieces
                continue
            x = _augment(waves[index], generator, int(crop_seconds * model.sample_rate))
            loss = F.cross_entropy(model(x), labels[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


def _augment(waves: torch.Tensor, generator: torch.Generator, crop: int) -> torch.Tensor:
    """waves [B,T] → a random circular window of `crop` samples of each, at a random gain: [B, crop]."""
    shifts = torch.randint(0, waves.shape[-1], (len(waves),), generator=generator).tolist()
    gains = 0.5 + torch.rand(len(waves), 1, generator=generator)
    return torch.stack([torch.roll(w, -s)[:crop] for w, s in zip(waves, shifts)]) * gains


@torch.inference_mode()
def classify(model: AudioClassifier, waves: torch.Tensor, batch_size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """waves [N,T] → (predicted category long [N], embeddings [N,E])."""
    preds, embeds = [], []
    for start in range(0, len(waves), batch_size):
        e = model.embed(waves[start : start + batch_size].float())
        preds.append(model.head(e).argmax(-1))
        embeds.append(e)
    return torch.cat(preds), torch.cat(embeds)


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
class PieceScores:
    """Scores of one picture's piece: generated vs ground truth, and the VQ-VAE reconstruction vs ground truth."""

    id: str
    category: str
    generated: dict[str, float]
    ceiling: dict[str, float]
    predicted_category: str | None = None


@dataclass
class SplitScores:
    """All pieces of one split plus the split-level classifier scores."""

    split: str
    pieces: list[PieceScores] = field(default_factory=list)
    frechet: float = math.nan
    ceiling_frechet: float = math.nan

    def agreement(self, pieces: list[PieceScores] | None = None) -> float:
        pieces = self.pieces if pieces is None else pieces
        if not pieces:
            return math.nan
        return float(np.mean([p.predicted_category == p.category for p in pieces]))

    def flat(self) -> dict[str, float]:
        """Flat keys for metrics/eval.json: `<split>.pesq`, …, `<split>.ceiling.pesq`, …"""
        out = {f"{self.split}.{k}": _mean(p.generated[k] for p in self.pieces) for k in PAIR_METRICS}
        out[f"{self.split}.category_agreement"] = self.agreement()
        out[f"{self.split}.frechet"] = self.frechet
        out.update({f"{self.split}.ceiling.{k}": _mean(p.ceiling[k] for p in self.pieces) for k in PAIR_METRICS})
        out[f"{self.split}.ceiling.frechet"] = self.ceiling_frechet
        out[f"{self.split}.pieces"] = len(self.pieces)
        return out

    def per_category(self) -> list[dict]:
        """One row per category: agreement and the mean per-piece metrics (plots/eval_per_category.csv)."""
        rows = []
        for category in sorted({p.category for p in self.pieces}):
            group = [p for p in self.pieces if p.category == category]
            row = {"split": self.split, "category": category, "agreement": self.agreement(group), "pieces": len(group)}
            row.update({k: _mean(p.generated[k] for p in group) for k in PAIR_METRICS})
            rows.append(row)
        return rows


def _mean(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def finite_or_none(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON-safe metrics: NaN / inf → None (JSON has no NaN; dvc shows `-`)."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in metrics.items()}


# -- evaluating a split -------------------------------------------------------------------------------
@dataclass
class Sample:
    """Waves of one picture kept for samples/ and the report: generated, ground truth, reconstruction [T]."""

    id: str
    category: str
    predicted_category: str
    generated: np.ndarray
    ground_truth: np.ndarray
    reconstruction: np.ndarray


@torch.inference_mode()
def evaluate_split(
    split: str,
    dataset,
    generator: nn.Module,
    codec,
    level: int,
    classifier: AudioClassifier,
    categories: list[str],
    batch_size: int = 4,
    keep: int = 0,
    progress: bool = True,
    on_piece=None,
) -> tuple[SplitScores, list[Sample]]:
    """Generate every picture's piece of a PairDataset-like `dataset` and score it (see the module doc).

    `dataset[i]` gives {"id", "st" [2048,T'], "label" (TCNN-predicted), "true_label", "codes" [T_L],
    "audio" [T]}. Returns the scores and the waves of the first `keep` pictures (one per category first).
    `on_piece(id, category, ground_truth [T], generated [T], reconstruction [T])`, when given, sees every picture
    (the music metrics: conchshell/music_evaluation.py).
    """
    scores = SplitScores(split)
    real, fake, recon_embeds, samples = {}, [], [], {}
    wanted = _sample_order(dataset, keep)
    for start in tqdm(range(0, len(dataset), batch_size), desc=f"evaluate {split}", disable=not progress):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        st = torch.stack([it["st"] for it in items])
        label = torch.stack([it["label"] for it in items])
        truth = torch.stack([it["audio"] for it in items])
        generated = synthesise(generator, codec, level, st, label, truth.shape[-1])
        recon = codec.decode_codes(torch.stack([it["codes"] for it in items]), level, truth.shape[-1])
        pred, embed = classify(classifier, generated)
        _, embed_recon = classify(classifier, recon)
        _, embed_real = classify(classifier, truth)
        for k, it in enumerate(items):
            gen_k, rec_k, ref_k = generated[k].numpy(), recon[k].numpy(), truth[k].numpy()
            category = categories[int(it["true_label"])]
            piece = PieceScores(
                it["id"], category, pair_metrics(ref_k, gen_k), pair_metrics(ref_k, rec_k), categories[int(pred[k])]
            )
            scores.pieces.append(piece)
            if on_piece is not None:
                on_piece(it["id"], category, ref_k, gen_k, rec_k)
            real.setdefault(_wave_key(ref_k), embed_real[k].numpy())
            fake.append(embed[k].numpy())
            recon_embeds.append(embed_recon[k].numpy())
            if start + k in wanted:
                samples[start + k] = Sample(it["id"], category, piece.predicted_category, gen_k, ref_k, rec_k)
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
