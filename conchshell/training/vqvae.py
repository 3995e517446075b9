"""Training of the demo VQ-VAE, as Jukebox trains its own: all levels at once, each level's encoder →
EMA codebook (dead codes restarted) → decoder, on random audio segments.

Loss per level: l1 · L1(x, x̂) + spectral · multi-resolution STFT loss(x, x̂) + mel · multi-resolution
log-mel L1(x, x̂) + loudness · L1 of the log-RMS envelopes + commit · ‖z − q(z)‖² (straight-through
quantisation); codebooks are updated by EMA k-means, not by gradients. AdamW. The log-mel term weighs the low bands that carry pitch as much as the
many high ones, so the upper levels learn to keep the notes, not only the loudness envelope.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from conchshell.audio.log_mel import MelSettings, log_mel
from conchshell.config import VQVAEConfig
from conchshell.evaluation.pair_metrics import mel_l1, stoi
from conchshell.models.jukebox.vqvae import VQVAE

#: (n_fft, hop) of the spectral loss resolutions (window = n_fft, Hann).
STFT_RESOLUTIONS = ((1024, 256), (512, 128), (256, 64), (128, 32))


def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """x [B, T] → magnitude [B, n_fft/2+1, frames]."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop, n_fft, window, return_complex=True)
    return spec.abs()


def spectral_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss between waveforms [B, T, 1] (mean over the resolutions whose n_fft
    fits in T of L1 on magnitudes + L1 on log magnitudes)."""
    x, y = x.squeeze(-1), y.squeeze(-1)
    resolutions = [r for r in STFT_RESOLUTIONS if r[0] <= x.shape[-1]] or [STFT_RESOLUTIONS[-1]]
    total = x.new_zeros(())
    for n_fft, hop in resolutions:
        mx, my = stft_magnitude(x, n_fft, hop), stft_magnitude(y, n_fft, hop)
        total = total + (mx - my).abs().mean() + (torch.log(mx + 1e-5) - torch.log(my + 1e-5)).abs().mean()
    return total / len(resolutions)


#: The log-mel loss resolutions (conchshell.audio.log_mel).
MEL_RESOLUTIONS = (MelSettings(128, 2048, 512), MelSettings(64, 1024, 256), MelSettings(32, 512, 128))


def mel_loss(x: torch.Tensor, y: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Multi-resolution log-mel L1 between waveforms [B, T, 1] (resolutions whose n_fft fits in T)."""
    x, y = x.squeeze(-1), y.squeeze(-1)
    resolutions = [r for r in MEL_RESOLUTIONS if r.n_fft <= x.shape[-1]] or [MEL_RESOLUTIONS[-1]]
    total = x.new_zeros(())
    for settings in resolutions:
        total = total + (log_mel(x, sample_rate, settings) - log_mel(y, sample_rate, settings)).abs().mean()
    return total / len(resolutions)


LOUDNESS_FRAME = 256  # samples per frame of the loudness envelope (16 ms at 16 kHz)


def loudness_loss(x: torch.Tensor, y: torch.Tensor, frame: int = LOUDNESS_FRAME) -> torch.Tensor:
    """L1 between the log-RMS envelopes (`frame`-sample frames) of waveforms [B, T, 1]: keeps the level,
    which the L1 and linear-magnitude terms pull down where the decoder is unsure of the phase."""

    def log_rms(w: torch.Tensor) -> torch.Tensor:
        return 0.5 * w.squeeze(-1).unfold(-1, frame, frame).pow(2).mean(-1).add(1e-8).log()

    return (log_rms(x) - log_rms(y)).abs().mean()


def random_segments(waves: np.ndarray, batch_size: int, length: int, rng: np.random.Generator) -> torch.Tensor:
    """`batch_size` random windows of `length` samples from waves [N, T] → float32 [B, length, 1]."""
    rows = rng.integers(0, len(waves), batch_size)
    starts = rng.integers(0, waves.shape[1] - length + 1, batch_size)
    batch = np.stack([waves[r, s : s + length] for r, s in zip(rows, starts)])
    return torch.from_numpy(batch.astype(np.float32)).unsqueeze(-1)


def level_losses(
    model: VQVAE, x: torch.Tensor, level: int, update_codebook: bool, sample_rate: int
) -> dict[str, torch.Tensor]:
    """Losses of one level on x [B, T, 1]: l1, spectral, mel, loudness, commit; plus codes [B, T_L] and recon [B, T, 1]."""
    block = model.bottleneck.level_blocks[level]
    z = model.latent(x, level)
    if update_codebook and not block.initialised:
        block.init_k(z.detach())
    z_q, codes = block.quantise(z, straight_through=True)
    commit = F.mse_loss(z, z_q.detach())
    if update_codebook:
        block.update_k(z.detach(), codes)
    recon = model.decode_latent(z_q, level)
    return {
        "l1": (recon - x).abs().mean(),
        "spectral": spectral_loss(x, recon),
        "mel": mel_loss(x, recon, sample_rate),
        "loudness": loudness_loss(x, recon),
        "commit": commit,
        "codes": codes,
        "recon": recon,
    }


@torch.inference_mode()
def evaluate_vqvae(model: VQVAE, waves: np.ndarray, sample_rate: int, batch_size: int = 2) -> dict[str, float]:
    """Per-level scores of the reconstructions of whole clips waves [N, T]: the decoder's ceilings.

    recon_l1_L, spectral_L (the training terms), mel_l1_L and stoi_L (`conchshell.evaluation.pair_metrics`, as the
    evaluation scores generated pieces), rms_ratio_L (RMS of the reconstructions / RMS of the clips: 1 = loudness kept)
    and codebook_usage_L (share of the codes used).
    """
    was_training = model.training
    model.eval()
    top = model.hop_lengths[-1]
    length = waves.shape[1] // top * top
    names = ("recon_l1", "spectral", "mel_l1", "stoi")
    sums = {f"{name}_{L}": 0.0 for name in names for L in range(model.levels)}
    power = {L: 0.0 for L in range(model.levels)}
    used = [set() for _ in range(model.levels)]
    for start in range(0, len(waves), batch_size):
        clips = waves[start : start + batch_size, :length].astype(np.float32)
        x = torch.from_numpy(clips).unsqueeze(-1)
        for L in range(model.levels):
            out = level_losses(model, x, L, update_codebook=False, sample_rate=sample_rate)
            recon = out["recon"].squeeze(-1).numpy()
            sums[f"recon_l1_{L}"] += float(out["l1"]) * len(x)
            sums[f"spectral_{L}"] += float(out["spectral"]) * len(x)
            sums[f"mel_l1_{L}"] += sum(mel_l1(c, r, sample_rate) for c, r in zip(clips, recon))
            sums[f"stoi_{L}"] += sum(stoi(c, r, sample_rate) for c, r in zip(clips, recon))
            power[L] += float((recon.astype(np.float64) ** 2).mean(axis=1).sum())
            used[L].update(out["codes"].unique().tolist())
    metrics = {k: v / len(waves) for k, v in sums.items()}
    clip_rms = float(np.sqrt((waves[:, :length].astype(np.float64) ** 2).mean()))
    for L in range(model.levels):
        metrics[f"rms_ratio_{L}"] = float(np.sqrt(power[L] / len(waves))) / max(clip_rms, 1e-12)
        metrics[f"codebook_usage_{L}"] = len(used[L]) / model.l_bins
    model.train(was_training)
    return metrics


def train_vqvae(
    model: VQVAE,
    waves: np.ndarray,
    vq: VQVAEConfig,
    *,
    seed: int,
    eval_waves: np.ndarray | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train every level of `model` on random segments of waves [N, T] at `vq.sample_rate`; return flat metrics.

    `vq` is params.yaml's vqvae section: steps, batch_size, lr, lr_schedule (cosine decays lr to 0 over the
    steps), segment_seconds (rounded down to a multiple of the top hop) and the loss weights l1, spectral, mel,
    loudness, commit. Metrics: first/final training loss (mean over the first/last tenth of the steps) and
    the per-level ceilings of `evaluate_vqvae` on `eval_waves` (default: the training clips). No timings: metrics are hashed by DVC, so they hold
    only what the same inputs reproduce bit for bit.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    top, steps, rate = model.hop_lengths[-1], vq.steps, vq.sample_rate
    segment_samples = int(round(vq.segment_seconds * rate))
    length = max(top, min(segment_samples, waves.shape[1]) // top * top)
    optimiser = torch.optim.AdamW(model.parameters(), lr=vq.lr)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1))
        if vq.lr_schedule == "cosine"
        else torch.optim.lr_scheduler.LambdaLR(optimiser, lambda _: 1.0)
    )
    model.train()
    losses: list[float] = []
    bar = tqdm(range(steps), desc="vqvae", disable=not progress, dynamic_ncols=True)
    for _ in bar:
        x = random_segments(waves, vq.batch_size, length, rng)
        loss = x.new_zeros(())
        for L in range(model.levels):
            out = level_losses(model, x, L, update_codebook=True, sample_rate=rate)
            loss = loss + vq.l1 * out["l1"] + vq.spectral * out["spectral"] + vq.mel * out["mel"]
            loss = loss + vq.commit * out["commit"] + vq.loudness * out["loudness"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    tenth = max(1, len(losses) // 10)
    metrics = {
        "steps": steps,
        "loss_first": float(np.mean(losses[:tenth])) if losses else float("nan"),
        "loss_final": float(np.mean(losses[-tenth:])) if losses else float("nan"),
    }
    metrics.update(evaluate_vqvae(model, waves if eval_waves is None else eval_waves, rate))
    return metrics
