"""Stage `train_tcnn`: train the `image_encoder` TCNN on the prepared training pictures, evaluate on val.

Writes models/tcnn.pt (arch, model, mean, std, categories, image_size), metrics/tcnn.json (val accuracy,
per-class accuracy, loss; the last epoch's train loss) and plots/tcnn_confusion.csv (actual,predicted:
one row per val picture, category names) for `dvc plots show`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from conchshell import paths
from conchshell.artifacts.checkpoints import save_tcnn
from conchshell.config import load_config
from conchshell.data.manifest import categories, read_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.io import atomic_path, guard_temporaries, sweep_folders, write_json
from conchshell.training.tcnn import evaluate_tcnn, load_pictures, train_tcnn


def split_data(
    prepared: Path, manifest: pd.DataFrame, split: str, size: int
) -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor]:
    rows = manifest[manifest["split"] == split].reset_index(drop=True)
    return rows, load_pictures(prepared, rows, size), torch.tensor(rows["label"].to_numpy(), dtype=torch.long)


def write_confusion(path: Path, actual: list[str], predicted: list[str]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame({"actual": actual, "predicted": predicted}).to_csv(tmp, index=False)


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--prepared", default=str(paths.PREPARED), help="prepared data folder")
    parser.add_argument("--model", default=str(paths.TCNN), help="output checkpoint")
    parser.add_argument("--metrics", default=str(paths.METRICS / "tcnn.json"), help="output metrics")
    parser.add_argument("--confusion", default=str(paths.PLOTS / "tcnn_confusion.csv"), help="output confusion CSV")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(*(Path(p).parent for p in (args.model, args.metrics, args.confusion)))  # a killed run's temporaries
    cfg = load_config(args.params)
    prepared = Path(args.prepared)
    manifest, names = read_manifest(prepared), categories(prepared)
    size = cfg.data.image_size
    _, train_x, train_y = split_data(prepared, manifest, "train", size)
    val_rows, val_x, val_y = split_data(prepared, manifest, "val", size)
    if len(val_rows) == 0:
        raise ConchError(f"{prepared / 'manifest.csv'}: no val pictures to evaluate the TCNN on")
    started = time.perf_counter()
    result = train_tcnn(train_x, train_y, cfg.image_encoder, len(names), cfg.tcnn, cfg.seed, val_x, val_y)
    seconds = time.perf_counter() - started  # printed only: metrics/tcnn.json is hashed by DVC
    val = evaluate_tcnn(result.model, val_x, val_y, result.mean, result.std, len(names))
    save_tcnn(args.model, result.model, result.mean, result.std, names, size)
    write_json(
        Path(args.metrics),
        {
            "arch": cfg.image_encoder,
            "accuracy": val.accuracy,
            "loss": val.loss,
            "chance": 1.0 / len(names),
            "per_class_accuracy": dict(zip(names, val.per_class_accuracy)),
            "train_loss": result.history[-1]["train_loss"] if result.history else None,
            "train_pictures": len(train_x),
            "val_pictures": len(val_x),
        },
    )
    write_confusion(Path(args.confusion), [names[i] for i in val_y.tolist()], [names[i] for i in val.predicted])
    print(
        f"train_tcnn: {cfg.image_encoder} val accuracy {val.accuracy:.3f} (chance {1 / len(names):.3f}) "
        f"on {len(val_x)} pictures, {seconds:.0f} s → {args.model}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
