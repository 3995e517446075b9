"""The ConchShell objective: hinge, adversarial and FM on hand-made maps; real gradients through the decoder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import tiny_codec  # noqa: E402

from conchshell.audio.log_mel import LOSS, LogMel
from conchshell.config import from_dict
from conchshell.models.discriminator import Discriminator, discriminator_config
from conchshell.models.generator import Generator, generator_config
from conchshell.training.gan import make_loss
from conchshell.training.losses import (
    TERMS,
    Step,
    check_terms,
    discriminator_hinge,
    feature_matching,
    generator_adversarial,
    random_window,
    weighted_sum,
    window_frames,
)


def maps(score: float, feature: float, scales: int = 3, layers: int = 7) -> list[list[torch.Tensor]]:
    """Hand-made D output: every feature map filled with `feature`, every score with `score`."""
    return [[torch.full((2, 4, 5), feature)] * (layers - 1) + [torch.full((2, 1, 5), score)] for _ in range(scales)]


def test_hinge_on_hand_made_scores():
    # real scores 2 → max(0, 1 − 2) = 0; fake −0.5 → max(0, 1 − 0.5) = 0.5; 3 scales
    assert discriminator_hinge(maps(2.0, 0), maps(-0.5, 0)).item() == pytest.approx(1.5)
    # real 0 → 1, fake 0 → 1 per scale
    assert discriminator_hinge(maps(0.0, 0), maps(0.0, 0)).item() == pytest.approx(6.0)


def test_adversarial_is_minus_mean_fake_score():
    assert generator_adversarial(maps(0.25, 0)).item() == pytest.approx(-0.75)


def test_feature_matching_weights():
    # 6 feature maps per scale differ by 2; weight 4/(4+1)/3 each → 3 scales × 6 × 2 × 4/15 = 9.6
    assert feature_matching(maps(0, 1.0), maps(5.0, 3.0)).item() == pytest.approx(9.6)
    assert feature_matching(maps(0, 1.0), maps(5.0, 1.0)).item() == 0.0


def test_window_is_hop_aligned():
    assert window_frames(None, 128, 63, 16000) == 63
    assert window_frames(0.1, 128, 63, 16000) == 12
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        start, a0, n = random_window(63, 12, 128.0, g)
        assert 0 <= start <= 51 and a0 == start * 128 and n == 12 * 128


def _setup(profile: str, window: float | None, **gan):
    torch.manual_seed(0)
    codec = tiny_codec()
    frames = codec.frames(2, 4096)
    g = Generator(**generator_config("high", frames, "demo", 0.02, in_channels=2048, st_frames=3))
    d = Discriminator(**discriminator_config("demo", 0.125))
    audio = 0.3 * torch.randn(2, 4096)
    real = codec.latents(audio)[2]
    codes = codec.encode(audio)[2]
    loss = make_loss(codec, 2, from_dict({"gan": {"profile": profile, **gan}}).gan, window)
    fake = g(torch.randn(2, 2048, 3), torch.tensor([0, 1]))
    return g, d, loss, real, fake, audio, codes


@pytest.mark.parametrize("window", [None, 0.05])
def test_mel_term_sends_gradient_into_g(window):
    """The mel term is L1(logmel(Dec(nearest codes)), logmel(audio)) over the window, and G's gradient is
    J_Gᵀ · ∂mel/∂z_q: the straight-through quantiser passes the decoder's gradient unchanged."""
    g, _, loss, _, fake, audio, _ = _setup("paper", window)
    params = list(g.parameters())
    wave_l1, mel_l1, _ = loss.audio_terms(fake, audio, torch.Generator().manual_seed(5))
    got = torch.autograd.grad(mel_l1, params, retain_graph=True)
    # by hand: the same window, the nearest codes as a leaf, the decoder, the log-mel L1
    codec, frames = loss.codec, fake.shape[-1]
    spf = codec.samples_per_frame(2)
    length = window_frames(window, spf, frames, codec.spec.rate)
    start, a0, n = random_window(frames, length, spf, torch.Generator().manual_seed(5))
    z_q = codec.quantise(fake.detach(), 2, straight_through=False)[0][..., start : start + length].requires_grad_()
    to_mel = LogMel.of(codec.spec.rate, LOSS)
    expected = F.l1_loss(to_mel(codec.decode(z_q, 2, num_samples=n)), to_mel(audio[:, a0 : a0 + n]))
    assert mel_l1.item() == pytest.approx(expected.item(), rel=1e-5)
    (dz,) = torch.autograd.grad(expected, z_q)
    upstream = torch.zeros_like(fake)
    upstream[..., start : start + length] = dz
    want = torch.autograd.grad(fake, params, upstream)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    assert sum(w.abs().sum().item() for w in want) > 0 and wave_l1.requires_grad


def test_released_code_profile_has_no_decoder_gradient():
    g, d, loss, real, fake, audio, codes = _setup("released-code", None)
    wave_l1, mel_l1, _ = loss.audio_terms(fake, audio)
    assert not wave_l1.requires_grad and not mel_l1.requires_grad
    total, terms = loss.generator_loss(d, real, fake, audio, codes)
    assert {"g_latent", "g_code", "g_wave", "g_mel", "g_adv", "g_fm"} <= set(terms)
    w = loss.lambdas
    expected = sum(w[k] * terms[f"g_{k}"] for k in ("adv", "fm", "latent", "code", "wave", "mel"))
    assert total.item() == pytest.approx(float(expected), rel=1e-5)


def test_paper_total_uses_the_lambdas():
    _, d, loss, real, fake, audio, codes = _setup("paper", None)
    total, terms = loss.generator_loss(d, real, fake, audio, codes)
    expected = 0.5 * terms["g_adv"] + 3 * terms["g_fm"] + 40 * terms["g_wave"] + 15 * terms["g_mel"]
    assert total.item() == pytest.approx(float(expected), rel=1e-5)
    d_loss, _ = loss.discriminator_loss(d, real, fake)
    d_loss.backward()
    assert all(p.grad is not None for p in d.parameters())


def test_a_new_term_is_one_function_and_one_lambda(monkeypatch):
    """A term registered in TERMS and named in the λ's enters the total and the logs; one left out is not computed."""
    _, d, _, real, fake, audio, codes = _setup("paper", None)
    monkeypatch.setitem(TERMS, "energy", lambda step: step.fake.float().pow(2).mean())
    cfg = from_dict({"gan": {"lambdas": {"adv": 0.5, "energy": 2.0}}}).gan
    loss = make_loss(tiny_codec(), 2, cfg, None)
    total, terms = loss.generator_loss(d, real, fake, audio, codes)
    assert set(terms) == {"g_adv", "g_energy", "g_total"}
    expected = 0.5 * terms["g_adv"] + 2.0 * fake.detach().pow(2).mean()
    assert total.item() == pytest.approx(float(expected), rel=1e-6)


def test_weighted_sum_and_unknown_terms():
    terms = {"adv": torch.tensor(2.0), "mel": torch.tensor(3.0)}
    assert weighted_sum({"adv": 0.5, "mel": 10.0, "fm": 99.0}, terms).item() == pytest.approx(31.0)
    with pytest.raises(ValueError, match="'melody' is not a loss term"):
        check_terms({"melody": 1.0})


def test_unknown_lambda_is_a_one_line_params_error():
    from conchshell.errors import ConchError

    cfg = from_dict({"gan": {"profile": "released-code", "released_code": {"lambdas": {"advv": 1.0}}}}).gan
    with pytest.raises(ConchError, match=r"gan\.released_code\.lambdas: 'advv' is not a loss term"):
        make_loss(tiny_codec(), 2, cfg, None)


def test_warmup_loss_is_the_warmup_lambdas_sum():
    _, _, loss, real, fake, audio, _ = _setup("paper", None, warmup_lambdas={"latent": 5.0, "wave": 40.0, "mel": 15.0})
    total, terms = loss.warmup_loss(real, fake, audio)
    assert set(terms) == {"g_latent", "g_wave", "g_mel", "g_total"}
    expected = 5 * terms["g_latent"] + 40 * terms["g_wave"] + 15 * terms["g_mel"]
    assert total.item() == pytest.approx(float(expected), rel=1e-5)
    assert Step(loss, real, fake, audio).decoded[0].requires_grad


def test_default_warmup_is_the_latent_term_alone():
    _, _, loss, real, fake, audio, _ = _setup("paper", None)
    total, terms = loss.warmup_loss(real, fake, audio)
    assert set(terms) == {"g_latent", "g_total"}
    assert total.item() == pytest.approx(5 * float(terms["g_latent"]), rel=1e-6)
