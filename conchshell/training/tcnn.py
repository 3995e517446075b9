"""Training of the TCNN picture classifier, and its checkpoint (models/tcnn.pt).

Preprocessing is one function for training and inference: pictures float [B,3,H,W] in [0,1] →
`conchshell.models.tcnn.normalise` with the per-channel mean/std of the *training* pictures, which
are stored in the checkpoint (ImageBranch uses the same function and values). Training adds
augmentation before it (torchvision.transforms.v2 on tensors, drawn per picture): horizontal flip,
a small random resized crop (scale 0.8–1), colour jitter.

The checkpoint (models/tcnn.pt) is written and read by `conchshell.artifacts.checkpoints` (save_tcnn / load_tcnn).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from conchshell.config import TCNNConfig
from conchshell.data.images import read_picture, to_tensor
from conchshell.errors import ConchError
from conchshell.models.tcnn import MIN_IMAGE_SIZE, TCNN, normalise

if TYPE_CHECKING:  # torchvision and pandas take seconds to import: only training needs them
    import pandas as pd
    from torchvision.transforms import v2


# -- data ------------------------------------------------------------------------------------
def load_pictures(prepared_dir: str | os.PathLike, rows: pd.DataFrame, size: int) -> torch.Tensor:
    """The manifest rows' pictures → uint8 [N, size, size, 3] (read with `read_picture`)."""
    prepared_dir = Path(prepared_dir)
    pictures = [read_picture(prepared_dir / rel, size) for rel in tqdm(rows["image"], desc="pictures", leave=False)]
    if not pictures:
        return torch.zeros(0, size, size, 3, dtype=torch.uint8)
    return torch.from_numpy(np.stack(pictures))


def channel_stats(pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 pictures [N,H,W,3], on the [0,1] scale → (mean [3], std [3])."""
    if len(pictures) == 0:
        raise ConchError("data/prepared: no training pictures to compute normalisation statistics from")
    x = pictures.reshape(-1, 3).double() / 255.0
    return x.mean(0).float(), x.std(0).clamp_min(1e-3).float()


def preprocess(pictures: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 [B,H,W,3] → the TCNN input [B,3,H,W]: to [0,1] (`to_tensor`), then `normalise`."""
    return normalise(to_tensor(pictures.numpy()), mean, std)


def make_augment(size: int) -> v2.Transform:
    """Per-picture augmentation of a float [3,H,W] tensor in [0,1]."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomResizedCrop(size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
        ]
    )


def augment_batch(x: torch.Tensor, transform: v2.Transform) -> torch.Tensor:
    """Apply `transform` to each picture of x [B,3,H,W] in [0,1] (own random draw each) → [B,3,H,W]."""
    return torch.stack([transform(picture) for picture in x]).clamp_(0.0, 1.0)


# -- training --------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Loss, accuracy and predictions of the classifier on one split."""

    loss: float
    accuracy: float
    per_class_accuracy: list[float | None]
    predicted: list[int] = field(default_factory=list)


@dataclass
class TrainResult:
    model: TCNN
    mean: torch.Tensor
    std: torch.Tensor
    history: list[dict] = field(default_factory=list)


def train_tcnn(
    train_pictures: torch.Tensor,
    train_labels: torch.Tensor,
    arch: str,
    num_classes: int,
    cfg: TCNNConfig,
    seed: int = 0,
    val_pictures: torch.Tensor | None = None,
    val_labels: torch.Tensor | None = None,
) -> TrainResult:
    """Train a TCNN on uint8 pictures [N,H,W,3] with labels long [N]; AdamW, cosine lr, cross-entropy."""
    size = train_pictures.shape[1]
    if size < MIN_IMAGE_SIZE:
        raise ConchError(f"data.image_size: the TCNN needs pictures of at least {MIN_IMAGE_SIZE} px, got {size}")
    torch.manual_seed(seed)
    model = TCNN(arch, num_classes)
    mean, std = channel_stats(train_pictures)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_pictures) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.2
    )
    transform = make_augment(size)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in tqdm(range(cfg.epochs), desc=f"train {arch}"):
        model.train()
        order = torch.randperm(len(train_pictures), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            index = order[start : start + cfg.batch_size]
            x = to_tensor(train_pictures[index].numpy())
            if cfg.augment:
                x = augment_batch(x, transform)
            loss = F.cross_entropy(model.classify(normalise(x, mean, std)), train_labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(index)
            count += len(index)
        record = {"epoch": epoch + 1, "train_loss": total / count}
        if val_pictures is not None and len(val_pictures):
            record["val_accuracy"] = evaluate_tcnn(model, val_pictures, val_labels, mean, std, num_classes).accuracy
        history.append(record)
    model.eval()
    return TrainResult(model, mean, std, history)


@torch.inference_mode()
def evaluate_tcnn(
    model: TCNN,
    pictures: torch.Tensor,
    labels: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    num_classes: int,
    batch_size: int = 16,
) -> Evaluation:
    """Cross-entropy, accuracy, per-class accuracy (None for a class with no pictures) and predictions."""
    was_training = model.training
    model.eval()
    logits = torch.cat(
        [
            model.classify(preprocess(pictures[i : i + batch_size], mean, std))
            for i in range(0, len(pictures), batch_size)
        ]
    )
    model.train(was_training)
    predicted = logits.argmax(-1)
    correct = predicted == labels
    per_class = [
        float(correct[labels == c].float().mean()) if bool((labels == c).any()) else None for c in range(num_classes)
    ]
    return Evaluation(
        loss=float(F.cross_entropy(logits, labels)),
        accuracy=float(correct.float().mean()),
        per_class_accuracy=per_class,
        predicted=predicted.tolist(),
    )
