"""The nearest-piece warm-up target: each picture's closest training piece, always of its own category."""

from __future__ import annotations

import pytest
import torch

from conchshell.training.targets import PieceBank


def bank() -> PieceBank:
    latent = torch.stack([torch.full((4, 6), v) for v in (0.0, 1.0, 2.0, 3.0)])  # pieces 0..3
    codes = torch.arange(4).view(4, 1).expand(4, 6)
    audio = torch.arange(4.0).view(4, 1).expand(4, 10)
    return PieceBank(latent, codes, audio, torch.tensor([0, 0, 1, 1]))


def test_nearest_is_the_closest_piece_of_the_same_category():
    fake = torch.stack([torch.full((4, 6), v) for v in (0.9, 2.9, 2.9, 0.1)])
    index = bank().nearest(fake, torch.tensor([0, 1, 0, 1]))
    # picture 2 (category 0) is closest to piece 3, but that piece is of category 1: its own nearest is piece 1
    assert index.tolist() == [1, 3, 1, 2]


def test_targets_replace_latent_codes_and_audio_and_keep_the_rest():
    batch = {
        "st": torch.zeros(2, 3),
        "true_label": torch.tensor([1, 0]),
        "latent": torch.zeros(2, 4, 6),
        "codes": torch.zeros(2, 6, dtype=torch.long),
        "audio": torch.zeros(2, 10),
    }
    out = bank().targets(batch, torch.stack([torch.full((4, 6), 1.8), torch.full((4, 6), -5.0)]))
    assert out["latent"][:, 0, 0].tolist() == [2.0, 0.0]
    assert out["codes"][:, 0].tolist() == [2, 0] and out["audio"][:, 0].tolist() == [2.0, 0.0]
    assert out["st"] is batch["st"]


def test_from_dataset_keeps_each_piece_once():
    items = [
        {
            "id": f"p{i}",
            "piece": f"c{i % 2}",
            "latent": torch.full((4, 6), float(i % 2)),
            "codes": torch.zeros(6, dtype=torch.long),
            "audio": torch.zeros(10),
            "true_label": torch.tensor(i % 2),
        }
        for i in range(5)
    ]
    b = PieceBank.from_dataset(items)
    assert b.latent.shape == (2, 4, 6) and b.category.tolist() == [0, 1]


def test_a_category_without_pieces_is_an_error():
    with pytest.raises(ValueError, match="category 5"):
        bank().nearest(torch.zeros(1, 4, 6), torch.tensor([5]))
