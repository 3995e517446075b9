"""Does the adversarial phase earn its place? The same step budget with and without D, over several seeds.

    uv run python benchmarks/ablation.py                                  # 3 seeds, params.yaml's gan section
    uv run python benchmarks/ablation.py --device cuda --seeds 0 1 2 --jobs 3 --out ablation

Runs on the demo's (or any) cached features: data/prepared/manifest.csv, data/features/{audio,images}.h5 and
models/vqvae.pt under `--root` (default: here); run `dvc repro encode_audio encode_images` first. Arms:
- `with_d`: params.yaml's gan section as it is (the paper profile: eq. 1-6 once D joins);
- `without_d`: the same, with λ adv = 0 and λ fm = 0, so D is never stepped (training/gan.py).
Each (arm, seed) is one folder `<out>/<arm>-seed<seed>/` holding its params.yaml (`gan.seed` set: G's init,
data order and loss windows change, the data, the judge and the evaluation do not), models/gan.pt and the
`evaluate` stage's outputs. Training runs `stages/train_gan.py` (its own last.pt, so a killed run resumes
where it stopped), scoring runs `stages/evaluate.py`: whatever that stage measures (category agreement,
Fréchet, mel L1, the music metrics, and any measure added to it later) is in the table. A run whose
metrics/eval.json exists is not run again. Only the val split is scored in full: train is cut to as many
clips as val has (`evaluate.max_clips_per_split`).

The table (`<out>/ablation.md`, also printed; every run's figures in `<out>/ablation.json`) gives each
val measure's mean ± sd across seeds per arm, beside the figures that do not depend on G (the real
pieces', the VQ-VAE ceiling's, the judge's accuracy), which are the same in every run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from conchshell.config import GANConfig
from conchshell.io import atomic_path, write_json

REPO = Path(__file__).resolve().parents[1]
ARMS = ("with_d", "without_d")
#: Second parts of metric keys whose figures do not depend on G (`val.ceiling.mel_l1`, `val.real.…`).
REFERENCES = ("ceiling", "real", "real_paired", "ground_truth", "reconstruction")
#: G's terms that read D: the "without D" arm sets their λ to 0.
D_TERMS = ("adv", "fm")


def run_params(base: dict, arm: str, seed: int, steps: int | None, val_clips: int) -> dict:
    """params.yaml of one run: `base` with gan.seed, the step budget and, without D, λ adv = λ fm = 0."""
    params = json.loads(json.dumps(base))  # a deep copy
    gan = params.setdefault("gan", {})
    gan["seed"] = seed
    if steps is not None:
        gan["steps"] = steps
    if arm == "without_d":
        released = gan.get("profile") == "released-code"
        holder = gan.setdefault("released_code", {}) if released else gan
        lambdas = dict(holder.get("lambdas") or default_lambdas(released))
        holder["lambdas"] = {**lambdas, **{name: 0.0 for name in D_TERMS}}
    evaluate = params.setdefault("evaluate", {})
    evaluate["samples"] = 0
    evaluate["max_clips_per_split"] = val_clips
    return params


def default_lambdas(released: bool) -> dict:
    """The λ's a params file leaving them out means (conchshell.config's defaults)."""
    gan = GANConfig()
    return dict(gan.released_code.lambdas if released else gan.lambdas)


def val_clip_count(root: Path) -> int:
    manifest = pd.read_csv(root / "data/prepared/manifest.csv")
    return int(manifest.loc[manifest["split"] == "val", "audio"].nunique())


def run_one(root: Path, folder: Path, params: dict, device: str | None, threads: int) -> dict:
    """Train and evaluate one run in `folder` (skipping what is already done) → its metrics/eval.json."""
    metrics = folder / "metrics/eval.json"
    if metrics.is_file():
        return json.loads(metrics.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    models = folder / "models"
    models.mkdir(exist_ok=True)
    vqvae = models / "vqvae.pt"
    if not vqvae.exists():
        vqvae.symlink_to((root / "models/vqvae.pt").resolve())
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    train = [sys.executable, str(REPO / "stages/train_gan.py"), "--params", str(folder / "params.yaml")]
    train += ["--output", str(models / "gan.pt"), "--checkpoints", str(folder / "checkpoints")]
    train += ["--live", str(folder / "dvclive")] + (["--device", device] if device else [])
    evaluate = [sys.executable, str(REPO / "stages/evaluate.py"), "--params", str(folder / "params.yaml")]
    evaluate += ["--models", str(models), "--out", str(folder)]
    evaluate += ["--transcription-cache", str(folder.parent / "transcriptions")]
    with open(folder / "log.txt", "a") as log:
        for command in ([train] if not (models / "gan.pt").is_file() else []) + [evaluate]:
            done = subprocess.run(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                raise SystemExit(
                    f"ablation: {Path(command[1]).name} failed for {folder.name}; see {folder / 'log.txt'}"
                )
    return json.loads(metrics.read_text())


def mean_sd(values: list[float]) -> str:
    """'m ± s' over the finite values (sd with ddof 1), '–' when there are none."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return "–"
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return f"{np.mean(finite):.3f} ± {sd:.3f}"


def reference(key: str, split: str) -> bool:
    """Whether `key` is a figure that does not depend on G: the judge's, or `<split>.<ref>.…` for the real pieces
    or the VQ-VAE ceiling (<ref> in REFERENCES)."""
    parts = key.split(".")
    return parts[0] == "judge" or (parts[0] == split and len(parts) > 2 and parts[1] in REFERENCES)


def table(runs: dict[str, list[dict]], split: str = "val") -> str:
    """Markdown: each `split` measure of the generated pieces (mean ± sd per arm) beside its figures for the
    real pieces or the ceiling (`<split>.ceiling.<measure>` ...), then the other fixed figures (the judge's)."""
    every = [m for arm in runs.values() for m in arm]
    keys = sorted({k for m in every for k in m if k.startswith(f"{split}.") or k.startswith("judge.")})
    refs = [k for k in keys if reference(k, split)]
    lines = [f"| {split} measure | " + " | ".join(f"{a} (n={len(runs[a])})" for a in runs) + " | real / ceiling |"]
    lines.append("|---" * (len(runs) + 2) + "|")
    shown = set()
    for key in (k for k in keys if k not in refs):
        name = key[len(split) + 1 :]
        beside = [k for k in refs if k.endswith("." + name)]
        shown.update(beside)
        fixed = ", ".join(f"{k.split('.')[1]} {mean_sd([m.get(k) for m in every]).split(' ±')[0]}" for k in beside)
        cells = [mean_sd([m.get(key) for m in runs[a]]) for a in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fixed} |")
    rest = [k for k in refs if k not in shown]
    if rest:
        lines += ["", "| other figures independent of G | mean |", "|---|---|"]
        lines += [f"| {k} | {mean_sd([m.get(k) for m in every]).split(' ±')[0]} |" for k in rest]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the repository whose cached features and VQ-VAE to use")
    parser.add_argument("--params", default=None, help="base parameters (default: <root>/params.yaml)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="gan.steps for every run (default: params')")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default=None, help="training device (default: CUDA if any)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each gets cpus/jobs threads)")
    parser.add_argument("--out", default="ablation", help="folder of the runs and the table")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("--seeds: give at least 2 seeds (the table reports sd across seeds)")
    root, out = Path(args.root).resolve(), Path(args.out).resolve()
    base = yaml.safe_load(Path(args.params or root / "params.yaml").read_text()) or {}
    val_clips = val_clip_count(root)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    plan = [(arm, seed) for seed in args.seeds for arm in ARMS]  # interleaved: a cut-short ablation stays paired

    def job(arm_seed: tuple[str, int]) -> dict:
        arm, seed = arm_seed
        folder = out / f"{arm}-seed{seed}"
        result = run_one(root, folder, run_params(base, arm, seed, args.steps, val_clips), args.device, threads)
        print(f"ablation: {folder.name} done", flush=True)
        return result

    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(job, plan))
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for (arm, _), metrics in zip(plan, results):
        runs[arm].append(metrics)
    text = table(runs)
    with atomic_path(out / "ablation.md") as tmp:
        tmp.write_text(text)
    write_json(out / "ablation.json", {f"{arm}-seed{seed}": m for (arm, seed), m in zip(plan, results)})
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
