"""Model size and cost: parameters, MACs and FLOPs, and the paper's Table 1 beside ours.

Counting convention (the paper does not say which it counts; we report both):
- **MACs** = multiply-accumulates of the convolutions and matrix products (Conv*d, Linear, matmul,
  bmm, ...). Bias additions, activations, pooling and normalisation are not counted.
- **FLOPs** = 2 × MACs (one multiply and one add per MAC), which is what
  `torch.utils.flop_counter.FlopCounterMode` reports for those operators.
The paper's TCNN-6 figure (827.5 M) equals our classifier path's MACs exactly, and its D column equals our
D's MACs (2.734 / 10.976 / 43.950 G), so Table 1 counts MACs. G is fed as the paper feeds it: the default
Inception-I3D's S-T features [1024, 2] (2048 values), for 8 s at 16 kHz (1000 / 4000 / 16 k frames).

Counting runs the module on the `meta` device when possible (no memory, no compute), so even the
full-resolution time path costs nothing to count.

    uv run python -m conchshell.evaluation.cost            # G and D per level, TCNN-6 / TCNN-18, beside Table 1
    uv run python -m conchshell.evaluation.cost tcnn i3d   # the TCNNs and the two I3Ds
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of `module` (each shared tensor once)."""
    seen, total = set(), 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def count_flops(fn: Callable, *inputs, **kwargs) -> int:
    """FLOPs (= 2 × MACs of convs and matrix products) of one call `fn(*inputs, **kwargs)`.

    `fn` is a module or any callable (e.g. `model.classify`); runs without gradients.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*inputs, **kwargs)
    return int(counter.get_total_flops())


def count_macs(fn: Callable, *inputs, **kwargs) -> int:
    """Multiply-accumulates of convs and matrix products of one call: `count_flops(...) // 2`."""
    return count_flops(fn, *inputs, **kwargs) // 2


def human(n: float, unit: str = "") -> str:
    """12_345_678 → '12.35 M'."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {prefix}{unit}"
    return f"{n:.0f} {unit}".strip()


@dataclass(frozen=True)
class Row:
    """One line of a profile table."""

    name: str
    params: int
    paper_params: float | None
    macs: int
    paper_cost: float | None
    extra: str = ""


def format_table(rows: list[Row], cost_name: str = "MACs") -> str:
    """A plain-text table: ours beside the paper, with the relative differences."""

    def delta(ours: float, paper: float | None) -> str:
        return f"{100 * (ours - paper) / paper:+.1f}%" if paper else "-"

    header = (
        f"{'model':<10} {'params':>12} {'paper':>10} {'Δ':>7}   {cost_name:>12} {'FLOPs (2×)':>12} "
        f"{'paper':>10} {'Δ':>7}  notes"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.name:<10} {human(r.params):>12} {human(r.paper_params) if r.paper_params else '-':>10} "
            f"{delta(r.params, r.paper_params):>7}   {human(r.macs):>12} {human(2 * r.macs):>12} "
            f"{human(r.paper_cost) if r.paper_cost else '-':>10} {delta(r.macs, r.paper_cost):>7}  {r.extra}"
        )
    return "\n".join(lines)


#: The paper's Table 1: params and FLOPs (which are MACs: see the module docstring).
TABLE1_TCNN = {"tcnn6": (2.285e6, 827.5e6), "tcnn18": (7.543e6, 1.443e9)}
TABLE1_G = {"high": (33.109e6, 23.800e9), "low": (65.183e6, 27.205e9), "deep": (100.420e6, 59.197e9)}
TABLE1_D = {"high": (9.212e6, 2.734e9), "low": (9.212e6, 10.976e9), "deep": (9.212e6, 43.950e9)}
#: The paper's latent frames per level: 8 s at 16 kHz through the Jukebox hops 128 / 32 / 8.
PAPER_FRAMES = {"high": 1000, "low": 4000, "deep": 16000}


def gan_rows(size: str = "paper", width: float = 1.0, in_channels: int = 1024, st_frames: int = 2) -> list[Row]:
    """G and D at each level (`size` paper: Table 1's), G fed [1, in_channels, st_frames] S-T features."""
    from conchshell.models.discriminator import Discriminator, discriminator_config
    from conchshell.models.generator import Generator, generator_config

    rows = []
    for level, frames in PAPER_FRAMES.items():
        with torch.device("meta"):
            g = Generator(**generator_config(level, frames, size, width, in_channels, st_frames=st_frames))
            st, label = torch.zeros(1, in_channels, st_frames), torch.zeros(1, dtype=torch.long)
            d = Discriminator(**discriminator_config(size, width))
            latent = torch.zeros(1, 64, frames)
        g_paper, d_paper = (TABLE1_G[level], TABLE1_D[level]) if size == "paper" else ((None, None),) * 2
        g_note = f"S-T [{in_channels}, {st_frames}] → [64, {frames}]"
        rows.append(Row(f"G-{level}", count_params(g), g_paper[0], count_macs(g, st, label), g_paper[1], g_note))
        d_note = f"3 scales on [1, {64 * frames}]"
        rows.append(Row(f"D-{level}", count_params(d), d_paper[0], count_macs(d, latent), d_paper[1], d_note))
    return rows


def tcnn_rows(image_size: int = 224, num_classes: int = 6) -> list[Row]:
    """TCNN-6 and TCNN-18: classifier-path MACs (Table 1's figure) and the time path's in the notes."""
    from conchshell.models.tcnn import TCNN

    rows = []
    for arch, (paper_params, paper_cost) in TABLE1_TCNN.items():
        with torch.device("meta"):
            model = TCNN(arch, num_classes)
            x = torch.zeros(1, 3, image_size, image_size)
        time_macs = count_macs(model.time_frames, x)
        rows.append(
            Row(
                arch,
                count_params(model),
                paper_params,
                count_macs(model.classify, x),
                paper_cost,
                f"classifier path; Algorithm 1 time path {human(time_macs)} MACs",
            )
        )
    return rows


def i3d_rows(image_size: int = 224, frames: int = 18) -> list[Row]:
    """pytorchvideo i3d_r50 up to its last stage, on Algorithm 1's video [1,3,18,H,W]."""
    from conchshell.models.i3d import I3DFeatures, make_net

    with torch.device("meta"):
        model = I3DFeatures(make_net("r50"), "r50", pretrained=False)
        x = torch.zeros(1, 3, frames, image_size, image_size)
    return [Row("i3d_r50", count_params(model), None, count_macs(model, x), None, f"{frames}×{image_size}² video")]


#: `python -m conchshell.evaluation.cost <what>` → rows of the table.
PROFILES: dict[str, Callable[[], list[Row]]] = {"gan": gan_rows, "tcnn": tcnn_rows, "i3d": i3d_rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print params, MACs and FLOPs beside the paper's Table 1.")
    parser.add_argument("what", nargs="*", help=f"tables to print: {' '.join(PROFILES)} (default: gan tcnn)")
    args = parser.parse_args(argv)
    if unknown := [w for w in args.what if w not in PROFILES]:
        parser.error(f"unknown table {unknown[0]!r}; choose from {', '.join(PROFILES)}")
    rows = [row for what in args.what or ["gan", "tcnn"] for row in PROFILES[what]()]
    print(format_table(rows))
    print("MACs: multiply-accumulates of convs/matmuls (bias, activations, pooling not counted); FLOPs = 2 × MACs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
