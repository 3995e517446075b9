"""Jukebox VQ-VAE: official state-dict layout, parity with the official code, checkpoint I/O, codec, training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conchshell.artifacts import jukebox as checkpoint
from conchshell.artifacts.jukebox import load_vqvae, save_vqvae
from conchshell.audio.spec import AudioSpec
from conchshell.config import VQVAEConfig
from conchshell.errors import ConchError
from conchshell.models.jukebox import VQVAE, JukeboxCodec, preset_hps
from conchshell.models.jukebox.presets import merge_hps
from conchshell.models.jukebox.resnet import dilations
from conchshell.training.vqvae import train_vqvae

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
STATE_5B = REFERENCE / "jukebox_vqvae_5b_state.json"
PARITY_A = REFERENCE / "jukebox_vqvae_parity_a.pt"


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"reference fixture {path} is absent (it lives in ../shared/reference)")
    return path


def tiny_hps(**over) -> dict:
    """The demo architecture at toy size (fast on CPU)."""
    hps = preset_hps("demo", width=4, depth=1, l_bins=16, sr=16000)
    hps.update(over)
    return hps


@pytest.fixture(scope="module")
def parity_a() -> dict:
    return torch.load(need(PARITY_A), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def parity_model(parity_a) -> VQVAE:
    model = VQVAE(merge_hps(preset_hps("jukebox-5b"), parity_a["hps"]))
    model.load_state_dict(parity_a["state_dict"], strict=True)
    return model.eval()


# -- official layout --------------------------------------------------------------------------------
def test_5b_state_dict_matches_official_names_shapes_dtypes_and_order():
    reference = json.loads(need(STATE_5B).read_text())
    state = VQVAE(preset_hps("jukebox-5b")).state_dict()
    ours = [[name, list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in state.items()]
    assert ours == reference["params"]
    assert sum(t.numel() for t in state.values()) == reference["total_params"]


def test_5b_preset_hop_lengths():
    assert VQVAE(preset_hps("jukebox-5b")).hop_lengths == [8, 32, 128]


def test_decoder_dilations_are_reversed():
    assert dilations(4, 3, None, reverse=False) == [1, 3, 9, 27]
    assert dilations(4, 3, None, reverse=True) == [27, 9, 3, 1]
    assert dilations(4, 3, 2, reverse=False) == [1, 3, 1, 3]


# -- parity with the official implementation (fixture A) ---------------------------------------------
@pytest.mark.slow
def test_parity_a_codes_equal_and_waves_within_1e4(parity_a, parity_model):
    with torch.inference_mode():
        codes = parity_model.encode(parity_a["input"])
        for level in range(3):
            assert codes[level].dtype == torch.int64
            assert torch.equal(codes[level], parity_a["codes"][level]), f"level {level} codes differ"
            wave = parity_model.decode(parity_a["codes"][level], level)
            assert wave.shape == parity_a["decoded"][level].shape
            assert (wave - parity_a["decoded"][level]).abs().max() <= 1e-4
        full = parity_model.decode(parity_a["codes"], 0)
        assert (full - parity_a["recon_full"]).abs().max() <= 1e-4


def test_parity_a_batch_of_two_gives_the_same_top_codes(parity_a, parity_model):
    x = parity_a["input"]
    batch = torch.cat([x, x.flip(1)])
    with torch.inference_mode():
        z = parity_model.latent(batch, 2)
        _, codes = parity_model.quantise(z, 2, straight_through=False)
    assert torch.equal(codes[:1], parity_a["codes"][2])


# -- checkpoint I/O --------------------------------------------------------------------------------
def test_checkpoint_round_trip_in_official_layout(tmp_path):
    torch.manual_seed(0)
    model = VQVAE(tiny_hps())
    with torch.no_grad():
        for block in model.bottleneck.level_blocks:
            block.k.normal_()
    path = tmp_path / "vqvae.pt"
    save_vqvae(model, path, preset="demo", sample_rate=16000)
    raw = torch.load(path, weights_only=True)
    assert set(raw) >= {"model", "hps", "preset", "sample_rate"}
    assert list(raw["model"]) == list(model.state_dict())
    assert raw["hps"]["l_bins"] == 16 and raw["hps"]["strides_t"] == [2, 2, 2]
    loaded = load_vqvae(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.preset == "demo" and loaded.sample_rate == 16000
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    x = torch.randn(2, 1024, 1) * 0.1
    assert all(torch.equal(a, b) for a, b in zip(model.eval().encode(x), loaded.encode(x)))


def test_official_style_checkpoint_with_module_prefix_loads(tmp_path):
    model = VQVAE(tiny_hps())
    hps = {**model.hps, "downs_t": tuple(model.hps["downs_t"]), "lr": 3e-4}  # extra hps are ignored
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"model": state, "hps": hps, "step": 10}, tmp_path / "vqvae.pth.tar")
    loaded = load_vqvae(tmp_path / "vqvae.pth.tar")
    assert loaded.l_bins == 16 and loaded.sample_rate == 16000


def test_non_checkpoint_file_gives_one_line_error(tmp_path):
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ConchError) as err:
        load_vqvae(junk)
    assert str(junk) in str(err.value) and "\n" not in str(err.value)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "nomodel.pt")
    with pytest.raises(ConchError, match="no `model` state dict"):
        load_vqvae(tmp_path / "nomodel.pt")
    with pytest.raises(ConchError, match="not found"):
        load_vqvae(tmp_path / "absent.pt")


def test_wrong_keys_list_first_missing_and_unexpected(tmp_path):
    state = VQVAE(tiny_hps()).state_dict()
    state["bottleneck.level_blocks.0.codebook"] = state.pop("bottleneck.level_blocks.0.k")
    torch.save({"model": state, "hps": tiny_hps()}, tmp_path / "bad.pt")
    with pytest.raises(ConchError) as err:
        load_vqvae(tmp_path / "bad.pt")
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "bad.pt") in message
    assert "missing (bottleneck.level_blocks.0.k)" in message
    assert "unexpected (bottleneck.level_blocks.0.codebook)" in message


def test_wrong_shape_names_the_entry(tmp_path):
    state = VQVAE(tiny_hps()).state_dict()
    torch.save({"model": state, "hps": tiny_hps(l_bins=32)}, tmp_path / "shape.pt")
    with pytest.raises(ConchError, match=r"bottleneck\.level_blocks\.0\.k has shape \[16, 64\]"):
        load_vqvae(tmp_path / "shape.pt")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"width": 10**7}, r"hps\.width: 10000000 is not an integer 1\.\.4096"),  # the 12 TB file
        ({"l_bins": 2**40}, r"hps\.l_bins: 1099511627776 is not an integer"),
        ({"width": "16"}, r"hps\.width: '16' is not an integer"),
        ({"levels": True}, r"hps\.levels: True is not an integer"),
        ({"downs_t": [3, 2]}, r"hps\.downs_t: \[3, 2\] is not a list of 3 values"),
        ({"hvqvae_multipliers": [1, float("nan"), 1]}, r"hps\.hvqvae_multipliers: .* is not a list of 3 values"),
        ({"depth": 60, "hvqvae_multipliers": [4, 1, 1]}, r"hps: width .* exceed"),
    ],
)
def test_absurd_or_mistyped_hps_stop_before_anything_is_built(tmp_path, monkeypatch, change, message):
    state = VQVAE(tiny_hps()).state_dict()
    torch.save({"model": state, "hps": {**tiny_hps(), **change}}, tmp_path / "absurd.pt")
    monkeypatch.setattr(checkpoint, "VQVAE", no_vqvae)
    with pytest.raises(ConchError, match=message) as err:
        load_vqvae(tmp_path / "absurd.pt")
    assert str(err.value).startswith(str(tmp_path / "absurd.pt")) and "\n" not in str(err.value)


def no_vqvae(*args, **kwargs):
    raise AssertionError("a VQ-VAE was built from unchecked hps")


def test_sane_hps_that_do_not_fit_the_weights_stop_before_memory_is_used(tmp_path, monkeypatch):
    """Within every bound but far bigger than the file's weights: only a `meta` skeleton is ever built."""
    built_on = []

    def recording(hps):
        built_on.append(torch.empty(0).device.type)  # the default device the model is built on
        return VQVAE(hps)

    state = VQVAE(tiny_hps()).state_dict()
    torch.save({"model": state, "hps": {**tiny_hps(), "width": 4096, "depth": 64}}, tmp_path / "big.pt")
    monkeypatch.setattr(checkpoint, "VQVAE", recording)
    with pytest.raises(ConchError, match="state dict does not match the VQ-VAE"):
        load_vqvae(tmp_path / "big.pt")
    assert built_on == ["meta"]


# -- the codec (audio-rate view) ----------------------------------------------------------------------
def test_codec_frames_and_shapes_at_16k():
    codec = JukeboxCodec(VQVAE(tiny_hps(), sample_rate=16000).eval(), AudioSpec(16000, 8.0))
    assert [codec.frames(L, 128000) for L in range(3)] == [16000, 4000, 1000]
    assert [codec.samples_per_frame(L) for L in range(3)] == [8.0, 32.0, 128.0]
    wave = torch.randn(2, 4096) * 0.1
    with torch.inference_mode():
        latents, codes = codec.latents(wave), codec.encode(wave)
        assert [tuple(z.shape) for z in latents] == [(2, 64, 512), (2, 64, 128), (2, 64, 32)]
        assert [tuple(c.shape) for c in codes] == [(2, 512), (2, 128), (2, 32)]
        z_q, c = codec.quantise(latents[2], 2)
        assert torch.equal(c, codes[2]) and z_q.shape == latents[2].shape
        assert codec.decode_codes(codes[1], 1).shape == (2, 4096)
        assert torch.allclose(codec.decode(z_q, 2), codec.decode_codes(codes[2], 2), atol=1e-6)


def test_codec_scales_frames_at_the_native_rate():
    codec = JukeboxCodec(VQVAE(tiny_hps(), sample_rate=44100).eval(), AudioSpec(16000, 8.0))
    assert codec.frames(2, 128000) == 2757 and codec.frames(0, 128000) == 2757 * 16
    assert codec.samples_per_frame(2) == pytest.approx(128 * 16000 / 44100)
    with torch.inference_mode():
        codes = codec.encode(torch.randn(1, 1600) * 0.1)
        assert codes[2].shape == (1, codec.frames(2, 1600))
        assert codec.decode_codes(codes[2], 2, num_samples=1600).shape == (1, 1600)


def test_codec_takes_the_model_rate_from_the_checkpoint(tmp_path):
    save_vqvae(VQVAE(tiny_hps()), tmp_path / "vq.pt", "demo", 44100)
    codec = JukeboxCodec(load_vqvae(tmp_path / "vq.pt"), AudioSpec(8000, 1.0))
    assert codec.model_rate == 44100 and codec.spec.rate == 8000
    assert codec.samples_per_frame(2) == pytest.approx(128 * 8000 / 44100)


def test_straight_through_quantise_passes_gradients():
    codec = JukeboxCodec(VQVAE(tiny_hps()).eval(), AudioSpec(16000, 8.0))
    codec.requires_grad_(False)
    codebook = codec.codebook(2)
    codebook.copy_(torch.randn_like(codebook))
    z = torch.randn(1, 64, 8, requires_grad=True)
    z_q, codes = codec.quantise(z, 2, straight_through=True)
    assert torch.allclose(z_q[0].T, codebook[codes[0]], atol=1e-6)  # forward: the nearest entries
    upstream = torch.randn_like(z_q)
    z_q.backward(upstream)
    assert torch.equal(z.grad, upstream)  # backward: dz_q/dz is the identity


# -- training ------------------------------------------------------------------------------------------
@pytest.mark.slow  # the first torch.optim use imports torch._dynamo (~8 s)
def test_training_updates_codebook_and_reports_metrics():
    rng = np.random.default_rng(0)
    t = np.arange(2048) / 16000
    waves = np.stack([0.5 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(2048) for f in (220, 330, 440)])
    model = VQVAE(tiny_hps())
    before = [p.detach().clone() for p in model.parameters()]
    vq = VQVAEConfig(steps=2, batch_size=2, lr=1e-3, lr_schedule="constant", segment_seconds=512 / 16000)
    vq = replace(vq, commit=0.02, spectral=1.0, l1=1.0, mel=0.0, loudness=0.0, sample_rate=16000)
    metrics = train_vqvae(model, waves.astype(np.float32), vq, seed=0, progress=False)
    assert np.isfinite(metrics["loss_final"])
    for level in range(3):
        assert model.bottleneck.level_blocks[level].k.abs().sum() > 0  # initialised from encoder vectors
        assert 0 < metrics[f"codebook_usage_{level}"] <= 1
        assert metrics[f"recon_l1_{level}"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_dead_codes_restart_with_encoder_vectors():
    block = VQVAE(tiny_hps()).bottleneck.level_blocks[0]
    z = torch.randn(2, 64, 32)
    block.init_k(z)
    codes = torch.zeros(2, 32, dtype=torch.long)  # only code 0 used: the others decay and restart
    for _ in range(5):
        stats = block.update_k(z, codes)
    assert stats["restarted"] == 15 and stats["usage"] == pytest.approx(1 / 16)
