"""Seconds per GAN training step per level, split into its parts, cached vs uncached; sizes vs Table 1.

    uv run python benchmarks/train_step.py                       # demo size, levels high low deep
    uv run python benchmarks/train_step.py --size paper --levels high --steps 3 --device cuda

A step at batch 2 on cached features (HDF5 in a temp folder, 8 s clips) is split into: data loading,
G forward, D step (forward, backward, AdamW), G's D pass (adversarial + FM), decoder forward (quantise,
decode, wave and log-mel L1), decoder backward, the rest of G's backward and AdamW. Each level runs with
a 1 s and an 8 s loss window. "uncached" adds what the caches save: TCNN → I3D on the pictures and the
Jukebox encoder on the audio, per step. Peak memory: CUDA max allocated, else the process's peak RSS.
The VQ-VAE is models/vqvae.pt when present, else a random demo-preset one (same architecture).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from conchshell.artifacts.i3d import build_i3d
from conchshell.artifacts.jukebox import freeze, load_vqvae
from conchshell.artifacts.stores import PairDataset, write_audio_store, write_image_store
from conchshell.audio.spec import PAPER as PAPER_SPEC
from conchshell.config import LEVELS, from_dict
from conchshell.evaluation.cost import format_table, gan_rows, tcnn_rows
from conchshell.models.discriminator import Discriminator, discriminator_config
from conchshell.models.generator import Generator, generator_config
from conchshell.models.image_branch import ImageBranch
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE
from conchshell.models.tcnn import TCNN
from conchshell.training.gan import make_loss, make_optimisers
from conchshell.training.losses import TERMS, Step, weighted_sum

RATE, SAMPLES, BATCH = PAPER_SPEC.rate, PAPER_SPEC.samples, 2
PARTS = ("data", "G fwd", "D step", "G adv+FM", "dec fwd", "dec bwd", "G bwd+opt")


def make_vqvae() -> tuple[VQVAE, str]:
    path = Path("models/vqvae.pt")
    if path.is_file():
        return load_vqvae(path), str(path)
    torch.manual_seed(0)
    return freeze(VQVAE(preset_hps("demo", sr=RATE))), "random demo preset"


def make_caches(folder: Path, codec: JukeboxCodec) -> pd.DataFrame:
    """4 clips of 8 s and 4 pictures, written as audio.h5 / images.h5 in `folder` → the manifest."""
    n = 4
    audio = 0.3 * torch.randn(n, SAMPLES)
    on = audio.to(next(codec.parameters()).device)  # the codec's device (CUDA ran CPU audio into it: issue 24)
    with torch.no_grad():
        latents = [z.cpu().numpy() for z in codec.latents(on)]
        codes = [c.cpu().numpy() for c in codec.encode(on)]
    ids = [f"c{i}" for i in range(n)]
    write_audio_store(folder / "audio.h5", ids, audio.numpy(), codes, latents, PAPER_SPEC.to_dict())
    write_image_store(
        folder / "images.h5",
        [f"p{i}" for i in range(n)],
        np.random.randn(n, 1024, 2).astype(np.float32),  # the default Inception-I3D's S-T features
        np.arange(n) % 6,
        np.full((n, 6), 1 / 6, np.float32),
        {"categories": "[]"},
    )
    return pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "category": "x",
            "label": 0,
            "split": "train",
            "image": "",
            "audio": [f"audio/{c}.wav" for c in ids],
        }
    )


def sync(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_step(g, d, opts, loss_fn, loader, device, branch=None) -> dict[str, float]:
    """One training step, timed per part (seconds)."""
    t, out = sync(device), {}
    batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in next(loader).items()}
    out["data"] = (t1 := sync(device)) - t
    if branch is not None:  # what the caches save: the image branch and the Jukebox encoder
        with torch.inference_mode():
            branch(torch.rand(BATCH, 3, 224, 224, device=device))
            loss_fn.codec.latents(batch["audio"])
            loss_fn.codec.encode(batch["audio"])
        out["uncached extra"] = (t1b := sync(device)) - t1
        t1 = t1b
    fake = g(batch["st"], batch["label"])
    out["G fwd"] = (t2 := sync(device)) - t1
    d_loss, _ = loss_fn.discriminator_loss(d, batch["latent"], fake)
    opts[1].zero_grad()
    d_loss.backward()
    opts[1].step()
    out["D step"] = (t3 := sync(device)) - t2
    step = Step(loss_fn, batch["latent"], fake, batch["audio"], batch["codes"], d)
    adv_fm = weighted_sum(loss_fn.lambdas, {k: TERMS[k](step) for k in ("adv", "fm")})
    out["G adv+FM"] = (t4 := sync(device)) - t3
    audio_loss = weighted_sum(loss_fn.lambdas, {k: TERMS[k](step) for k in ("wave", "mel")})
    out["dec fwd"] = (t5 := sync(device)) - t4
    opts[0].zero_grad()
    audio_loss.backward(retain_graph=True)
    out["dec bwd"] = (t6 := sync(device)) - t5
    adv_fm.backward()
    opts[0].step()
    out["G bwd+opt"] = sync(device) - t6
    return out


def endless(dataset):
    while True:
        yield from torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)


def bench_level(level, args, vqvae, folder, manifest, device, branch) -> list[dict]:
    rows = []
    codec = JukeboxCodec(vqvae, PAPER_SPEC).to(device)
    dataset = PairDataset(manifest, folder / "audio.h5", folder / "images.h5", level, "train")
    frames = dataset[0]["latent"].shape[-1]
    cfg = from_dict({"level": level, "gan": {"size": args.size, "width": args.width}})
    for window in (1.0, 8.0):
        for uncached in (False, True) if window == 1.0 and not args.no_uncached else (False,):
            torch.manual_seed(0)
            g = Generator(**generator_config(level, frames, args.size, args.width)).to(device)
            d = Discriminator(**discriminator_config(args.size, args.width)).to(device)
            opts = make_optimisers(g, d, cfg.gan)[:2]
            loss_fn = make_loss(codec, level, cfg.gan, window).to(device)
            loader = endless(dataset)
            one_step(g, d, opts, loss_fn, loader, device, branch if uncached else None)  # warm-up
            times = [
                one_step(g, d, opts, loss_fn, loader, device, branch if uncached else None) for _ in range(args.steps)
            ]
            mean = {k: float(np.mean([t[k] for t in times])) for k in times[0]}
            rows.append(
                {
                    "level": level,
                    "window": f"{window:g} s",
                    "cache": "no" if uncached else "yes",
                    **mean,
                    "total": sum(mean.values()),
                    "peak MiB": peak_memory_mib(device),
                }
            )
            print(
                f"  {level} {window:g} s {'uncached' if uncached else 'cached'}: {rows[-1]['total']:.2f} s/step",
                file=sys.stderr,
            )
    return rows


def size_table() -> str:
    """Params and MACs of G and D at each level and of both TCNNs (paper sizes, counted on the meta device)
    beside Table 1: `conchshell.evaluation.cost`'s table."""
    return format_table(gan_rows("paper") + tcnn_rows())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=["high", "low", "deep"], choices=list(LEVELS))
    parser.add_argument("--size", default="demo", choices=("demo", "paper"))
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--no-uncached", action="store_true", help="skip the uncached (TCNN → I3D, encoder) run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA when present")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    device = torch.device("cuda" if cuda else "cpu")
    vqvae, source = make_vqvae()
    vqvae = vqvae.to(device)
    branch = None
    if not args.no_uncached:
        branch = ImageBranch(TCNN("tcnn6", 6), build_i3d(None), [0.5] * 3, [0.25] * 3, "tcnn6").to(device)
    print(
        f"device {device}, threads {torch.get_num_threads()}, VQ-VAE: {source}, G/D size {args.size}"
        f" (width {args.width}), batch {BATCH}, 8 s clips, {args.steps} timed steps after 1 warm-up"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        codec = JukeboxCodec(vqvae, PAPER_SPEC).to(device)
        manifest = make_caches(Path(tmp), codec)
        for level in args.levels:
            rows += bench_level(level, args, vqvae, Path(tmp), manifest, device, branch)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("\nseconds per step (mean):")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    cached = table[table["cache"] == "yes"]
    print(
        "\ndata-loading share of a cached step: "
        + ", ".join(f"{r.level} {r.window}: {100 * r.data / r.total:.1f}%" for r in cached.itertuples())
    )
    if (table["cache"] == "no").any():
        for level in args.levels:
            sub = table[(table["level"] == level) & (table["window"] == "1 s")]
            ratio = sub[sub["cache"] == "no"]["total"].iloc[0] / sub[sub["cache"] == "yes"]["total"].iloc[0]
            print(f"uncached / cached step time, {level}, 1 s window: {ratio:.2f}×")
    print("\nsizes at the paper's (G fed the Inception-I3D's [1024, 2]; Table 1's figures are MACs):")
    print(size_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
