"""G_level and the multi-scale D: shapes per level, frames derived from the codec, Table 1 sizes and costs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import tiny_codec  # noqa: E402

from conchshell.config import LEVELS
from conchshell.evaluation.cost import count_macs
from conchshell.models.discriminator import Discriminator, discriminator_config
from conchshell.models.generator import PLANS, Generator, Stage, generator_config, stage_length

#: Table 1: G's parameters and FLOPs (which are MACs: its D column equals our D's MACs).
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
    g = Generator(**generator_config(level, frames, "demo", 0.02))
    out = g(torch.randn(1, 1024, 2), torch.tensor([3]))
    assert out.shape == (1, 64, frames)
    assert out.abs().max() <= 100.0 + 1e-3  # Tanh × 100 before the Linear keeps it near ±100
    # any number of S-T frames is accepted (pooled to the nominal 2)
    assert g(torch.randn(2, 1024, 9), torch.tensor([0, 5])).shape == (2, 64, frames)


@pytest.mark.parametrize("level", ["high", "low", "deep"])
def test_paper_profile_matches_table_1(level):
    """Parameters and MACs within 10 % of Table 1, fed the default Inception-I3D's [1024, 2] as the paper feeds it."""
    frames = {"high": 1000, "low": 4000, "deep": 16000}[level]
    with torch.device("meta"):
        g = Generator(**generator_config(level, frames, "paper"))
        macs = count_macs(g, torch.zeros(1, 1024, 2), torch.zeros(1, dtype=torch.long))
    params, paper_macs = TABLE_1[level]
    assert abs(count(g) - params) / params < 0.10
    assert abs(macs - paper_macs) / paper_macs < 0.10
    if level != "deep":  # the released High and Low, layer for layer: Table 1 to the last parameter
        assert abs(count(g) - params) < 2e3 and abs(macs - paper_macs) < 1e6


def test_signal_lengths_through_the_stages():
    """The released Low's lengths, by hand: 4096 → 2042 → 1031 → 558 → 321 → 405 → 489 → 573, then 664."""
    lengths, length = [], PLANS["low"]["signal"]
    for stage in PLANS["low"]["stages"]:
        length = stage_length(length, stage)
        lengths.append(length)
    assert lengths == [2042, 1031, 558, 321, 405, 489, 573]
    assert stage_length(4800, Stage(64, 10, 2)) == 2397  # High's first conv: (4800 + 2 − 10) // 2 + 1
    with torch.device("meta"):
        assert Generator(**generator_config("low", 4000, "paper")).out_frames == 573 + 2 * 64 + 3 - 40
        assert isinstance(Generator(**generator_config("high", 1000, "paper")).to_frames, torch.nn.Identity)


def test_demo_profile_is_the_paper_one_width_scaled():
    with torch.device("meta"):
        paper = Generator(**generator_config("high", 1000, "paper"))
        demo = Generator(**generator_config("high", 1000, "demo", 0.25))
    shapes = [(name, p.shape) for name, p in paper.named_parameters()]
    demo_shapes = [(name, p.shape) for name, p in demo.named_parameters()]
    assert [n for n, _ in shapes] == [n for n, _ in demo_shapes]  # the same layers
    for (name, big), (_, small) in zip(shapes, demo_shapes):
        if name.startswith("stages"):
            assert all(s in (b, max(4, round(b / 4))) for b, s in zip(big, small)), name  # channels × 1/4
    assert dict(shapes)["to_signal.weight"] == dict(demo_shapes)["to_signal.weight"]  # lengths kept
    assert count(demo) < count(paper) / 2


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
