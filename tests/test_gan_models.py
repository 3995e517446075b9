"""G_level and the multi-scale D: shapes per level, frames derived from the codec, Table 1 sizes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import tiny_codec  # noqa: E402

from conchshell.config import LEVELS
from conchshell.models.discriminator import Discriminator, discriminator_config
from conchshell.models.generator import Generator, generator_config

#: Table 1: G's parameters and MACs (its "FLOPs" are MACs: conchshell.evaluation.cost) per level.
TABLE_1 = {"high": (33.109e6, 23.800e9), "low": (65.183e6, 27.205e9), "deep": (100.420e6, 59.197e9)}


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_frames_come_from_the_codec_hop():
    codec = tiny_codec()
    assert [codec.frames(LEVELS[name], 128000) for name in ("high", "low", "deep")] == [1000, 4000, 16000]


@pytest.mark.parametrize("level", ["high", "low", "deep"])
def test_generator_output_shape_per_level(level):
    torch.manual_seed(0)
    frames = tiny_codec().frames(LEVELS[level], 128000)
    g = Generator(**generator_config(level, frames, "demo", 0.02, out_scale=30.0))
    with torch.no_grad():
        out = g(torch.randn(2, 1024, 2), torch.tensor([3, 3]))
    assert out.shape == (2, 64, frames)
    assert (out[0] - out[1]).abs().mean() > 0.05 * out.abs().mean()  # two pictures, two latents
    with pytest.raises(ValueError, match="G reads S-T features of 2 frames, got 4"):
        g(torch.randn(2, 1024, 4), torch.tensor([0, 5]))  # the flattened input fixes T'


@pytest.mark.parametrize("level", ["high", "low", "deep"])
def test_paper_profile_matches_table_1(level):
    """Parameters and MACs within 10 % of Table 1, fed the default Inception-I3D's S-T features [1024, 2]."""
    from conchshell.evaluation.cost import count_macs

    frames = {"high": 1000, "low": 4000, "deep": 16000}[level]
    with torch.device("meta"):
        g = Generator(**generator_config(level, frames, "paper"))
        macs = count_macs(g, torch.zeros(1, 1024, 2), torch.zeros(1, dtype=torch.long))
    params, paper_macs = TABLE_1[level]
    assert abs(count(g) - params) / params < 0.10
    assert abs(macs - paper_macs) / paper_macs < 0.10


def test_the_paper_generator_follows_the_text():
    """Kernels up to 40, residual units after every convolution, and the Deep level's last Linear has 16 k outputs."""
    from conchshell.models.generator import ResidualUnit, Stage

    with torch.device("meta"):
        g = Generator(**generator_config("deep", 16000, "paper"))
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv1d)]
    assert max(c.kernel_size[0] for c in convs) == 40
    stages = [m for m in g.modules() if isinstance(m, Stage)]
    assert all(sum(isinstance(m, ResidualUnit) for m in s.res) == 2 for s in stages)
    assert g.to_frames.out_features == 16000 and g.seed.in_features == 1024 * 2 + 256


def test_demo_profile_is_the_same_network_narrower():
    """Width 0.25 scales every stage's channels, so the convolutions' MACs by about 1/16; the seed and the
    time Linear keep their size (they set the time resolution)."""
    from conchshell.evaluation.cost import count_macs

    macs = {}
    with torch.device("meta"):
        paper = Generator(**generator_config("high", 1000, "paper"))
        demo = Generator(**generator_config("high", 1000, "demo", 0.25))
        for name, g in (("paper", paper), ("demo", demo)):
            macs[name] = count_macs(g, torch.zeros(1, 1024, 2), torch.zeros(1, dtype=torch.long))
    assert [s.conv[1].out_channels for s in demo.stages] == [16, 32, 64, 160, 80]
    assert macs["demo"] < macs["paper"] / 12 and count(demo) < count(paper) / 2
    assert demo.seed.out_features == paper.seed.out_features == 4000


def test_discriminator_paper_size_and_maps():
    with torch.device("meta"):
        d = Discriminator(**discriminator_config("paper"))
    assert abs(count(d) - 9.212e6) / 9.212e6 < 0.01
    small = Discriminator(**discriminator_config("demo", 0.125))
    maps = small(torch.randn(2, 64, 100))
    assert len(maps) == 3
    assert all(len(scale) == 7 for scale in maps)  # first conv, 4 strided, k5, score
    n = 64 * 100
    assert maps[0][-1].shape == (2, 1, n // 4**4 + 1) or maps[0][-1].shape[:2] == (2, 1)
    assert maps[1][-1].shape[-1] < maps[0][-1].shape[-1]  # AvgPool halves the signal between scales


def test_generator_reads_st_features_standardised_by_the_training_statistics():
    """G sees (st − mean) / std: features shifted and scaled per channel, with the statistics moved alike,
    give the same latent; the untrained buffers are the identity."""
    from conchshell.models.generator import st_statistics

    torch.manual_seed(0)
    g = Generator(**generator_config("high", 1000, "demo", 0.02, in_channels=16, num_classes=2)).eval()
    assert torch.equal(g.st_mean, torch.zeros(16)) and torch.equal(g.st_std, torch.ones(16))
    st = torch.randn(3, 16, 2)
    label = torch.tensor([0, 1, 1])
    with torch.no_grad():
        plain = g(st, label)
        shift, scale = torch.linspace(-40, 40, 16), torch.linspace(0.5, 60, 16)
        g.set_st_statistics(shift, scale)
        moved = g(st * scale[:, None] + shift[:, None], label)
    assert torch.allclose(plain, moved, atol=1e-4 * plain.abs().max())
    # hand-checked statistics: channel 0 takes 1, 3 (and 1, 3): mean 2, std 1; channel 1 is constant
    mean, std = st_statistics(torch.tensor([[[1.0, 3.0], [5.0, 5.0]], [[1.0, 3.0], [5.0, 5.0]]]))
    assert mean.tolist() == [2.0, 5.0]
    assert std[0] == 1.0 and std[1] == pytest.approx(0.01 * 0.5)  # floor: 1 % of the mean std (0.5)
