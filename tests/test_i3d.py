"""I3D wrapper, both archs (Inception-I3D default, pytorchvideo i3d_r50): features, checkpoint loaders, encode_images.

The Inception-I3D's parity with the official code is tested in tests/test_inception_i3d.py.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conchshell.artifacts.checkpoints import load_tcnn, save_tcnn
from conchshell.artifacts.i3d import build_i3d
from conchshell.artifacts.stores import ImageStore
from conchshell.data.manifest import Pair, build_manifest, read_manifest, write_manifest
from conchshell.errors import ConchError
from conchshell.models.i3d import feature_dim, temporal_length
from conchshell.models.image_branch import ImageBranch
from conchshell.models.tcnn import TCNN
from conchshell.training.tcnn import load_pictures

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def i3d():
    return build_i3d(seed=0, arch="r50")


@pytest.fixture(scope="module")
def i3d_seed1():
    return build_i3d(seed=1, arch="r50")


@pytest.fixture(scope="module")
def inception():
    return build_i3d(seed=0)


def test_features_shape_and_frozen(i3d):
    video = torch.randn(2, 3, 18, 32, 32)
    with torch.inference_mode():
        st = i3d(video)
    assert st.shape == (2, feature_dim("r50"), temporal_length(18, "r50")) and temporal_length(18, "r50") == 9
    assert feature_dim("r50") == 2048 and i3d.feature_dim == 2048 and i3d.arch == "r50"
    assert not any(p.requires_grad for p in i3d.parameters())
    i3d.train()
    assert not i3d.training and not i3d.net.training
    assert i3d.pretrained is False


@pytest.mark.parametrize("frames, size, expected", [(18, 32, 2), (9, 40, 1), (16, 64, 1), (40, 33, 4)])
def test_inception_features_shape_and_frozen(inception, frames, size, expected):
    """Default arch: [B,1024,T'] with T' = ceil(T/8) - 1 (at least 1), on clips of any size."""
    assert inception.arch == "inception" and inception.feature_dim == feature_dim() == 1024
    assert temporal_length(frames) == expected
    with torch.inference_mode():
        st = inception(torch.randn(2, 3, frames, size, size + 3))
    assert st.shape == (2, 1024, expected)
    assert torch.isfinite(st).all()
    assert not any(p.requires_grad for p in inception.parameters())
    inception.train()
    assert not inception.training and not inception.net.training


def test_inception_seeded_init_and_round_trip(tmp_path, inception):
    other = build_i3d(seed=1)
    assert build_i3d(seed=0).sha256() == inception.sha256() != other.sha256()
    path = tmp_path / "rgb_imagenet.pt"
    torch.save({f"module.{k}": v for k, v in other.net.state_dict().items()}, path)  # DataParallel prefix too
    loaded = build_i3d(path, seed=0)
    assert loaded.pretrained is True and loaded.sha256() == other.sha256()
    video = torch.randn(1, 3, 9, 40, 40)
    with torch.inference_mode():
        assert torch.equal(loaded(video), other(video))


def test_inception_checkpoint_with_other_logits_loads(tmp_path, inception):
    """rgb_charades.pt has the same layout with 157 classes: the features do not use the logits."""
    state = dict(inception.net.state_dict())
    state["logits.conv3d.weight"] = torch.zeros(157, 1024, 1, 1, 1)
    state["logits.conv3d.bias"] = torch.zeros(157)
    path = tmp_path / "rgb_charades.pt"
    torch.save(state, path)
    loaded = build_i3d(path)
    assert loaded.net.num_classes == 157


@pytest.mark.parametrize("arch, other", [("inception", "r50"), ("r50", "inception")])
def test_checkpoint_of_the_other_arch_is_one_line(tmp_path, inception, i3d, arch, other):
    net = {"inception": inception, "r50": i3d}[other].net
    content = {"model_state": net.state_dict()} if other == "r50" else net.state_dict()
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(ConchError, match=f"i3d.arch is {arch}; set i3d.arch: {other}") as err:
        build_i3d(path, arch=arch)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_inception_wrong_shape_is_named(tmp_path, inception):
    state = dict(inception.net.state_dict())
    state["Mixed_4c.b1b.conv3d.weight"] = torch.zeros(3)
    path = tmp_path / "shape.pt"
    torch.save(state, path)
    with pytest.raises(ConchError, match="Mixed_4c.b1b.conv3d.weight"):
        build_i3d(path)


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="inception | r50"):
        build_i3d(arch="r101")


def test_seeded_init_is_reproducible(i3d, i3d_seed1):
    assert build_i3d(seed=0, arch="r50").sha256() == i3d.sha256()
    assert i3d_seed1.sha256() != i3d.sha256()


def test_pyth_checkpoint_round_trip(tmp_path, i3d, i3d_seed1):
    source = i3d_seed1
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": source.net.state_dict(), "cfg": "pytorchvideo"}, path)
    loaded = build_i3d(path, seed=0, arch="r50")
    assert loaded.pretrained is True
    assert loaded.sha256() == source.sha256() != i3d.sha256()
    video = torch.randn(1, 3, 18, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(video), source(video))


@pytest.mark.parametrize(
    "content, message",
    [
        ({"model_state": {"blocks.0.conv.weight": torch.zeros(1)}}, "not an i3d_r50 checkpoint"),
        ({"something": 1}, "not an I3D checkpoint"),
        ({"Conv3d_1a_7x7.conv3d.weight": torch.zeros(1)}, "i3d.arch is r50; set i3d.arch: inception"),
    ],
)
def test_wrong_checkpoint_gives_one_line_error(tmp_path, content, message):
    path = tmp_path / "wrong.pyth"
    torch.save(content, path)
    with pytest.raises(ConchError, match=message) as err:
        build_i3d(path, arch="r50")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_wrong_shape_is_named(tmp_path, i3d):
    state = dict(i3d.net.state_dict())
    key = "blocks.0.conv.weight"
    state[key] = torch.zeros(3)
    path = tmp_path / "shape.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(ConchError, match=key):
        build_i3d(path, arch="r50")


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "text.pyth"
    path.write_text("hello")
    with pytest.raises(ConchError) as err:
        build_i3d(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def _run_stage(name: str, argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["inception", "r50"])
def test_encode_images_aligned_with_manifest(tmp_path, arch, request):
    i3d = request.getfixturevalue({"inception": "inception", "r50": "i3d"}[arch])
    prepared = tmp_path / "prepared"
    (prepared / "images").mkdir(parents=True)
    pairs, rng = [], np.random.default_rng(0)
    for c, category in enumerate(("beach", "city")):
        for k in range(3):
            pairs.append(Pair(f"{category}_{k}", category, f"{category}_piece_{k}"))
            picture = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)  # resized/cropped on reading
            Image.fromarray(picture).save(prepared / "images" / f"{category}_{k}.png")
    write_manifest(prepared, build_manifest(pairs[::-1], 0.3, seed=0))  # not sorted: order must follow the manifest
    params = tmp_path / "params.yaml"
    params.write_text(f"image_encoder: tcnn6\ndata:\n  image_size: 64\ni3d:\n  batch_size: 4\n  arch: {arch}\n")
    torch.manual_seed(0)
    tcnn_path = tmp_path / "tcnn.pt"
    save_tcnn(tcnn_path, TCNN("tcnn6", 2), torch.full((3,), 0.5), torch.full((3,), 0.25), ["beach", "city"], 64)
    out = tmp_path / "images.h5"

    argv = ["--params", str(params), "--prepared", str(prepared), "--tcnn", str(tcnn_path), "--out", str(out)]
    assert _run_stage("encode_images", argv) == 0

    manifest = read_manifest(prepared)
    store = ImageStore(out)
    assert store.ids == list(manifest["id"])
    assert json.loads(store.attrs["categories"]) == ["beach", "city"]
    assert store.attrs["image_encoder"] == "tcnn6"
    assert bool(store.attrs["i3d_pretrained"]) is False
    assert store.attrs["i3d_sha256"] == i3d.sha256()
    assert store.attrs["i3d_arch"] == arch
    tcnn = load_tcnn(tcnn_path)
    branch = ImageBranch(tcnn.model, i3d, tcnn.mean, tcnn.std, "tcnn6")
    row = 4
    picture = load_pictures(prepared, manifest.iloc[[row]], 64)
    with torch.inference_mode():
        st, probs = branch(picture.permute(0, 3, 1, 2).float() / 255)
    assert store.st_features(row).shape == (feature_dim(arch), temporal_length(18, arch))
    assert np.allclose(store.st_features(row), st[0].numpy(), atol=1e-4, rtol=1e-3)
    assert np.allclose(store.probs(row), probs[0].numpy(), atol=1e-6)
    assert store.pred_label(row) == int(probs[0].argmax())


def test_encode_images_refuses_other_arch(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    write_manifest(prepared, build_manifest([Pair("a_0", "a", "p0"), Pair("a_1", "a", "p1")], 0.5, seed=0))
    params = tmp_path / "params.yaml"
    params.write_text("image_encoder: tcnn18\n")
    tcnn_path = tmp_path / "tcnn.pt"
    save_tcnn(tcnn_path, TCNN("tcnn6", 1), torch.zeros(3), torch.ones(3), ["a"], 64)
    argv = [
        "--params",
        str(params),
        "--prepared",
        str(prepared),
        "--tcnn",
        str(tcnn_path),
        "--out",
        str(tmp_path / "x.h5"),
    ]
    assert _run_stage("encode_images", argv) == 2
    assert not (tmp_path / "x.h5").exists()
