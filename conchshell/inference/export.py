"""Fast inference: the frozen Pipeline exported once to an ONNX graph and run by ONNX Runtime; eager as fallback.

    export_bundle(pipeline, folder): pictures uint8 [B,H,W,3] → (wave, label, st, probs), batch size free
                                     → folder/pipeline.onnx, meta.json (`conchshell.inference.runtime`)

Why ONNX Runtime: measured per step against eager PyTorch (benchmarks/generate.py, interleaved A B A B, Deep,
paper-size G, 1 thread): TCNN 1.25×, Inception-I3D 1.6×, G 1.7×, quantise+decode 2.1× faster. Folding the
I3D's batch norms into its convs gained 1% in eager mode (ONNX Runtime folds them itself), so it is not kept.
Why one graph: one session to set up instead of two, and no numpy round trip between the halves
(set-up figures in `conchshell.inference.runtime.OrtPipeline`; the command's wall time in benchmarks/startup.py).

`conchshell generate` and `conchshell serve` find the bundle by the models' file identity
(`conchshell.inference.runtime.models_key`) without torch; `FastPipeline` (the benchmarks, the tests: a pipeline already in
memory) keys it by the weights' hash instead. Where onnx / onnxruntime are missing, or the export fails, the eager Pipeline runs: same results
within the tolerance below.

Tolerance (tests/test_fast.py): every output within 1e-4 × (1 + max |eager output|) of eager, labels equal.
CPU only; on CUDA the Pipeline runs eagerly.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from conchshell.inference.pipeline import Pipeline, synthesise
from conchshell.inference.runtime import (
    GRAPH,
    BundleMeta,
    OrtPipeline,
    bundle_key,
    bundle_lock,
    default_cache_dir,
    fallback_note,
    find_bundle,
    prune,
    record_files,
    use_onnxruntime,
    write_meta,
)
from conchshell.io import atomic_path, state_dict_sha256

BACKENDS = ("auto", "onnxruntime", "eager")
OUTPUTS = ("wave", "label", "st", "probs")


class _Exported(nn.Module):
    """What the graph computes: pictures uint8 [B,H,W,3] → (wave [B,T], label [B], st [B,C_st,T'], probs [B,C])."""

    def __init__(self, pipeline: Pipeline):
        super().__init__()
        self.pipeline = pipeline

    def forward(self, pictures: torch.Tensor):
        p = self.pipeline
        x = pictures.permute(0, 3, 1, 2).float() / 255.0  # as conchshell.data.images.to_tensor
        st, probs = p.branch(x)
        label = probs.argmax(-1)
        return synthesise(p.generator, p.codec, p.level, st, label, p.num_samples), label, st, probs


def export_bundle(pipeline: Pipeline, folder: str | os.PathLike) -> Path:
    """Export `pipeline` into the bundle `folder` (written whole, with files.json recording each file's size and
    sha256, atomically), then delete all but the KEEP_BUNDLES bundles of its cache used last (`runtime.prune`);
    returns `folder`. Callers hold `runtime.bundle_lock(folder)`."""
    folder = Path(folder)
    example = torch.zeros(1, pipeline.image_size, pipeline.image_size, 3, dtype=torch.uint8)
    batch = {0: "batch"}
    with atomic_path(folder, replace_dir=True) as tmp:
        tmp.mkdir()
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Exported(pipeline).eval(),
                (example,),
                str(tmp / GRAPH),
                dynamo=False,
                opset_version=17,
                input_names=["pictures"],
                output_names=list(OUTPUTS),
                do_constant_folding=True,
                dynamic_axes={"pictures": batch, **{name: batch for name in OUTPUTS}},
            )
        meta = BundleMeta(pipeline.level, list(pipeline.categories), pipeline.image_size, pipeline.codec.spec)
        write_meta(tmp, meta)
        record_files(tmp)
    prune(folder.parent)
    return folder


def open_bundle(pipeline: Pipeline, folder: str | os.PathLike, threads: int | None = None) -> OrtPipeline:
    """The OrtPipeline of `folder`, exported from `pipeline` first when the folder holds no verified bundle."""
    folder = Path(folder)
    with bundle_lock(folder):
        if find_bundle(folder.parent, folder.name) is None:
            export_bundle(pipeline, folder)
        return OrtPipeline(folder, torch.get_num_threads() if threads is None else threads)


def weights_key(pipeline: Pipeline) -> str:
    """Bundle key of an in-memory pipeline: its weights' hash, level and picture side."""
    return bundle_key(
        {
            "weights": state_dict_sha256(pipeline.state_dict()),
            "level": pipeline.level,
            "image_size": pipeline.image_size,
            "categories": list(pipeline.categories),
        }
    )


class FastPipeline:
    """`run(pictures uint8 [B,H,W,3]) -> (wave float32 [B,T], label int64 [B])`, the contract of `Pipeline.run`.

    backend: auto (ONNX Runtime when onnx and onnxruntime are installed and the pipeline is on the CPU, else eager)
    | onnxruntime (the same, but say so on stderr when it cannot be used) | eager (the Pipeline itself).
    The graph is exported on first use into `cache_dir/<weights_key>`, or taken from there.
    """

    def __init__(self, pipeline: Pipeline, backend: str = "auto", cache_dir: str | os.PathLike | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: choose one of {' | '.join(BACKENDS)}")
        self.pipeline = pipeline
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.ort: OrtPipeline | None = None
        on_cpu = next(pipeline.parameters()).device.type == "cpu"
        usable = use_onnxruntime(backend, None if on_cpu else "the pipeline is not on the CPU")
        self.backend = "onnxruntime" if usable else "eager"

    def __getattr__(self, name: str):
        return getattr(self.__dict__["pipeline"], name)  # sample_rate, categories, image_size, ...

    def _session(self) -> OrtPipeline | None:
        if self.ort is None and self.backend == "onnxruntime":
            try:
                self.ort = open_bundle(self.pipeline, self.cache_dir / weights_key(self.pipeline))
            except Exception as err:  # noqa: BLE001 - any exporter/runtime failure: run eagerly instead
                fallback_note("the pipeline", err)
                self.backend = "eager"
        return self.ort

    def outputs(self, pictures: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the graph (wave, label, st, probs) for uint8 pictures [B,H,W,3]; ONNX Runtime only."""
        session = self._session()
        if session is None:
            raise RuntimeError("outputs() needs the ONNX Runtime backend")
        return session.outputs(pictures)

    def run(self, pictures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        session = self._session()
        return self.pipeline.run(pictures) if session is None else session.run(pictures)
