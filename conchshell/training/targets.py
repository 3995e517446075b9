"""G's warm-up target: the paired piece (the default), or the nearest training piece of the picture's category.

`paired` regresses G on each picture's own piece: right wherever the piece follows what the picture shows,
as in the demo, where a piece is a function of its picture's category, brightness and object count
(conchshell.data.demo). In a dataset whose annotators chose one of many fitting pieces (BOP), *which* piece
of the category a picture was paired with may carry nothing G can read from the picture; regressed on it,
G converges to the category's average latent, a blur that, snapped to the codebook and decoded, keeps
none of the category's key, register or tempo (measured on the earlier demo data: README, Honest
expectations).

The `nearest` target replaces the paired piece by the training piece *of the same category* whose
latent is closest (L1) to G's current output: min over the category's pieces of the loss instead of
one arbitrary piece, the "best of many" loss of multiple-choice learning (Guzman-Rivera et al., 2012).
G then settles on real pieces of the right category rather than on their average, but on the same few
for every picture. Only the warm-up uses it; once D joins, every step uses the paired piece and the
paper's objective (eq. 1–6).
"""

from __future__ import annotations

import torch
from torch import nn

WARMUP_TARGETS = ("paired", "nearest")


class PieceBank(nn.Module):
    """Every distinct training piece at one level, grouped by category, for the `nearest` target.

    Buffers: latent [M, 64, T], codes long [M, T], audio [M, N], category long [M]. Memory:
    M × (64·T + T + N) × 4 bytes (the demo at level low: 51 pieces, 78 MB).
    """

    def __init__(self, latent: torch.Tensor, codes: torch.Tensor, audio: torch.Tensor, category: torch.Tensor):
        super().__init__()
        self.register_buffer("latent", latent.float())
        self.register_buffer("codes", codes.long())
        self.register_buffer("audio", audio.float())
        self.register_buffer("category", category.long())

    @classmethod
    def from_dataset(cls, dataset) -> PieceBank:
        """The distinct pieces of a dataset of PairDataset items (by their `piece` id: each piece once,
        however many pictures share it), with the category of the piece (`true_label`)."""
        pieces: dict[str, dict] = {}
        for i in range(len(dataset)):
            item = dataset[i]
            pieces.setdefault(str(item.get("piece") or item["id"]), item)
        items = list(pieces.values())
        return cls(
            torch.stack([torch.as_tensor(it["latent"]) for it in items]),
            torch.stack([torch.as_tensor(it["codes"]) for it in items]),
            torch.stack([torch.as_tensor(it["audio"]) for it in items]),
            torch.stack([torch.as_tensor(it["true_label"]) for it in items]),
        )

    @torch.no_grad()
    def nearest(self, fake: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Index [B] of the piece of category[b] whose latent is closest (mean L1) to fake[b] [B, 64, T]."""
        picks = []
        for z, c in zip(fake.detach().float(), category.tolist()):
            candidates = (self.category == c).nonzero().squeeze(1)
            if len(candidates) == 0:
                raise ValueError(f"no training piece of category {c} for the nearest warm-up target")
            distance = (self.latent[candidates] - z).abs().mean(dim=(1, 2))  # [M_c]
            picks.append(candidates[distance.argmin()])
        return torch.stack(picks)

    def targets(self, batch: dict, fake: torch.Tensor) -> dict:
        """`batch` with its latent, codes and audio replaced by those of each picture's nearest piece."""
        index = self.nearest(fake, batch["true_label"])
        return {**batch, "latent": self.latent[index], "codes": self.codes[index], "audio": self.audio[index]}
