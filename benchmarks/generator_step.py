"""Seconds per G training step (forward, latent L1, backward, AdamW) of this tree's G against another revision's.

    uv run python benchmarks/generator_step.py [--against main] [--level low] [--size demo] [--width 0.25]
                                               [--against-width 0.25]
                                               [--batch 4] [--rounds 5] [--steps 5] [--threads 2]

What the demo's warm-up steps run (800 of its 830: G alone on the latent term, params.yaml `gan`), on
random S-T features of the default Inception-I3D ([1024, 2]). Both generators are built in this one
process (REV's `conchshell/models/generator.py` is loaded from git; it imports only torch) and timed in
turn, A B A B … over `--rounds` rounds of `--steps` steps each; the table gives each side's median
seconds per step and the ratio this tree / REV (above 1: this tree is slower).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from conchshell.evaluation.cost import count_macs, count_params, human
from conchshell.models import generator as this_generator

FRAMES = {"high": 1000, "low": 4000, "deep": 16000}


def load_revision(rev: str):
    """REV's conchshell/models/generator.py as a module (it imports only torch)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:conchshell/models/generator.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "generator_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("generator_at_rev", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Side:
    """One G with its AdamW (params.yaml's betas) and a fixed batch."""

    def __init__(self, module, args, width: float):
        torch.manual_seed(0)
        config = module.generator_config(
            args.level, FRAMES[args.level], size=args.size, width=width, in_channels=1024, num_classes=6
        )
        self.g = module.build_generator(config)
        self.opt = torch.optim.AdamW(self.g.parameters(), lr=1e-3, betas=(0.5, 0.999))
        self.st = torch.randn(args.batch, 1024, 2)
        self.label = torch.arange(args.batch) % 6
        self.target = torch.randn(args.batch, 64, FRAMES[args.level])
        self.params = count_params(self.g)
        with torch.device("meta"):
            meta = module.build_generator(config)
            self.macs = count_macs(meta, torch.zeros(1, 1024, 2), torch.zeros(1, dtype=torch.long))

    def step(self) -> None:
        loss = (self.g(self.st, self.label) - self.target).abs().mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def time(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - start) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git revision to compare with")
    parser.add_argument("--level", default="low", choices=list(FRAMES))
    parser.add_argument("--size", default="demo", choices=("demo", "paper"))
    parser.add_argument("--width", type=float, default=0.25, help="demo width of this tree's G")
    parser.add_argument("--against-width", type=float, default=0.25, help="demo width of REV's G")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sides = {
        "this tree": Side(this_generator, args, args.width),
        args.against: Side(load_revision(args.against), args, args.against_width),
    }
    for side in sides.values():
        side.step()  # warm-up
    times = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, side in sides.items():  # A B A B …
            times[name].append(side.time(args.steps))
    print(
        f"G step, level {args.level}, size {args.size} (width {args.width}; {args.against} {args.against_width}), "
        f"batch {args.batch}, "
        f"{args.threads} threads, {args.rounds} rounds × {args.steps} steps, interleaved"
    )
    for name, side in sides.items():
        print(
            f"  {name:>12}: {statistics.median(times[name]):.3f} s/step (runs {', '.join(f'{t:.3f}' for t in times[name])}),"
            f" {human(side.params)} params, {human(side.macs)} MACs forward per picture"
        )
    ratio = statistics.median(times["this tree"]) / statistics.median(times[args.against])
    print(f"  this tree / {args.against}: {ratio:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
