"""The ConchShell objective (paper eq. 1–6, DESIGN.md "Losses").

D: hinge over the 3 scales. G: adversarial + feature matching + L1 wave + L1 log-mel, where the wave and
mel terms decode G's latent through the *straight-through* quantiser and the frozen Jukebox decoder of
that level, so they send gradients into G (the authors' released code decodes under no_grad after an
argmin, so those terms carry none).

G's objective is one weighted sum, total = Σ λ[k]·term[k], over the λ's of params.yaml (`gan.lambdas`, keyed
by the term names of `TERMS`, logged as `g_<name>`), DAC-style. Adding a term is one `@term("name")`
function here plus its λ in params.yaml. The released-code profile (`gan.released_code`) is the authors'
objective: adversarial ×1, FM ×3, latent-L1 ×5 (G's latent against the encoder's), code-L1 ×8 (G's
nearest-code indices against the real codes, no gradient, as an argmin gives none), wave ×40 and mel ×15
computed without gradient (`decoder_grad: false`).

D's outputs are `Discriminator.forward`'s: per scale, the list of every layer's map (last = score).
Wave and mel terms may use a random hop-aligned window of the latent and the matching audio
(`window_frames`), as segment-trained vocoders do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from conchshell.audio.log_mel import LOSS, LogMel

Maps = list[list[torch.Tensor]]  # per scale, every layer's map [B, C_j, N_j]


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
def window_frames(seconds: float | None, samples_per_frame: float, frames: int, rate: int) -> int:
    """Latent frames in a loss window of `seconds` (None → the whole latent), at least 1, at most `frames`."""
    if seconds is None:
        return frames
    return max(1, min(frames, int(round(seconds * rate / samples_per_frame))))


def random_window(
    frames: int, length: int, samples_per_frame: float, rng: torch.Generator | None = None
) -> tuple[int, int, int]:
    """A hop-aligned window: (first latent frame, first audio sample, audio samples) for `length` frames."""
    start = int(torch.randint(0, frames - length + 1, (1,), generator=rng)) if length < frames else 0
    return start, int(round(start * samples_per_frame)), int(round(length * samples_per_frame))


# -- G's terms -----------------------------------------------------------------------------------------
class Step:
    """What G's terms read in one step, each shared piece computed once, when a term first asks for it.

    real, fake: latents [B,64,T]; audio [B,N]; codes long [B,T] (the real codes); `maps` = D's (real, fake)
    maps; `decoded` = (Dec(q(fake)) window [B,n], the matching audio window [B,n], G's codes long [B,T]).
    """

    def __init__(self, loss: ConchShellLoss, real, fake, audio, codes=None, discriminator=None, rng=None):
        self.loss, self.real, self.fake, self.audio, self.codes = loss, real, fake, audio, codes
        self.discriminator, self.rng = discriminator, rng
        self._maps = self._decoded = None

    @property
    def maps(self) -> tuple[Maps, Maps]:
        if self._maps is None:
            self._maps = self.loss._d_both(self.discriminator, self.real, self.fake)
        return self._maps

    @property
    def decoded(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._decoded is None:
            self._decoded = self.loss.decode_window(self.fake, self.audio, self.rng)
        return self._decoded

    def audio_grad(self):
        """Grad mode of the decoded terms: on only when the objective sends gradients through the decoder."""
        return torch.set_grad_enabled(self.loss.decoder_grad and torch.is_grad_enabled())


#: G's loss terms by name: λ's in params.yaml (`gan.lambdas`) use these names, the logs call them `g_<name>`.
TERMS: dict[str, Callable[[Step], torch.Tensor]] = {}


def term(name: str):
    """Register a G term `fn(step: Step) -> scalar` under `name` (adding a term: this, plus its λ in params.yaml)."""

    def register(fn: Callable[[Step], torch.Tensor]) -> Callable[[Step], torch.Tensor]:
        TERMS[name] = fn
        return fn

    return register


@term("adv")
def adv_term(step: Step) -> torch.Tensor:
    """Σ_k E[−D_k(fake)] (eq. 2)."""
    return generator_adversarial(step.maps[1])


@term("fm")
def fm_term(step: Step) -> torch.Tensor:
    """Feature matching between D's maps of real and fake (eq. 3)."""
    return feature_matching(*step.maps)


@term("wave")
def wave_term(step: Step) -> torch.Tensor:
    """L1 between Dec(q(fake)) and the audio, over the loss window (eq. 4)."""
    wave, target, _ = step.decoded
    with step.audio_grad():
        return F.l1_loss(wave, target)


@term("mel")
def mel_term(step: Step) -> torch.Tensor:
    """L1 between the log-mels of Dec(q(fake)) and of the audio, over the loss window (eq. 5)."""
    wave, target, _ = step.decoded
    with step.audio_grad():
        return F.l1_loss(step.loss.log_mel(wave), step.loss.log_mel(target))


@term("latent")
def latent_term(step: Step) -> torch.Tensor:
    """L1 between G's latent and the encoder's (the released code's)."""
    return F.l1_loss(step.fake.float(), step.real.float())


@term("code")
def code_term(step: Step) -> torch.Tensor:
    """Mean |G's nearest-code index − the real code index| (the released code's; no gradient, as an argmin)."""
    return (step.decoded[2].float() - step.codes.float()).abs().mean()


#: The terms that read D's maps.
D_TERMS = ("adv", "fm")


def weighted_sum(lambdas: dict[str, float], terms: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ λ[k]·terms[k] over the terms given, in their order (DAC's weighted sum of named losses)."""
    total = None
    for name, value in terms.items():
        total = lambdas[name] * value if total is None else total + lambdas[name] * value
    return total


def check_terms(lambdas: dict[str, float], where: str = "lambdas") -> None:
    """ValueError naming the first λ that names no term of `TERMS`."""
    unknown = [name for name in lambdas if name not in TERMS]
    if unknown:
        raise ValueError(f"{where}: {unknown[0]!r} is not a loss term; terms: {', '.join(TERMS)}")


class ConchShellLoss(nn.Module):
    """Both players' losses for one level, around a frozen `JukeboxCodec`.

    `lambdas` {term: λ} is G's objective Σ λ[k]·term[k] (a term left out is not computed); `warmup_lambdas`
    the warm-up's; `decoder_grad` False decodes the wave and mel terms without gradient (the released code).
    `discriminator_loss(D, real [B,64,T], fake [B,64,T])` and `generator_loss(D, real, fake, audio [B,N],
    codes long [B,T], rng)` → (total, {g_<term>: detached value}). `window_seconds` None = whole clip.
    """

    def __init__(
        self,
        codec: nn.Module,
        level: str,
        lambdas: dict[str, float],
        warmup_lambdas: dict[str, float] | None = None,
        decoder_grad: bool = True,
        window_seconds: float | None = None,
    ):
        super().__init__()
        check_terms(lambdas)
        check_terms(warmup_lambdas or {}, "warmup_lambdas")
        self.codec = codec
        for p in self.codec.parameters():
            p.requires_grad_(False)
        self.level = level  # a level name (the codec maps it to its index)
        self.lambdas = dict(lambdas)
        self.warmup_lambdas = dict(warmup_lambdas or {})
        self.decoder_grad = bool(decoder_grad)
        self.window_seconds = window_seconds
        self.log_mel = LogMel.of(codec.spec.rate, LOSS)

    @property
    def uses_discriminator(self) -> bool:
        """Whether G's objective reads D (an adversarial or feature-matching term): else D is not trained."""
        return any(name in self.lambdas for name in D_TERMS)

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

    def decode_window(
        self, fake: torch.Tensor, audio: torch.Tensor, rng: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(Dec(q(fake)) over a random loss window [B,n], the audio's window [B,n], G's codes long [B,T]).

        q is straight-through and the decoder differentiable, so gradients reach `fake` unless
        `decoder_grad` is off (then decoded without gradient, as the authors do).
        """
        spf = self.codec.samples_per_frame(self.level)
        frames = fake.shape[-1]
        length = window_frames(self.window_seconds, spf, frames, self.codec.spec.rate)
        start, a0, n = random_window(frames, length, spf, rng)
        target = audio[:, a0 : a0 + n]
        target = F.pad(target, (0, n - target.shape[-1]))
        with torch.set_grad_enabled(self.decoder_grad and torch.is_grad_enabled()):
            z_q, codes = self.codec.quantise(fake.float(), self.level, straight_through=True)
            wave = self.codec.decode(z_q[..., start : start + length], self.level, num_samples=n)
        return wave, target, codes

    def audio_terms(
        self, fake: torch.Tensor, audio: torch.Tensor, rng: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(wave L1, log-mel L1, G's codes long [B,T]) of Dec(q(fake)) against `audio` [B, N]."""
        step = Step(self, None, fake, audio, rng=rng)
        return wave_term(step), mel_term(step), step.decoded[2]

    def terms(self, lambdas: dict[str, float], step: Step) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Σ λ[k]·term[k] over `lambdas` on `step` → (total, {g_<term>: detached value, g_total})."""
        values = {name: TERMS[name](step) for name in lambdas}
        total = weighted_sum(lambdas, values)
        logged = {f"g_{name}": value.detach() for name, value in values.items()}
        logged["g_total"] = total.detach()
        return total, logged

    def warmup_loss(
        self, real: torch.Tensor, fake: torch.Tensor, audio: torch.Tensor, rng: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's warm-up objective: the terms of `warmup_lambdas` without D (as Parallel WaveGAN starts its D
        late); the demo's is λ_latent·L1(fake, real latent) alone. The wave and mel terms, through the
        straight-through quantiser, push G's latent ever further from the codebook (the codes it snaps to
        change in jumps; measured on the demo at level low: latent L1 2.8 → 3.8 over 800 steps with them,
        1.9 → 0.33 without). → (total, terms)."""
        return self.terms(self.warmup_lambdas, Step(self, real, fake, audio, rng=rng))

    def generator_loss(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        audio: torch.Tensor,
        codes: torch.Tensor,
        rng: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's objective Σ λ[k]·term[k] over `lambdas` → (total, {g_<term>: detached value, g_total})."""
        return self.terms(self.lambdas, Step(self, real, fake, audio, codes, discriminator, rng))


def is_finite(value: torch.Tensor) -> bool:
    """True when a scalar loss is neither NaN nor ±inf."""
    return bool(torch.isfinite(value).all())
