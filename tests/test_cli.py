"""`conchshell generate`: pictures of every kind → valid 8 s wavs; bad input → named, exit 2, no traceback.

The models are tiny random ones saved in the contract layouts (tcnn.pt, vqvae.pt, gan.pt); the I3D is
replaced by a tiny stand-in with the default arch's feature width, [B, 1024, 9], so the tests stay fast.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from torch import nn

from conchshell import cli, generate
from conchshell.io import save_torch
from conchshell.models.generator import build_generator, generator_config
from conchshell.models.jukebox.checkpoint import save_vqvae
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE
from conchshell.models.tcnn import TCNN

CATEGORIES = ["beach", "forest"]
LEVEL_INDEX = {"high": 2, "low": 1, "deep": 0}
NUM_SAMPLES = 128000


pytestmark = pytest.mark.usefixtures("one_thread")


class TinyI3D(nn.Module):
    """Stand-in for I3DFeatures (arch inception, 1024 channels): video [B,3,18,H,W] → [B,1024,9]."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv1d(3, 1024, 1, stride=2)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(video.mean(dim=(-2, -1)))


def tiny_vqvae() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(preset_hps("demo", width=4, depth=1, l_bins=16, sr=16000)).eval()


def make_models(models: Path, level: str = "high", image_size: int = 64) -> Path:
    """Write tiny tcnn.pt, vqvae.pt and gan.pt (contract layouts) into `models`."""
    torch.manual_seed(0)
    models.mkdir(parents=True, exist_ok=True)
    tcnn = TCNN("tcnn6", len(CATEGORIES))
    save_torch(
        {"arch": "tcnn6", "model": tcnn.state_dict(), "mean": [0.5] * 3, "std": [0.25] * 3,
         "categories": CATEGORIES, "image_size": image_size},
        models / "tcnn.pt",
    )
    vqvae = tiny_vqvae()
    save_vqvae(vqvae, models / "vqvae.pt", "demo", 16000)
    frames = JukeboxCodec(vqvae, 16000).frames(LEVEL_INDEX[level], NUM_SAMPLES)
    config = generator_config(level, frames, size="demo", width=0.01, in_channels=1024, num_classes=len(CATEGORIES))
    g = build_generator(config)
    save_torch(
        {"level": level, "generator": g.state_dict(), "generator_config": config, "categories": CATEGORIES,
         "config": {}, "step": 0},
        models / "gan.pt",
    )
    return models


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(generate, "build_i3d", lambda checkpoint=None, seed=0, arch="inception": TinyI3D())
    return make_models(tmp_path / "models")


@pytest.fixture
def pictures(tmp_path) -> dict[str, Path]:
    """A PNG, a JPEG whose EXIF says 'rotate 90°', a grayscale, an RGBA picture and a corrupt file."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    out = {}
    out["png"] = folder / "colour.png"
    Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(out["png"])
    out["jpeg"] = folder / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.fromarray(rng.integers(0, 255, (60, 120, 3), dtype=np.uint8)).save(out["jpeg"], exif=exif)
    out["gray"] = folder / "gray.png"
    Image.fromarray(rng.integers(0, 255, (70, 70), dtype=np.uint8), mode="L").save(out["gray"])
    out["rgba"] = folder / "alpha.png"
    Image.fromarray(rng.integers(0, 255, (90, 90, 4), dtype=np.uint8), mode="RGBA").save(out["rgba"])
    out["corrupt"] = folder / "broken.jpg"
    out["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return out


def assert_valid_piece(path: Path) -> None:
    wave, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    assert wave.ndim == 1 and wave.shape[0] == NUM_SAMPLES
    assert np.isfinite(wave).all()


def test_every_picture_kind_and_a_corrupt_one(models, pictures, tmp_path, capsys):
    """PNG, EXIF-rotated JPEG, grayscale, RGBA → valid wavs; the corrupt file is named; exit status 2."""
    good = [pictures[k] for k in ("png", "jpeg", "gray", "rgba")]
    out = tmp_path / "out"
    args = [*map(str, good[:2]), str(pictures["corrupt"]), *map(str, good[2:])]
    status = cli.main(["generate", *args, "-o", str(out), "--models", str(models), "--batch-size", "3",
                       "--params", str(tmp_path / "none.yaml")])
    assert status == 2
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err
    for picture in good:
        assert_valid_piece(out / f"{picture.stem}.wav")
        assert picture.name in captured.out
    assert not (out / "broken.wav").exists()


def test_single_picture_to_named_wav_with_denoise(models, pictures, tmp_path):
    target = tmp_path / "piece.wav"
    status = cli.main(["generate", str(pictures["png"]), "-o", str(target), "--models", str(models),
                       "--denoise", "--seed", "3", "--params", "none.yaml"])
    assert status == 0
    assert_valid_piece(target)


def test_batching_does_not_change_the_music(models, pictures):
    pipeline = generate.load_pipeline(models)
    paths = [pictures["png"], pictures["gray"], pictures["rgba"]]
    one = [r.wave for r in generate.generate(pipeline, paths, batch_size=1, progress=False)]
    three = [r.wave for r in generate.generate(pipeline, paths, batch_size=3, progress=False)]
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_wrong_level_is_one_line(models, pictures, tmp_path, capsys):
    status = cli.main(["generate", str(pictures["png"]), "-o", str(tmp_path / "o"), "--models", str(models),
                       "--level", "deep", "--params", "none.yaml"])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gan.pt" in err and "deep" in err


@pytest.mark.slow
def test_missing_models_folder_exits_2_without_traceback(pictures, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "conchshell.cli", "generate", str(pictures["png"]), "-o", str(tmp_path / "o"),
         "--models", str(tmp_path / "nowhere")],
        check=False, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 2
    assert "nowhere" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_output_paths_keep_pictures_with_the_same_stem_apart(tmp_path):
    paths = cli.output_paths([Path("a/x.png"), Path("b/x.jpg"), Path("y.gif")], tmp_path)
    assert [p.name for p in paths] == ["x.wav", "x-1.wav", "y.wav"]
    assert cli.output_paths([Path("x.png")], tmp_path / "song.wav") == [tmp_path / "song.wav"]


def test_info_lists_models_and_flags_a_stale_level(models, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("level: low\n")
    assert cli.main(["info", "--models", str(models), "--features", str(tmp_path / "none"), "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "params: level=low" in out
    assert "vqvae.pt: preset" in out and "tcnn.pt: tcnn6" in out
    assert "gan.pt: level high" in out and "[stale: params say level=low]" in out
    assert "audio.h5: missing" in out and "images.h5: missing" in out
