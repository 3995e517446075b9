"""Which engine runs a picture: the torch-free ONNX Runtime bundle (`runtime`), exported on first use
(`export`), or the eager PyTorch `Pipeline` (`pipeline`). The one module that knows all three.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conchshell.config import load_config
from conchshell.errors import ConchError
from conchshell.inference.runtime import (  # noqa: F401 (PREPACK_FROM re-exported: the engine's callers size by it)
    PREPACK_FROM,
    OrtPipeline,
    bundle_lock,
    bundle_problem,
    default_cache_dir,
    fallback_note,
    mark_used,
    models_key,
    use_onnxruntime,
)
from conchshell.io import sweep_folders
from conchshell.paths import gan_path


def pipeline_settings(params: Path) -> tuple[str | None, int, str]:
    """(i3d checkpoint, seed, i3d arch) that encode_images built the I3D with, from the pipeline's params file.

    Without a checkpoint the I3D is a seeded random init, so the seed must be the pipeline's, not --seed;
    a missing params file is therefore an error, never a silent fallback to another I3D.
    """
    if not params.is_file():
        raise ConchError(
            f"{params}: parameters file not found; generate needs the pipeline's params.yaml (its i3d settings "
            "and seed build the same I3D as encode_images): run from the repository or pass --params FILE"
        )
    cfg = load_config(params)
    return cfg.i3d.checkpoint, cfg.seed, cfg.i3d.arch


def load(
    models_dir: str | os.PathLike,
    level: str | None = None,
    device: str = "cpu",
    i3d_checkpoint: str | os.PathLike | None = None,
    i3d_seed: int = 0,
    i3d_arch: str = "inception",
    backend: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    prepack: bool = True,
):
    """The pipeline `conchshell generate` runs: OrtPipeline from the models' bundle (exported first when missing),
    else — backend eager, a CUDA device, ONNX Runtime missing or failing — the eager `Pipeline`.

    The bundle is verified first (`runtime.bundle_problem`: sizes, and sha256 through the hash cache); one that
    fails is rebuilt, with a note. With a verified bundle present nothing imports torch. Model errors are ConchErrors either way (the export loads
    the models through `conchshell.inference.pipeline.load_pipeline`, which checks them). `prepack`: as `OrtPipeline`'s
    (a long-lived server keeps it; a command for fewer than PREPACK_FROM pictures starts faster without).
    """

    def load_eager():
        from conchshell.inference.pipeline import (
            load_pipeline,  # torch: imported only when the eager pipeline is needed
        )

        return load_pipeline(models_dir, level, device, i3d_checkpoint, i3d_seed, i3d_arch)

    if not use_onnxruntime(backend, None if device == "cpu" else "--device is not cpu"):
        return load_eager()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = models_key(models_dir, level, i3d_checkpoint, i3d_seed, i3d_arch, cache)
    if key is None:
        return load_eager()  # says which model file is missing
    folder = cache / key
    sweep_folders(cache)  # a killed export's temporary bundle (hundreds of MB)
    with bundle_lock(folder):  # one exporter per bundle; a reader never sees it replaced under it
        problem = bundle_problem(folder, cache) if folder.is_dir() else None
        eager = None
        if problem is not None or not folder.is_dir():
            eager = load_eager()  # says which model file is wrong
            note = "exporting the models for ONNX Runtime, once"
            if problem is not None:
                note = f"the ONNX bundle {folder.name} failed its check ({problem}); rebuilding it"
            if _export(eager, folder, note) is None:
                return eager
        try:
            pipeline = OrtPipeline(folder, prepack=prepack)
        except Exception as err:  # noqa: BLE001 - a runtime failure on a verified bundle: run eagerly instead
            fallback_note("the pipeline", err, folder)
            return eager or load_eager()
    mark_used(folder)
    if level is not None and pipeline.level != level:
        path = gan_path(models_dir, level)
        raise ConchError(
            f"{path}: generator was trained for level {pipeline.level}, not {level} "
            f"(train it with `dvc exp run -S level={level}`, or drop --level)"
        )
    return pipeline


def _export(eager, folder: Path, note: str) -> Path | None:
    """Export `eager` to `folder` (seconds, once per set of models) after the stderr `note`; None, with a note,
    when it fails."""
    from conchshell.inference.export import export_bundle  # torch: only when a bundle must be made

    print(f"note: {note} (cached in {folder.parent})", file=sys.stderr)
    try:
        return export_bundle(eager, folder)
    except Exception as err:  # noqa: BLE001 - any exporter failure: run eagerly instead
        fallback_note("the pipeline", err)
        return None
