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


# issue 26.3: hyper-parameters that size memory or compute are bounded when a checkpoint loads
@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("image_size", 100000, "image_size: 100000 is not an integer 32..1024"),
        ("image_size", "224", "image_size: '224' is not an integer 32..1024"),
        ("categories", ["c"] * 5000, "categories: expected a list of 1..1000 names"),
        ("std", [0.25, 0.0, 0.25], "std: expected 3 finite numbers > 0"),
        ("mean", [float("nan")] * 3, "mean: expected 3 finite numbers"),
    ],
)
def test_tcnn_hyper_parameters_are_bounded(models, key, value, expected):
    ckpt = torch.load(models / "tcnn.pt", weights_only=True)
    save_torch({**ckpt, key: value}, models / "tcnn.pt")
    with pytest.raises(ConchError) as err:
        load_tcnn(models / "tcnn.pt")
    assert str(err.value) == f"{models / 'tcnn.pt'}: {expected}"


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("frames", 10**9, "generator_config.frames: 1000000000 is not an integer 1..200000"),
        ("stages", [[10**6, 40, 2]], "generator_config.stages: [[1000000, 40, 2]] is not a list of 1..16 [channels"),
        ("stages", [[8, 40]], "generator_config.stages: [[8, 40]] is not a list of 1..16 [channels ≤ 8192"),
        ("length", 10**7, "generator_config.length: 10000000 is not an integer 1..200000"),
        ("post_kernel", -3, "generator_config.post_kernel: -3 is not an integer 1..1024"),
        ("out_scale", float("inf"), "generator_config.out_scale: inf is not a number in (0, 1e+06]"),
    ],
)
def test_generator_config_is_bounded(models, key, value, expected):
    ckpt = torch.load(models / "gan.pt", weights_only=True)
    save_torch({**ckpt, "generator_config": {**ckpt["generator_config"], key: value}}, models / "gan.pt")
    with pytest.raises(ConchError) as err:
        load_generator(models / "gan.pt")
    assert str(err.value).startswith(f"{models / 'gan.pt'}: {expected}")


def test_a_generator_config_its_weights_do_not_fill_is_refused_before_allocating(models):
    """In bounds, but 64x the weights' width: refused by the meta-device shape check, not built (GBs)."""
    ckpt = torch.load(models / "gan.pt", weights_only=True)
    stages = [[8000, k, s] for _, k, s in ckpt["generator_config"]["stages"]]
    config = {**ckpt["generator_config"], "stages": stages, "length": 196608}
    save_torch({**ckpt, "generator_config": config}, models / "gan.pt")
    with pytest.raises(ConchError, match=r"gan.pt: generator weights do not match: .* has shape"):
        load_generator(models / "gan.pt")


def test_a_gan_pt_of_the_earlier_upsampling_generator_says_to_retrain(models):
    ckpt = torch.load(models / "gan.pt", weights_only=True)
    old = {"frames": 1000, "in_channels": 1024, "channels": [8, 8], "ratios": [4], "mid_frames": 36, "kernel": 40}
    save_torch({**ckpt, "generator_config": old}, models / "gan.pt")
    with pytest.raises(ConchError, match=r"gan.pt: written for the earlier upsampling generator.*re-run train_gan$"):
        load_generator(models / "gan.pt")


def test_generate_with_a_huge_tcnn_image_size_is_one_line(models, tmp_path, capsys):
    """The issue's case: image_size 100000 made the export allocate 30 GB and end in a MemoryError traceback."""
    from PIL import Image

    ckpt = torch.load(models / "tcnn.pt", weights_only=True)
    save_torch({**ckpt, "image_size": 100000}, models / "tcnn.pt")
    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(picture)
    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\n")
    status = cli.main(
        ["generate", str(picture), "-o", str(tmp_path / "out"), "--models", str(models), "--params", str(params)]
    )
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"{models / 'tcnn.pt'}: image_size: 100000 is not an integer 32..1024" in err
    assert not (tmp_path / "out" / "p.wav").exists()


def test_a_gan_checkpoint_from_before_standardised_inputs_loads_with_identity_statistics(models):
    """gan.pt files written before G stored st_mean / st_std still load, reading the features as they are."""
    ckpt = torch.load(models / "gan.pt", weights_only=True)
    old = {k: v for k, v in ckpt["generator"].items() if k not in ("st_mean", "st_std")}
    save_torch({**ckpt, "generator": old}, models / "gan.pt")
    g = load_generator(models / "gan.pt").generator
    assert torch.equal(g.st_mean, torch.zeros(1024)) and torch.equal(g.st_std, torch.ones(1024))
