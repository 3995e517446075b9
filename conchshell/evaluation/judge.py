"""The evaluation's judge: a music-category classifier that hears a piece's key and tempo.

Every category-level score (category agreement, Fréchet distance, their VQ-VAE ceilings) is the
judge's verdict, so the judge must first recognise the *real* pieces: its held-out accuracy is
reported beside the scores it makes (`judge.val_accuracy` in metrics/eval.json).

Features of one piece, 16 kHz mono [T] → [F = 12 + 24] (librosa, `music_features`):

- **key**: the mean 12-bin chroma (STFT, n_fft 4096, hop 512), normalised to sum 1;
- **tempo**: the mean autocorrelation tempogram of the onset strength, summed into 24 log-spaced
  bins from 40 to 240 bpm and normalised.

Classifier: standardise (train statistics) → Linear(F → E) → ReLU (the embedding, the Fréchet space)
→ Linear(E → C), fitted on the training pieces and on random crops of them (a crop keeps key and
tempo, and teaches the judge not to depend on where a piece starts), half of them `distort`ed.

A hand-made feature front end rather than a CNN on log-mels: on ~50 training pieces a CNN learns
which piece it heard, not why (the old CNN judge recognised 0.44 of real val pieces). The notes and
the rhythm are what a decoder must keep; the spectral balance and the band-wise spread over time
(register and texture as timbre) are what a decoder changes even when it keeps every note: decoding
a val piece moved its mel-spread features by 1.4 standard deviations (of the real pieces) and its
chroma by 0.4, and a judge that also read them named the category of the *same* reconstructions
right 0.56–1.00 of the time depending only on its seed (chroma + tempo: 1.00 at every seed, and
1.00 on the real val pieces either way). In the demo every category has its own key and its own
tempo (`conchshell.data.demo.STYLES`), so these two facts identify it.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

N_FFT, HOP = 4096, 512
TEMPO_BINS = np.geomspace(40.0, 240.0, 25)  # bpm edges of the 24 tempo bins


def music_features(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """One piece [T] → float32 [12 + 24]: mean chroma (sums to 1), tempo histogram (sums to 1)."""
    y = np.nan_to_num(np.asarray(wave, np.float32).reshape(-1))
    if not np.any(y):
        y = y + 1e-6  # silence: features of a flat spectrum, not NaN
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, n_fft=N_FFT, tuning=0.0).mean(axis=1)
    chroma = chroma / (chroma.sum() + 1e-9)
    return np.concatenate([chroma, tempo_histogram(y, sample_rate)]).astype(np.float32)


def tempo_histogram(y: np.ndarray, sample_rate: int, hop: int = 256) -> np.ndarray:
    """Mean onset-autocorrelation tempogram of y [T] in 24 log-spaced bpm bins (sums to 1) → [24]."""
    onset = librosa.onset.onset_strength(y=y, sr=sample_rate, hop_length=hop)
    gram = librosa.feature.tempogram(onset_envelope=onset, sr=sample_rate, hop_length=hop, win_length=256)
    profile = np.clip(gram.mean(axis=1), 0.0, None)
    bpm = librosa.tempo_frequencies(gram.shape[0], sr=sample_rate, hop_length=hop)
    index = np.digitize(bpm, TEMPO_BINS) - 1
    keep = (index >= 0) & (index < len(TEMPO_BINS) - 1)
    hist = np.bincount(index[keep], weights=profile[keep], minlength=len(TEMPO_BINS) - 1)
    return hist / (hist.sum() + 1e-9)


def random_crops(
    wave: np.ndarray, count: int, rng: np.random.Generator, sample_rate: int, min_fraction: float = 0.5
) -> list[np.ndarray]:
    """`count` random windows of wave [T] (`min_fraction`…1 of its length) at a random gain; every
    second one also `distort`ed, so the verdict rests on the music, not on how cleanly it is rendered."""
    crops = []
    for k in range(count):
        length = int(len(wave) * rng.uniform(min_fraction, 1.0))
        start = int(rng.integers(0, len(wave) - length + 1))
        crop = wave[start : start + length] * rng.uniform(0.3, 1.0)
        crops.append(distort(crop, rng, sample_rate) if k % 2 else crop.astype(np.float32))
    return crops


def distort(wave: np.ndarray, rng: np.random.Generator, sample_rate: int, snr_db: tuple = (5.0, 40.0)) -> np.ndarray:
    """What a lossy decoder does to a piece [T], drawn at random: a short smearing reverb (decaying noise,
    time constant 20–120 ms, 0–60 % wet), a spectral tilt (one-pole filter) and white noise at `snr_db`."""
    x = torch.from_numpy(np.asarray(wave, np.float32))
    tau = rng.uniform(0.02, 0.12) * sample_rate
    t = np.arange(int(4 * tau))
    tail = torch.from_numpy((rng.normal(size=len(t)) * np.exp(-t / tau)).astype(np.float32))
    wet = torchaudio.functional.fftconvolve(x, tail / tail.norm())[: len(x)]
    x = x + rng.uniform(0.0, 0.6) * wet * (x.norm() / (wet.norm() + 1e-9))
    a = rng.uniform(-0.6, 0.6)  # > 0 dulls, < 0 brightens
    x = torchaudio.functional.lfilter(
        x.unsqueeze(0), torch.tensor([1.0, -a]), torch.tensor([1.0 - abs(a), 0.0]), clamp=False
    )[0]
    rms = float(x.pow(2).mean().sqrt()) + 1e-9
    noise = rng.normal(0.0, rms * 10 ** (-rng.uniform(*snr_db) / 20), len(x))
    return (x.numpy() + noise).astype(np.float32)


class Judge(nn.Module):
    """features [B, F] → logits [B, C]; `embed` gives [B, E]. Standardisation is held as buffers."""

    def __init__(self, num_features: int, num_classes: int, sample_rate: int, embed_dim: int = 16):
        super().__init__()
        self.sample_rate = sample_rate
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))
        self.project = nn.Sequential(nn.Linear(num_features, embed_dim), nn.ReLU())
        self.head = nn.Linear(embed_dim, num_classes)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return self.project((features - self.mean) / self.std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(features))


def features_of(waves, sample_rate: int) -> torch.Tensor:
    """Pieces [N, T] (array, tensor or list of [T]) → features [N, F]."""
    return torch.from_numpy(np.stack([music_features(np.asarray(w), sample_rate) for w in waves]))


def train_judge(
    waves,
    labels,
    num_classes: int,
    sample_rate: int,
    *,
    crops: int = 8,
    epochs: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> Judge:
    """Fit a Judge on real pieces waves [N, T] with categories labels [N]; returned in eval mode.

    Trains on every whole piece plus `crops` random crops of each (full-batch Adam, `epochs` steps).
    """
    rng = np.random.default_rng(seed)
    labels = torch.as_tensor(labels, dtype=torch.long)
    pieces, targets = [], []
    for wave, label in zip(waves, labels.tolist()):
        wave = np.asarray(wave, np.float32)
        for piece in [wave, *random_crops(wave, crops, rng, sample_rate)]:
            pieces.append(piece)
            targets.append(label)
    x = features_of(pieces, sample_rate)
    y = torch.tensor(targets)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        judge = Judge(x.shape[1], num_classes, sample_rate=sample_rate)
    judge.mean.copy_(x.mean(0))
    judge.std.copy_(x.std(0) + 1e-3)
    optimiser = torch.optim.Adam(judge.parameters(), lr=lr, weight_decay=weight_decay)
    judge.train()
    for _ in range(epochs):
        loss = F.cross_entropy(judge(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return judge.eval()


@torch.inference_mode()
def judge_pieces(judge: Judge, waves) -> tuple[torch.Tensor, torch.Tensor]:
    """Pieces [N, T] → (predicted category long [N], embeddings [N, E])."""
    features = features_of(waves, judge.sample_rate)
    embedding = judge.embed(features)
    return judge.head(embedding).argmax(-1), embedding


def accuracy(judge: Judge, waves, labels) -> float:
    """Share of pieces waves [N, T] that the judge puts in their category labels [N] (NaN for none)."""
    if len(waves) == 0:
        return float("nan")
    predicted, _ = judge_pieces(judge, waves)
    return float((predicted == torch.as_tensor(labels)).float().mean())
