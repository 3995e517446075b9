"""TCNN-6 / TCNN-18 sizes, Algorithm 1, the TCNN checkpoint and the shared preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conchshell.artifacts.checkpoints import load_tcnn, save_tcnn
from conchshell.artifacts.i3d import build_i3d
from conchshell.config import TCNNConfig
from conchshell.data.images import to_tensor
from conchshell.errors import ConchError
from conchshell.evaluation.cost import TABLE1_TCNN, count_macs, count_params
from conchshell.models.image_branch import ImageBranch
from conchshell.models.tcnn import TCNN, frames_to_video, group_means, normalise, time_image_features
from conchshell.training.tcnn import (
    channel_stats,
    evaluate_tcnn,
    preprocess,
    train_tcnn,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("arch", ["tcnn6", "tcnn18"])
def test_sizes_match_table1(arch):
    paper_params, paper_macs = TABLE1_TCNN[arch]
    with torch.device("meta"):
        model = TCNN(arch, 6)
        x = torch.zeros(1, 3, 224, 224)
    assert abs(count_params(model) - paper_params) / paper_params < 0.10
    assert abs(count_macs(model.classify, x) - paper_macs) / paper_macs < 0.10
    assert model.num_blocks == {"tcnn6": 6, "tcnn18": 18}[arch]


def test_tcnn6_layers_as_in_the_paper():
    model = TCNN("tcnn6", 6)
    convs = [(c.in_channels, c.out_channels, c.kernel_size[0], c.dilation[0]) for c in model.convs]
    assert convs == [(3, 16, 7, 2), (16, 32, 7, 1), (32, 64, 5, 2), (64, 128, 5, 1), (128, 256, 3, 2), (256, 128, 3, 1)]
    linears = [(m.in_features, m.out_features) for m in model.classifier if isinstance(m, torch.nn.Linear)]
    assert linears == [(1152, 1000), (1000, 256), (256, 6)]


def test_forward_shapes_keep_full_resolution():
    model = TCNN("tcnn6", 6).eval()
    logits, blocks = model(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 6)
    assert [tuple(b.shape) for b in blocks] == [(2, c, 64, 64) for c in (16, 32, 64, 128, 256, 128)]


def _constant_blocks(channel_values: list[list[float]]) -> list[torch.Tensor]:
    """Blocks [1, C, 2, 2] whose channel c is the constant channel_values[i][c]."""
    return [
        torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1).expand(1, len(v), 2, 2).clone() for v in channel_values
    ]


def test_algorithm1_hand_computed_tcnn6():
    """Three parts of ⌊C/3⌋ channels, part k from channel k·(⌊C/3⌋ + 1), the last cut at C (the released code's
    cut: the 99s sit in the channels no part holds); each block's frame repeated 3 times."""
    values = [
        [1, 3, 99, 5, 7, 99, 9],  # C 7: {0,1} {3,4} {6} → 2, 6, 9
        [0, 2, 99, 4, 8, 99, 1, 3],  # C 8: {0,1} {3,4} {6,7} → 1, 6, 2
        list(range(16)),  # C 16: {0..4} {6..10} {12..15} → 2, 8, 13.5
        [1, 2, 3, 99, 4, 5, 6, 99, 7],  # C 9: {0..2} {4..6} {8} → 2, 5, 7
        [-1, 1, 99, 0, 2, 99, 5],  # C 7 → 0, 1, 5
        list(range(12)),  # C 12: {0..3} {5..8} {10,11} → 1.5, 6.5, 10.5
    ]
    expected_frames = [[2, 6, 9], [1, 6, 2], [2, 8, 13.5], [2, 5, 7], [0, 1, 5], [1.5, 6.5, 10.5]]
    video = time_image_features(_constant_blocks(values), "tcnn6")
    assert video.shape == (1, 3, 18, 2, 2)
    for t in range(18):  # TCNN-6 repeats each block's frame 3 times in a row
        for g in range(3):
            assert torch.allclose(video[0, g, t], torch.full((2, 2), float(expected_frames[t // 3][g])))


def test_time_path_chains_the_convs_with_nothing_between():
    torch.manual_seed(0)
    model = TCNN("tcnn6", 6).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        blocks = model.time_blocks(x)
        h = x
        for conv, block in zip(model.convs, blocks):
            h = conv(h)  # no ReLU: negative values pass to the next conv
            assert torch.allclose(block, h)
    assert (blocks[0] < 0).any()


def test_algorithm1_tcnn18_uses_each_block_once():
    values = [[k, k, 99, 10 * k, 10 * k, 99, 100 * k] for k in range(18)]  # C 7: parts {0,1} {3,4} {6}
    video = time_image_features(_constant_blocks(values), "tcnn18")
    assert video.shape == (1, 3, 18, 2, 2)
    expected = [[k, 10 * k, 100 * k] for k in range(18)]
    assert torch.equal(video[0, :, :, 0, 0], torch.tensor(expected, dtype=torch.float32).T)


def test_algorithm1_rejects_wrong_block_count():
    with pytest.raises(ValueError):
        time_image_features(_constant_blocks([list(range(7))] * 5), "tcnn6")


def test_group_means_parts_and_too_few_channels():
    block = torch.arange(16, dtype=torch.float32).view(1, 16, 1, 1)
    assert group_means(block).flatten().tolist() == pytest.approx([2.0, 8.0, 13.5])  # 0–4, 6–10, 12–15
    with pytest.raises(ValueError, match="at least 7 channels"):
        group_means(torch.zeros(1, 6, 1, 1))  # the released cut leaves its third part empty


@pytest.mark.parametrize("arch", ["tcnn6", "tcnn18"])
def test_time_frames_equal_algorithm1_on_blocks(arch):
    torch.manual_seed(0)
    model = TCNN(arch, 6).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        reference = time_image_features(model.time_blocks(x), arch)
        fast = frames_to_video(model.time_frames(x), arch)
    assert torch.allclose(fast, reference, atol=1e-5, rtol=1e-4)


def test_channel_stats_and_normalise():
    pictures = torch.zeros(2, 4, 4, 3, dtype=torch.uint8)
    pictures[0, ..., 0] = 255  # red channel: half the pixels 1.0, half 0.0
    mean, std = channel_stats(pictures)
    assert mean.tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert std[0] == pytest.approx(np.std([1.0] * 16 + [0.0] * 16, ddof=1), rel=1e-5)
    assert std[1] == pytest.approx(1e-3)  # constant channel: clamped, never a division by zero
    x = normalise(torch.full((1, 3, 2, 2), 0.5), mean, std)
    assert torch.allclose(x[:, 0], torch.zeros(1, 2, 2))


def test_checkpoint_round_trip_and_same_preprocessing(tmp_path):
    """models/tcnn.pt keeps the training mean/std; ImageBranch preprocesses exactly like training."""
    torch.manual_seed(0)
    model = TCNN("tcnn6", 3).eval()
    mean, std = torch.tensor([0.2, 0.4, 0.6]), torch.tensor([0.1, 0.2, 0.3])
    path = tmp_path / "tcnn.pt"
    save_tcnn(path, model, mean, std, ["a", "b", "c"], 64)
    ckpt = load_tcnn(path)
    loaded, mean2, std2, names = ckpt.model, ckpt.mean, ckpt.std, ckpt.categories
    assert names == ["a", "b", "c"] and loaded.arch == "tcnn6" and ckpt.image_size == 64
    assert torch.equal(mean2, mean) and torch.equal(std2, std)

    pictures = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    branch = ImageBranch(loaded, build_i3d(seed=0), mean2, std2, "tcnn6")
    as_float = to_tensor(pictures.numpy())
    assert torch.equal(branch.preprocess(as_float), preprocess(pictures, mean, std))
    with torch.inference_mode():
        train_logits = model.classify(preprocess(pictures, mean, std))
        _, probs = branch(as_float)
    assert torch.allclose(probs, torch.softmax(train_logits, -1), atol=1e-6)
    evaluation = evaluate_tcnn(loaded, pictures, torch.tensor([0, 1]), mean2, std2, 3)
    assert evaluation.predicted == probs.argmax(-1).tolist()


def test_load_tcnn_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"model": {}}, bad)
    with pytest.raises(ConchError, match="not a TCNN checkpoint"):
        load_tcnn(bad)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ConchError) as err:
        load_tcnn(garbage)
    assert str(garbage) in str(err.value) and "\n" not in str(err.value)


def test_training_learns_a_separable_toy_task():
    """Two colours, 64×64: a few epochs reach perfect accuracy; mean/std come from the training set."""
    rng = np.random.default_rng(0)
    pictures = np.zeros((12, 64, 64, 3), dtype=np.uint8)
    labels = torch.tensor([0, 1] * 6)
    for i, label in enumerate(labels.tolist()):
        pictures[i, ..., label * 2] = 200
        pictures[i] += rng.integers(0, 40, (64, 64, 3), dtype=np.uint8)
    pictures = torch.from_numpy(pictures)
    cfg = TCNNConfig(epochs=6, batch_size=6, lr=1e-3, augment=False)
    result = train_tcnn(pictures, labels, "tcnn6", 2, cfg, seed=0)
    assert torch.allclose(result.mean, channel_stats(pictures)[0])
    assert evaluate_tcnn(result.model, pictures, labels, result.mean, result.std, 2).accuracy == 1.0
