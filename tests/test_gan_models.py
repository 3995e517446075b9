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

TABLE_1 = {"high": 33.1e6, "low": 65.2e6, "deep": 100.4e6}


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_frames_come_from_the_codec_hop():
    codec = tiny_codec()
    assert [codec.frames(LEVELS[name], 128000) for name in ("high", "low", "deep")] == [1000, 4000, 16000]


@pytest.mark.parametrize("level", ["high", "low", "deep"])
def test_generator_output_shape_per_level(level):
    torch.manual_seed(0)
    frames = tiny_codec().frames(LEVELS[level], 128000)
    g = Generator(**generator_config(level, frames, "demo", 0.02))
    out = g(torch.randn(1, 1024, 2), torch.tensor([3]))
    assert out.shape == (1, 64, frames)
    assert out.abs().max() <= 100.0 + 1e-3  # Tanh × 100 before the Linear keeps it near ±100
    # any number of S-T frames is accepted
    assert g(torch.randn(2, 1024, 4), torch.tensor([0, 5])).shape == (2, 64, frames)


@pytest.mark.parametrize("level", ["high", "low", "deep"])
def test_paper_profile_matches_table_1(level):
    """Table 1's parameter counts, with the r50-era S-T input (2048 channels); the default Inception-I3D's
    1024 give 27.1 / 56.9 / 91.9 M, and the MACs are 15-33× under Table 1's (issue 27, still open)."""
    frames = {"high": 1000, "low": 4000, "deep": 16000}[level]
    with torch.device("meta"):
        g = Generator(**generator_config(level, frames, "paper", in_channels=2048))
    assert abs(count(g) - TABLE_1[level]) / TABLE_1[level] < 0.10


def test_demo_profile_is_smaller():
    with torch.device("meta"):
        paper = Generator(**generator_config("high", 1000, "paper"))
        demo = Generator(**generator_config("high", 1000, "demo", 0.25))
    assert count(demo) < count(paper) / 4


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
