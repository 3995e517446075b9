"""conchshell.artifacts.checkpoints: every artifact through one module; the I3D identity recorded at training time is
checked at generate time, with one clear error when params.yaml now builds another I3D."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import CATEGORIES, make_models  # noqa: E402

from conchshell import cli
from conchshell.artifacts.checkpoints import (
    GANCheckpoint,
    check_i3d,
    i3d_identity,
    load_generator,
    load_tcnn,
    load_vqvae,
)
from conchshell.artifacts.i3d import build_i3d
from conchshell.errors import ConchError
from conchshell.inference.pipeline import load_pipeline
from conchshell.io import save_torch

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def models(tmp_path) -> Path:
    return make_models(tmp_path / "models")


def record_i3d(models: Path, identity: dict) -> None:
    ckpt = torch.load(models / "gan.pt", weights_only=True)
    save_torch({**ckpt, "i3d": identity}, models / "gan.pt")


def test_loaders_return_records_not_tuples(models):
    gan = load_generator(models / "gan.pt")
    assert isinstance(gan, GANCheckpoint) and gan.level == "high" and gan.categories == CATEGORIES
    assert gan.in_channels == 1024 and not gan.generator.training and gan.i3d is None
    tcnn = load_tcnn(models / "tcnn.pt")
    assert tcnn.categories == CATEGORIES and tcnn.image_size == 64 and tcnn.mean.tolist() == [0.5] * 3
    assert not hasattr(tcnn.model, "image_size")  # nothing bolted onto the model
    vqvae = load_vqvae(models / "vqvae.pt")
    assert (vqvae.preset, vqvae.sample_rate) == ("demo", 16000)  # set by the constructor, from the file


def test_gan_loader_names_a_foreign_file_in_one_line(tmp_path):
    path = tmp_path / "gan.pt"
    save_torch({"generator": {}}, path)
    with pytest.raises(ConchError) as err:
        load_generator(path)
    assert str(err.value) == f"{path}: not a ConchShell GAN checkpoint (no `level`); re-run train_gan"


def test_identity_of_a_seeded_i3d():
    i3d = build_i3d(seed=3)
    identity = i3d_identity(i3d, None, 3)
    assert identity == {
        "arch": "inception",
        "checkpoint": None,
        "checkpoint_sha256": None,
        "seed": 3,
        "sha256": i3d.sha256(),
    }
    check_i3d(identity, i3d, "gan.pt")  # the same weights: no error
    check_i3d(None, i3d, "gan.pt")  # nothing recorded (older gan.pt): no check


def test_generate_refuses_an_i3d_other_than_the_recorded_one(models, tmp_path):
    record_i3d(models, i3d_identity(build_i3d(seed=0), None, 0))
    assert load_pipeline(models, i3d_seed=0).level == "high"
    with pytest.raises(ConchError) as err:
        load_pipeline(models, i3d_seed=1)  # params.yaml's seed changed: another random I3D
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{models / 'gan.pt'}: trained on S-T features of another I3D")
    assert "seed 0" in message and "re-run encode_images and train_gan" in message

    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\n")
    picture = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (64, 64), "red").save(picture)
    argv = ["generate", str(picture), "-o", str(tmp_path / "o.wav"), "--models", str(models), "--params", str(params)]
    assert cli.main(argv) == 2
    assert not (tmp_path / "o.wav").exists()


def test_info_shows_the_recorded_i3d_and_flags_another(models, tmp_path, capsys):
    record_i3d(models, i3d_identity(build_i3d(seed=0), None, 0))
    params = tmp_path / "params.yaml"
    params.write_text("level: high\nseed: 0\n")
    assert cli.main(["info", "--models", str(models), "--features", str(tmp_path), "--params", str(params)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(str(models / "gan.pt")))
    assert "trained on I3D inception from seed 0" in line and "stale" not in line
    params.write_text("level: high\nseed: 5\n")
    assert cli.main(["info", "--models", str(models), "--features", str(tmp_path), "--params", str(params)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(str(models / "gan.pt")))
    assert "[stale: params build another I3D (i3d.checkpoint / seed); generate refuses it]" in line
