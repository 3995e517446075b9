"""The fast inference path (conchshell.fast): ONNX Runtime matches eager PyTorch; falls back cleanly.

Tolerance: S-T features, class probabilities and waves within 1e-4 × (1 + max |eager|) absolute, labels equal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import make_models  # noqa: E402

from conchshell import fast
from conchshell.fast import FastPipeline
from conchshell.generate import load_pipeline, synthesise

pytestmark = pytest.mark.usefixtures("one_thread")
needs_ort = pytest.mark.skipif(not fast.onnxruntime_available(), reason="onnx / onnxruntime not installed")


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool((a - b).abs().max() <= 1e-4 * (1 + b.abs().max()))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    models = make_models(tmp_path_factory.mktemp("fast") / "models", image_size=224)  # tiny G, real Inception-I3D
    return load_pipeline(models)


@needs_ort
def test_onnxruntime_matches_eager_and_caches_the_graphs(pipeline, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    quick = FastPipeline(pipeline, "auto", cache)
    assert quick.backend == "onnxruntime"
    torch.manual_seed(0)
    pictures = torch.rand(2, 3, 224, 224)  # a batch of two pictures
    with torch.inference_mode():
        st, probs = pipeline.branch(pictures)
        label = probs.argmax(-1)
        wave = synthesise(pipeline.generator, pipeline.codec, pipeline.level_index, st, label, pipeline.num_samples)
    st_fast, probs_fast = quick.branch(pictures)
    assert close(st_fast, st) and close(probs_fast, probs) and st.abs().max() > 0.1
    assert torch.equal(probs_fast.argmax(-1), label)
    wave_fast = quick.synth(st, label)
    assert wave_fast.shape == wave.shape == (2, pipeline.num_samples) and close(wave_fast, wave)
    assert wave.abs().max() > 0
    assert quick.branch.backend == quick.synth.backend == "onnxruntime"
    assert len(list(cache.glob("branch-*.onnx"))) == 1 and len(list(cache.glob("synth-*.onnx"))) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported although the graph is cached")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    again = FastPipeline(pipeline, "onnxruntime", cache)
    wave_again, label_again = again(pictures)  # the whole path, from the cached graphs
    assert close(wave_again, wave) and torch.equal(label_again, label)


def test_eager_when_onnxruntime_is_missing(pipeline, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    assert not fast.onnxruntime_available()
    quick = FastPipeline(pipeline, "onnxruntime", tmp_path)
    assert quick.backend == "eager" and "onnx / onnxruntime are not installed" in capsys.readouterr().err
    assert FastPipeline(pipeline, "auto", tmp_path).backend == "eager"
    pictures = torch.rand(1, 3, 224, 224)
    with torch.inference_mode():
        wave, label = pipeline(pictures)
    wave_fast, label_fast = quick(pictures)
    assert torch.equal(wave_fast, wave) and torch.equal(label_fast, label)
    assert list(tmp_path.iterdir()) == []


@needs_ort
def test_export_failure_falls_back_to_eager(pipeline, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    quick = FastPipeline(pipeline, "auto", tmp_path)
    pictures = torch.rand(1, 3, 224, 224)
    wave_fast, _ = quick(pictures)
    assert quick.branch.backend == "eager"
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "branch runs in PyTorch (ONNX Runtime could not take it: unsupported operator)" in err
    with torch.inference_mode():
        assert torch.equal(wave_fast, pipeline(pictures)[0])


def test_unknown_backend_is_refused(pipeline):
    with pytest.raises(ValueError, match="auto | onnxruntime | eager"):
        FastPipeline(pipeline, "tensorrt")
