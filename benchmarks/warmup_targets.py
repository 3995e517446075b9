"""Which warm-up target lets G follow the picture inside its category? A standalone warm-up on the cached features.

    uv run dvc repro encode_audio encode_images                   # the caches and models/vqvae.pt
    uv run python benchmarks/warmup_targets.py --target paired
    uv run python benchmarks/warmup_targets.py --target nearest --raw     # G fed the unstandardised features
    uv run python benchmarks/warmup_targets.py --target neighbours --k 8 --seed 1

Trains a fresh G (params.yaml's level, gan.size and gan.width) alone on the latent L1 for `--steps` steps
(batch 4, AdamW at `--lr`, default params.yaml's warmup_lr_g, with the stage's linear ramp over the first
eighth; `--st-dropout` on G's input, default params.yaml's), against one of:
- `paired`: each picture's own piece;
- `nearest`: the piece of the picture's category nearest G's output (training/targets.py, the stage's default);
- `neighbours`: the piece nearest G's output among the `--k` training pieces whose pictures are nearest the
  picture in (standardised) S-T features, a "best of many" restricted to similar pictures.
Then decodes G's latents for the val pictures through the VQ-VAE and prints, as one JSON line, what evaluate
measures of them: following ρ (transcription, conchshell.evaluation.following), the diversity figures,
the last 50 steps' train L1 and the val latent L1 beside a lookup table's (each category's mean latent). `--score real|ceiling` scores the real val pieces or their reconstructions instead.
No DVC output is touched; a row takes about 2 minutes on one core at level low.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from conchshell import paths
from conchshell.artifacts.jukebox import load_vqvae
from conchshell.artifacts.stores import PairDataset
from conchshell.config import load_config
from conchshell.data.manifest import read_manifest
from conchshell.evaluation import diversity
from conchshell.evaluation.following import following, measured
from conchshell.evaluation.music.transcription import PianoTranscriber
from conchshell.io import state_dict_sha256
from conchshell.models.generator import build_generator, generator_config, st_statistics
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.training.gan import codebook_scale

KEYS = ("st", "label", "true_label", "latent", "audio")


def stacked(dataset: PairDataset) -> tuple[dict[str, torch.Tensor], list[str]]:
    items = list(dataset)
    return {k: torch.stack([it[k] for it in items]) for k in KEYS}, [it["id"] for it in items]


def candidates(train: dict, target: str, k: int) -> list[torch.Tensor]:
    """Per training picture, the indices of the pieces its target may be (one for `paired`)."""
    labels, n = train["true_label"], len(train["true_label"])
    if target == "paired":
        return [torch.tensor([i]) for i in range(n)]
    mean, std = st_statistics(train["st"])
    feats = ((train["st"] - mean[:, None]) / std[:, None]).flatten(1)
    out = []
    for i in range(n):
        same = (labels == labels[i]).nonzero().squeeze(1)
        if target == "neighbours":
            same = same[(feats[same] - feats[i]).pow(2).mean(1).argsort()[:k]]
        out.append(same)
    return out


def warm_up(args, cfg, codec, train: dict) -> tuple[torch.nn.Module, float]:
    torch.manual_seed(args.seed)
    config = generator_config(
        cfg.level,
        train["latent"].shape[-1],
        cfg.gan.size,
        cfg.gan.width,
        train["st"].shape[1],
        int(torch.cat([train["label"], train["true_label"]]).max()) + 1,  # the categories G embeds
        out_scale=codebook_scale(codec, cfg.level),
        st_frames=train["st"].shape[2],
        st_dropout=args.st_dropout,
    )
    g = build_generator(config)
    if not args.raw:
        g.set_st_statistics(*st_statistics(train["st"]))
    options = candidates(train, args.target, args.k)
    opt = torch.optim.AdamW(g.parameters(), lr=args.lr, betas=(cfg.gan.beta1, cfg.gan.beta2))
    order = torch.Generator().manual_seed(args.seed)
    losses = []
    for step in range(args.steps):
        batch = torch.randperm(len(options), generator=order)[:4]
        fake = g(train["st"][batch], train["label"][batch])
        with torch.no_grad():  # the option nearest G's output (the only one for `paired`)
            picks = [
                options[i][(train["latent"][options[i]] - z).abs().mean((1, 2)).argmin()]
                for i, z in zip(batch.tolist(), fake)
            ]
        loss = F.l1_loss(fake, train["latent"][torch.stack(picks)])
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / max(1, args.steps // 8))
        opt.zero_grad()
        (cfg.gan.warmup_lambdas.get("latent", 5.0) * loss).backward()
        opt.step()
        losses.append(float(loss.detach()))
    return g.eval(), float(np.mean(losses[-50:])) if losses else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("paired", "nearest", "neighbours"), default="nearest")
    parser.add_argument("--k", type=int, default=8, help="neighbours: how many nearest pictures' pieces")
    parser.add_argument("--raw", action="store_true", help="feed G the S-T features unstandardised")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=None, help="G's lr (default: params.yaml gan.warmup_lr_g)")
    parser.add_argument("--st-dropout", type=float, default=None, help="default: params.yaml gan.st_dropout")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score", choices=("generated", "real", "ceiling"), default="generated")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(paths.PARAMS)
    args.lr = args.lr if args.lr is not None else (cfg.gan.warmup_lr_g or cfg.gan.lr_g)
    args.st_dropout = cfg.gan.st_dropout if args.st_dropout is None else args.st_dropout
    manifest = read_manifest(paths.PREPARED)
    vqvae = load_vqvae(paths.VQVAE)
    sha = state_dict_sha256(vqvae.state_dict())
    split = {s: PairDataset(manifest, paths.AUDIO_H5, paths.IMAGES_H5, cfg.level, s, sha) for s in ("train", "val")}
    codec = JukeboxCodec(vqvae, split["train"].audio_store.spec)
    (train, _), (val, val_ids) = stacked(split["train"]), stacked(split["val"])
    start = time.time()
    g, train_l1 = (None, float("nan")) if args.score != "generated" else warm_up(args, cfg, codec, train)
    val_l1 = float("nan")
    with torch.inference_mode():
        if g is not None:  # G's latent L1 on the val pictures, beside a lookup table's: its category's mean latent
            val_l1 = float((g(val["st"], val["label"]) - val["latent"]).abs().mean())
        means = torch.stack([train["latent"][train["true_label"] == c].mean(0) for c in val["true_label"].tolist()])
        lookup_l1 = float((means - val["latent"]).abs().mean())
        if args.score == "real":
            waves = val["audio"].numpy()
        else:
            latent = g(val["st"], val["label"]) if g is not None else val["latent"]
            waves = codec.decode(codec.quantise(latent, cfg.level, straight_through=False)[0], cfg.level).numpy()
    rows = manifest.set_index("id")
    cats = [rows.loc[i, "category"] for i in val_ids]
    rate, seconds = codec.spec.rate, codec.spec.seconds
    notes = PianoTranscriber().transcribe_many(list(waves), rate)
    rho, _ = following(
        cats,
        {a: [float(rows.loc[i, a]) for i in val_ids] for a in ("brightness", "objects")},
        [measured(n, seconds) for n in notes],
    )
    feats, real = diversity.features(list(waves), rate), diversity.features(list(val["audio"].numpy()), rate)
    nearest, _ = diversity.nearest(feats, diversity.features(list(train["audio"].numpy()), rate))
    print(
        json.dumps(
            {
                "target": args.target,
                "k": args.k,
                "raw": args.raw,
                "st_dropout": args.st_dropout,
                "seed": args.seed,
                "steps": args.steps,
                "score": args.score,
                "train_l1": round(train_l1, 3),
                "val_l1": round(val_l1, 3),
                "val_l1_category_mean": round(lookup_l1, 3),
                **{f"rho_{name}": round(value, 3) for name, value in rho.items()},
                "spread_ratio": round(diversity.spread(feats, cats) / diversity.spread(real, cats), 3),
                "max_correlation": round(diversity.max_correlation(list(waves)), 4),
                "distinct_nearest": round(len(set(nearest.tolist())) / len(nearest), 3),
                "seconds": round(time.time() - start, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
