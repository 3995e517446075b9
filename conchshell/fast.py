"""Fast inference for `generate`: the frozen Pipeline's two halves run by ONNX Runtime, eager PyTorch as fallback.

    pictures [B,3,224,224] ─ half 1 "branch" (TCNN → Algorithm 1 → I3D) ─► st [B,C_st,T'], probs [B,C]
    label = argmax probs
    st, label             ─ half 2 "synth" (G → nearest code → decoder) ─► wave [B,T]

Why ONNX Runtime: measured per step against eager PyTorch (benchmarks/generate.py, interleaved A B A B, Deep,
paper-size G, 1 thread): TCNN 1.25×, Inception-I3D 1.6×, G 1.7×, quantise+decode 2.1× faster. Folding the
I3D's batch norms into its convs gained 1% in eager mode (ONNX Runtime folds them itself), so it is not kept.

Each half is exported once per input shape (batch size) with the legacy TorchScript exporter and cached on disk
(`cache_dir`, keyed by a hash of the weights, the shapes and the library versions), so only the first run on a
machine pays the export. Where onnx / onnxruntime are missing, or an export fails, the half runs eagerly:
same results within the tolerance below. ONNX Runtime uses as many threads as torch (`torch.get_num_threads`).

Tolerance (tests/test_fast.py): every output within 1e-4 × (1 + max |eager output|) of eager, codes equal
where the nearest code is not a near-tie. CPU only; on CUDA the Pipeline runs eagerly.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from conchshell.io import atomic_path, state_dict_sha256

BACKENDS = ("auto", "onnxruntime", "eager")
#: Bumped when the exported graphs change meaning (invalidates the disk cache).
EXPORT_VERSION = 1


def default_cache_dir() -> Path:
    """$CONCHSHELL_CACHE, else $XDG_CACHE_HOME/conchshell/onnx, else ~/.cache/conchshell/onnx."""
    if os.environ.get("CONCHSHELL_CACHE"):
        return Path(os.environ["CONCHSHELL_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "conchshell" / "onnx"


def onnxruntime_available() -> bool:
    """True when onnx (needed to export) and onnxruntime are installed (found without importing them)."""
    import importlib.util

    for name in ("onnx", "onnxruntime"):
        try:
            if sys.modules.get(name, False) is None or importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


class _Branch(nn.Module):
    def __init__(self, pipeline: nn.Module):
        super().__init__()
        self.branch = pipeline.branch

    def forward(self, pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.branch(pictures)


class _Synth(nn.Module):
    def __init__(self, pipeline: nn.Module):
        super().__init__()
        self.generator, self.codec = pipeline.generator, pipeline.codec
        self.level, self.num_samples = pipeline.level_index, pipeline.num_samples

    def forward(self, st: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        z = self.generator(st, label)
        z_q, _ = self.codec.quantise(z, self.level, straight_through=False)
        return self.codec.decode(z_q, self.level, self.num_samples)


class OrtModule:
    """`module(*tensors)` run by ONNX Runtime: one session per input shape, exported on first use.

    Returns torch tensors like the module; raises nothing a caller must handle: on any export or session
    failure it falls back to the eager module for good (`self.backend` says which one runs).
    """

    def __init__(self, module: nn.Module, name: str, cache_dir: str | os.PathLike | None = None):
        self.module = module.eval()
        self.name = name
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.sessions: dict[tuple, object] = {}
        self.backend = "onnxruntime"
        self._weights = state_dict_sha256(module.state_dict())

    def __call__(self, *inputs: torch.Tensor):
        if self.backend == "eager":
            return self.module(*inputs)
        shapes = tuple((tuple(x.shape), str(x.dtype)) for x in inputs)
        try:
            session = self.sessions.get(shapes) or self._session(inputs, shapes)
            feed = {f"in{i}": x.detach().cpu().numpy() for i, x in enumerate(inputs)}
            outputs = [torch.from_numpy(np.ascontiguousarray(o)) for o in session.run(None, feed)]
        except Exception as err:  # noqa: BLE001 - any exporter/runtime failure: run eagerly instead
            why = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            print(f"note: {self.name} runs in PyTorch (ONNX Runtime could not take it: {why})", file=sys.stderr)
            self.backend = "eager"
            return self.module(*inputs)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _key(self, shapes: tuple) -> str:
        import onnxruntime

        blob = repr((EXPORT_VERSION, self.name, self._weights, shapes, torch.__version__, onnxruntime.__version__))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def _session(self, inputs: tuple[torch.Tensor, ...], shapes: tuple):
        import onnxruntime as ort

        path = self.cache_dir / f"{self.name}-{self._key(shapes)}.onnx"
        graph = path.read_bytes() if path.is_file() else self._export(inputs, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.sessions[shapes] = session
        return session

    def _export(self, inputs: tuple[torch.Tensor, ...], path: Path) -> bytes:
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                self.module, tuple(x.detach().clone() for x in inputs), buffer, dynamo=False, opset_version=17,
                input_names=[f"in{i}" for i in range(len(inputs))], do_constant_folding=True,
            )
        graph = buffer.getvalue()
        try:  # a cache that cannot be written (read-only home) only costs the next run an export
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_bytes(graph)
        except OSError as err:
            print(f"note: could not cache {path.name} in {path.parent} ({err.strerror})", file=sys.stderr)
        return graph


class FastPipeline:
    """`fast(pictures [B,3,H,W] in [0,1]) -> (wave [B,T], label long [B])`, the same contract as `Pipeline`.

    backend: auto (ONNX Runtime when onnx and onnxruntime import and the pipeline is on the CPU, else eager) |
    onnxruntime (the same, but say so on stderr when it is missing) | eager (the Pipeline itself).
    """

    def __init__(self, pipeline: nn.Module, backend: str = "auto", cache_dir: str | os.PathLike | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: choose one of {' | '.join(BACKENDS)}")
        self.pipeline = pipeline
        on_cpu = next(pipeline.parameters()).device.type == "cpu"
        usable = on_cpu and onnxruntime_available()
        if backend == "onnxruntime" and not usable:
            why = "the pipeline is not on the CPU" if not on_cpu else "onnx / onnxruntime are not installed"
            print(f"note: ONNX Runtime not used ({why}); running in PyTorch", file=sys.stderr)
        self.backend = "onnxruntime" if backend != "eager" and usable else "eager"
        if self.backend == "onnxruntime":
            self.branch = OrtModule(_Branch(pipeline), "branch", cache_dir)
            self.synth = OrtModule(_Synth(pipeline), "synth", cache_dir)

    def __getattr__(self, name: str):
        return getattr(self.__dict__["pipeline"], name)  # sample_rate, categories, image_size, ...

    def parameters(self):
        return self.pipeline.parameters()

    @torch.inference_mode()
    def __call__(self, pictures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.backend == "eager":
            return self.pipeline(pictures)
        st, probs = self.branch(pictures)
        label = probs.argmax(-1)
        return self.synth(st, label), label
