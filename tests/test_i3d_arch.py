"""i3d.arch end to end: G's input width follows the cached features; `info` and `generate` know the arch."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import make_workspace  # noqa: E402
from test_cli import make_models  # noqa: E402

from conchshell import cli
from conchshell.artifacts.checkpoints import load_generator
from conchshell.errors import ConchError
from conchshell.inference.pipeline import load_pipeline

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_generator_reads_the_width_of_the_cached_features(tmp_path, monkeypatch):
    root = make_workspace(tmp_path, params="  steps: 1\n", st_channels=1024)
    monkeypatch.chdir(root)
    sys.path.insert(0, str(REPO / "stages"))
    try:
        import train_gan as stage
    finally:
        sys.path.pop(0)
    assert stage.main([]) == 0
    gan = load_generator(root / "models/gan.pt")
    assert gan.generator_config["in_channels"] == 1024
    assert gan.generator(torch.randn(1, 1024, 2), torch.tensor([1])).shape[-1] == gan.generator_config["frames"]


def test_pipeline_refuses_a_generator_of_the_other_width(tmp_path):
    models = make_models(tmp_path / "models")  # generator reads 1024 channels (inception)
    with pytest.raises(ConchError, match="reads 1024-channel S-T features but i3d.arch r50 gives 2048") as err:
        load_pipeline(models, i3d_arch="r50")
    assert "\n" not in str(err.value)


def test_info_names_the_arch_and_flags_stale_caches(tmp_path, capsys):
    models = make_models(tmp_path / "models")
    features = tmp_path / "features"
    features.mkdir()
    with h5py.File(features / "images.h5", "w") as f:  # a store made before i3d.arch existed (r50, 2048 × 9)
        f["ids"] = [b"a", b"b"]
        f["st_features"] = torch.zeros(2, 2048, 9).numpy()
    params = tmp_path / "params.yaml"
    params.write_text("i3d:\n  arch: inception\n")
    assert cli.main(["info", "--models", str(models), "--features", str(features), "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "i3d.arch=inception" in out
    assert "S-T features [2048, 9] from None + I3D r50" in out and "[stale: params say i3d.arch=inception" in out
    assert "reads 1024-channel S-T features" in out and "gan.pt" in out
    params.write_text("i3d:\n  arch: r50\n")
    assert cli.main(["info", "--models", str(models), "--features", str(features), "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "[stale: i3d.arch=r50 gives 2048 channels; re-run train_gan]" in out
    assert "params say i3d.arch" not in out
