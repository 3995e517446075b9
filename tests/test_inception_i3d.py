"""Inception-I3D against the official code (../shared/reference fixtures) and the layout derivable without them.

Fixture A (`inception_i3d_parity_a.pt`, see ../shared/reference/README.md) holds random weights in the exact
`rgb_imagenet.pt` layout and what the public port computes from them on two clips. Tolerance: features and
logits within 1e-4 absolute (the official code itself moves by up to 4.5e-5 between thread counts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conchshell.models.inception_i3d import END_POINTS, InceptionI3d, same_padding

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
LAYOUT = REFERENCE / "inception_i3d_state.json"
FIXTURE = REFERENCE / "inception_i3d_parity_a.pt"
TOLERANCE = 1e-4

pytestmark = pytest.mark.usefixtures("one_thread")


def needs(path: Path):
    return pytest.mark.skipif(not path.is_file(), reason=f"{path} absent (reference fixtures not shared here)")


@pytest.fixture(scope="module")
def net() -> InceptionI3d:
    return InceptionI3d().eval()


@pytest.fixture(scope="module")
def fixture_a() -> dict:
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def official(fixture_a) -> InceptionI3d:
    """An InceptionI3d holding fixture A's weights (int8 × power-of-two scale, fp16 running statistics)."""
    stored = fixture_a["state"]
    state = {k: q.float() * stored["scales"][k] for k, q in stored["q_weights"].items()}
    state.update({k: v if v.dtype == torch.int64 else v.float() for k, v in stored["buffers"].items()})
    model = InceptionI3d()
    model.load_state_dict(state, strict=True)
    return model.eval()


def clip(case: dict) -> torch.Tensor:
    return (case["input_u8"].float() - 128) / 128


def test_layout_derivable_without_fixtures(net):
    """Inception-v1 widths inflated: 344 entries, 12,697,264 parameters, conv bias only in the logits."""
    state = net.state_dict()
    assert len(state) == 344
    assert list(state)[:3] == ["logits.conv3d.weight", "logits.conv3d.bias", "Conv3d_1a_7x7.conv3d.weight"]
    assert sum(p.numel() for p in net.parameters()) == 12_697_264
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["Mixed_5c.b3b.conv3d.weight"].shape == (128, 832, 1, 1, 1)
    assert [k for k in state if k.endswith("conv3d.bias")] == ["logits.conv3d.bias"]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(norms) == 57 and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)


@needs(LAYOUT)
def test_state_dict_equals_the_official_layout(net):
    layout = json.loads(LAYOUT.read_text())
    ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in net.state_dict().items()]
    assert ours == layout["params"]  # names, shapes, dtypes and order
    assert sum(p.numel() for p in net.parameters()) == layout["total_params"]
    assert sum(b.numel() for n, b in net.named_buffers() if "running" in n) == layout["total_buffer_elements"]


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        ((18, 224, 224), (7, 7, 7), (2, 2, 2), [2, 3, 2, 3, 2, 3]),  # divisible: max(k - s, 0) = 5, smaller half first
        ((9, 230, 237), (7, 7, 7), (2, 2, 2), [3, 3, 2, 3, 3, 3]),  # W, T odd: max(k - n mod s, 0) = 6; H even: 5
        ((9, 115, 119), (1, 3, 3), (1, 2, 2), [1, 1, 1, 1, 0, 0]),
        ((5, 8, 8), (3, 3, 3), (1, 1, 1), [1, 1, 1, 1, 1, 1]),
        ((3, 4, 4), (2, 2, 2), (2, 2, 2), [0, 0, 0, 0, 0, 1]),
    ],
)
def test_same_padding(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


@needs(FIXTURE)
@pytest.mark.parametrize("case_index", [0, 1])
def test_features_and_logits_match_the_official_code(official, fixture_a, case_index):
    case = fixture_a["cases"][case_index]
    x = clip(case)
    with torch.inference_mode():
        features = official.extract_features(x)
        logits = official(x)
    assert features.shape == case["features"].shape
    assert logits.shape == case["logits"].shape
    assert (features - case["features"]).abs().max() <= TOLERANCE
    assert (logits - case["logits"]).abs().max() <= TOLERANCE
    assert features.std() > 0.1  # the comparison is not between near-constants


@needs(FIXTURE)
def test_end_points_match_shapes_and_channel_means(official, fixture_a):
    case = fixture_a["cases"][1]
    expected = case["endpoints"]
    with torch.inference_mode():
        ours = dict(official.end_points(clip(case)))
    assert list(ours) == list(expected) == list(END_POINTS)
    for name, out in ours.items():
        assert list(out.shape) == list(expected[name]["shape"]), name
        mean = out.mean(dim=(0, 2, 3, 4))
        assert (mean - expected[name]["channel_mean"]).abs().max() <= TOLERANCE, name


@needs(FIXTURE)
def test_batch_of_two_equals_one_by_one(official, fixture_a):
    x = clip(fixture_a["cases"][1])
    pair = torch.cat([x, x.flip(-1)])
    with torch.inference_mode():
        both = official.extract_features(pair)
        assert (both[:1] - official.extract_features(x)).abs().max() <= TOLERANCE
        assert (both[1:] - official.extract_features(x.flip(-1))).abs().max() <= TOLERANCE
