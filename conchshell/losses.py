"""The ConchShell objective (paper eq. 1–6, DESIGN.md "Losses").

D: hinge over the 3 scales. G: adversarial + feature matching + L1 wave + L1 log-mel, where the wave and
mel terms decode G's latent through the *straight-through* quantiser and the frozen Jukebox decoder of
that level, so they send gradients into G (the authors' released code decodes under no_grad after an
argmin, so those terms carry none).

`profile="released-code"` reproduces the authors' objective instead: adversarial ×1, FM ×3,
latent-L1 ×5 (G's latent against the encoder's), code-L1 ×8 (G's nearest-code indices against the real
codes, no gradient, as an argmin gives none), wave ×40 and mel ×15 computed without gradient.

D's outputs are `Discriminator.forward`'s: per scale, the list of every layer's map (last = score).
Wave and mel terms may use a random hop-aligned window of the latent and the matching audio
(`window_frames`), as segment-trained vocoders do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

Maps = list[list[torch.Tensor]]  # per scale, every layer's map [B, C_j, N_j]

PROFILES = ("paper", "released-code")


# -- adversarial terms -----------------------------------------------------------------------------
def discriminator_hinge(real: Maps, fake: Maps) -> torch.Tensor:
    """Σ_k E[max(0, 1 − D_k(real))] + E[max(0, 1 + D_k(fake))] (scores are each scale's last map)."""
    loss = real[0][-1].new_zeros(())
    for real_maps, fake_maps in zip(real, fake):
        loss = loss + F.relu(1.0 - real_maps[-1]).mean() + F.relu(1.0 + fake_maps[-1]).mean()
    return loss


def generator_adversarial(fake: Maps) -> torch.Tensor:
    """Σ_k E[−D_k(fake)]."""
    loss = fake[0][-1].new_zeros(())
    for maps in fake:
        loss = loss - maps[-1].mean()
    return loss


def feature_matching(real: Maps, fake: Maps) -> torch.Tensor:
    """Σ_k Σ_j w · L1(D_k^j(fake), D_k^j(real)) over every map but the score; w = 4 / (n_layers + 1) / scales.

    `n_layers` is the number of strided layers (every map minus first conv, k5 conv and score); the
    real maps are treated as constants.
    """
    scales = len(fake)
    loss = fake[0][0].new_zeros(())
    for real_maps, fake_maps in zip(real, fake):
        n_layers = len(fake_maps) - 3
        weight = 4.0 / (n_layers + 1) / scales
        for r, f in zip(real_maps[:-1], fake_maps[:-1]):
            loss = loss + weight * F.l1_loss(f, r.detach())
    return loss


# -- audio terms -------------------------------------------------------------------------------------
class LogMel(nn.Module):
    """log(mel + 1e-5) of a wave: [B, T] → [B, n_mels, frames] (torchaudio, 128 mels, n_fft 1024, hop 256)."""

    def __init__(self, sample_rate: int = 16000, n_mels: int = 128, n_fft: int = 1024, hop_length: int = 256):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=1.0
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(wave.float()) + 1e-5)


def window_frames(seconds: float | None, samples_per_frame: float, frames: int, audio_rate: int) -> int:
    """Latent frames in a loss window of `seconds` (None → the whole latent), at least 1, at most `frames`."""
    if seconds is None:
        return frames
    return max(1, min(frames, int(round(seconds * audio_rate / samples_per_frame))))


def random_window(
    frames: int, length: int, samples_per_frame: float, generator: torch.Generator | None = None
) -> tuple[int, int, int]:
    """A hop-aligned window: (first latent frame, first audio sample, audio samples) for `length` frames."""
    start = int(torch.randint(0, frames - length + 1, (1,), generator=generator)) if length < frames else 0
    return start, int(round(start * samples_per_frame)), int(round(length * samples_per_frame))


@dataclass(frozen=True)
class LossWeights:
    """Every λ of the G objective (paper defaults; the released-code profile adds latent and code)."""

    adv: float = 0.5
    fm: float = 3.0
    wave: float = 40.0
    mel: float = 15.0
    latent: float = 5.0
    code: float = 8.0


class ConchShellLoss(nn.Module):
    """Both players' losses for one level, around a frozen `JukeboxCodec`.

    `discriminator_loss(D, real [B,64,T], fake [B,64,T])` and `generator_loss(D, real, fake, audio [B,N],
    codes long [B,T], generator)` → (total, {term: detached value}). `window_seconds` None = whole clip.
    """

    def __init__(
        self,
        codec: nn.Module,
        level: int,
        weights: LossWeights = LossWeights(),
        profile: str = "paper",
        window_seconds: float | None = None,
    ):
        super().__init__()
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        self.codec = codec
        for p in self.codec.parameters():
            p.requires_grad_(False)
        self.level = int(level)
        self.weights = weights
        self.profile = profile
        self.window_seconds = window_seconds
        self.log_mel = LogMel(codec.audio_rate)

    @staticmethod
    def _d_both(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[Maps, Maps]:
        """One D pass over real and fake stacked on the batch (a single forward, as DDP prefers)."""
        maps = discriminator(torch.cat([real, fake], dim=0))
        b = real.shape[0]
        return [[m[:b] for m in scale] for scale in maps], [[m[b:] for m in scale] for scale in maps]

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Hinge loss of D; `fake` is detached here."""
        real_maps, fake_maps = self._d_both(discriminator, real, fake.detach())
        loss = discriminator_hinge(real_maps, fake_maps)
        return loss, {"d_hinge": loss.detach()}

    def audio_terms(
        self, fake: torch.Tensor, audio: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(wave L1, log-mel L1, G's codes long [B,T]) of Dec(q(fake)) against `audio` [B, N].

        Paper profile: q is straight-through and the decoder is differentiable, so both terms send
        gradients into `fake`. Released-code profile: decoded without gradient (as the authors do).
        """
        spf = self.codec.samples_per_frame(self.level)
        frames = fake.shape[-1]
        length = window_frames(self.window_seconds, spf, frames, self.codec.audio_rate)
        start, a0, n = random_window(frames, length, spf, generator)
        target = audio[:, a0 : a0 + n]
        target = F.pad(target, (0, n - target.shape[-1]))
        with torch.set_grad_enabled(self.profile == "paper" and torch.is_grad_enabled()):
            z_q, codes = self.codec.quantise(fake.float(), self.level, straight_through=True)
            wave = self.codec.decode(z_q[..., start : start + length], self.level, num_samples=n)
            wave_l1 = F.l1_loss(wave, target)
            mel_l1 = F.l1_loss(self.log_mel(wave), self.log_mel(target))
        return wave_l1, mel_l1, codes

    def warmup_loss(
        self, real: torch.Tensor, fake: torch.Tensor, audio: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's warm-up objective, before D joins (as Parallel WaveGAN starts its D late): λ_latent·L1(fake,
        real latent), the released code's latent term, alone. The wave and mel terms are logged (no
        gradient) but not trained on: through the straight-through quantiser they push G's latent ever
        further from the codebook (the codes it snaps to change in jumps; measured on the demo at level
        low: latent L1 2.8 → 3.8 over 800 steps with them, 1.9 → 0.33 without). → (total, {term: value})."""
        latent = F.l1_loss(fake.float(), real.float())
        with torch.no_grad():
            wave_l1, mel_l1, _ = self.audio_terms(fake.detach(), audio, generator)
        total = self.weights.latent * latent
        terms = {"g_latent": latent.detach(), "g_wave": wave_l1, "g_mel": mel_l1, "g_total": total.detach()}
        return total, terms

    def generator_loss(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        audio: torch.Tensor,
        codes: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted G objective of the profile → (total, {term: detached value})."""
        w = self.weights
        real_maps, fake_maps = self._d_both(discriminator, real, fake)
        adv = generator_adversarial(fake_maps)
        fm = feature_matching(real_maps, fake_maps)
        wave_l1, mel_l1, fake_codes = self.audio_terms(fake, audio, generator)
        terms = {"g_adv": adv, "g_fm": fm, "g_wave": wave_l1, "g_mel": mel_l1}
        if self.profile == "paper":
            total = w.adv * adv + w.fm * fm + w.wave * wave_l1 + w.mel * mel_l1
        else:
            terms["g_latent"] = F.l1_loss(fake.float(), real.float())
            terms["g_code"] = (fake_codes.float() - codes.float()).abs().mean()
            total = (
                w.adv * adv
                + w.fm * fm
                + w.latent * terms["g_latent"]
                + w.code * terms["g_code"]
                + w.wave * wave_l1
                + w.mel * mel_l1
            )
        terms = {k: v.detach() for k, v in terms.items()}
        terms["g_total"] = total.detach()
        return total, terms


def is_finite(value: torch.Tensor) -> bool:
    """True when a scalar loss is neither NaN nor ±inf."""
    return bool(torch.isfinite(value).all())
