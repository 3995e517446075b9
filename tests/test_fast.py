"""The fast inference path (conchshell.inference.export, conchshell.inference.runtime): ONNX Runtime matches eager PyTorch, runs from the
cached bundle without importing torch, and falls back cleanly.

Tolerance: waves, S-T features and class probabilities within 1e-4 × (1 + max |eager|) absolute, labels equal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import make_models  # noqa: E402

from conchshell.errors import ConchError
from conchshell.inference import engine, runtime
from conchshell.inference.export import FastPipeline
from conchshell.inference.pipeline import Pipeline, load_pipeline

pytestmark = pytest.mark.usefixtures("one_thread")
needs_ort = pytest.mark.skipif(not runtime.onnxruntime_available(), reason="onnx / onnxruntime not installed")
REPO = Path(__file__).resolve().parents[1]


def close(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.abs(a - b).max() <= 1e-4 * (1 + np.abs(b).max()))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return make_models(tmp_path_factory.mktemp("fast") / "models", image_size=224)  # tiny G, real Inception-I3D


@pytest.fixture(scope="module")
def pipeline(models) -> Pipeline:
    return load_pipeline(models)


def pictures(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)


@needs_ort
def test_onnxruntime_matches_eager_for_any_batch_and_caches_one_bundle(pipeline, tmp_path, monkeypatch):
    quick = FastPipeline(pipeline, "auto", tmp_path)
    assert quick.backend == "onnxruntime"
    x = pictures(3)
    with torch.inference_mode():
        st, probs = pipeline.branch(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255)
    wave, label = pipeline.run(x)
    out = quick.outputs(x)
    assert close(out["st"], st) and close(out["probs"], probs) and st.abs().max() > 0.1
    assert np.array_equal(out["label"], label) and close(out["wave"], wave) and np.abs(wave).max() > 0
    assert out["wave"].shape == (3, pipeline.num_samples)
    one_wave, one_label = quick.run(x[1:2])  # the same graph takes any batch size
    assert close(one_wave, wave[1:2]) and one_label.tolist() == label[1:2].tolist()
    (bundle,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    optimised = f"opt-{runtime.cpu_fingerprint()}"  # written by the first session on this CPU
    assert sorted(p.name for p in bundle.iterdir()) == ["files.json", "meta.json", optimised, "pipeline.onnx"]
    assert sorted(p.name for p in (bundle / optimised).iterdir()) == ["files.json", "pipeline.data", "pipeline.onnx"]
    assert (bundle / optimised / "pipeline.data").stat().st_size > (bundle / optimised / "pipeline.onnx").stat().st_size
    meta = json.loads((bundle / "meta.json").read_text())
    assert meta["level"] == pipeline.level and meta["audio_rate"] == pipeline.sample_rate
    assert meta["seconds"] * meta["audio_rate"] == pipeline.num_samples

    def no_export(*args, **kwargs):
        raise AssertionError("exported although the bundle is cached")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    again_wave, again_label = FastPipeline(pipeline, "onnxruntime", tmp_path).run(x)  # from the optimised graph
    assert close(again_wave, wave) and np.array_equal(again_label, label)
    unpacked = runtime.OrtPipeline(bundle, threads=1, prepack=False).run(x)  # a one-picture command's session
    assert close(unpacked[0], wave) and np.array_equal(unpacked[1], label)
    shutil.rmtree(bundle / optimised)
    assert close(FastPipeline(pipeline, "auto", tmp_path).run(x)[0], wave)  # written again, through a temporary name
    assert (bundle / optimised / "pipeline.data").is_file() and not list(bundle.glob(".*.tmp"))


@needs_ort
def test_generate_from_the_bundle_imports_no_torch(models, tmp_path):
    """The first `generate` exports; the second reads only the bundle: no torch, same music as eager."""
    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\n")
    picture = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray(pictures(1)[0]).save(picture)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONCHSHELL_CACHE": str(tmp_path / "cache")}
    probe = (
        "import sys, json\nfrom conchshell.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))\n"
    )
    runs = []
    for name in ("first.wav", "second.wav"):
        argv = ["generate", str(picture), "-o", str(tmp_path / name), "--models", str(models), "--params", str(params)]
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs == [{"rc": 0, "torch": True}, {"rc": 0, "torch": False}]
    eager, _ = load_pipeline(models).run(pictures(1))
    first, second = sf.read(tmp_path / "first.wav")[0], sf.read(tmp_path / "second.wav")[0]
    assert np.array_equal(first, second) and close(second, eager[0])


@needs_ort
def test_bundle_knows_its_level(models, tmp_path):
    """--level other than the generator's: the same one-line error as the eager path, from the bundle's meta."""
    engine.load(models, cache_dir=tmp_path)  # exports
    with pytest.raises(ConchError, match="generator was trained for level high, not low"):
        engine.load(models, level="low", cache_dir=tmp_path)


def test_cache_keeps_the_bundles_used_last(models, tmp_path):
    """An export deletes all but the KEEP_BUNDLES bundles used last; a load marks its bundle used."""
    for age, name in enumerate(["new", "recent", "old", "older", "oldest"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text("{}")
        os.utime(tmp_path / name / "meta.json", ns=(10**18 - age * 10**9,) * 2)
    (tmp_path / ".writing.tmp").mkdir()  # another process's export, not yet renamed: never touched
    (tmp_path / ".writing.tmp" / "meta.json").write_text("{}")
    assert sorted(p.name for p in runtime.prune(tmp_path, keep=3)) == ["older", "oldest"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".writing.tmp", "new", "old", "recent"]
    if runtime.onnxruntime_available():
        engine.load(models, cache_dir=tmp_path)  # exports one more: the oldest two go
        key = runtime.models_key(models, None, None, 0, "inception", tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(
            [".writing.tmp", key, "new", "recent"]
        )
        os.utime(tmp_path / key / "meta.json", ns=(0, 0))
        engine.load(models, cache_dir=tmp_path)
        assert (tmp_path / key / "meta.json").stat().st_mtime > 10**6  # used now


@needs_ort
def test_a_read_only_bundle_still_runs(models, tmp_path, monkeypatch, capsys):
    """A cache the user may read but not write (a shared one): the bundle runs, unmarked, with no note."""
    engine.load(models, cache_dir=tmp_path)  # exports, and saves the optimised graph

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "utime", refused)
    capsys.readouterr()
    assert isinstance(engine.load(models, cache_dir=tmp_path), runtime.OrtPipeline)
    assert capsys.readouterr().err == ""


def test_eager_when_onnxruntime_is_missing(pipeline, models, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    assert not runtime.onnxruntime_available()
    quick = FastPipeline(pipeline, "onnxruntime", tmp_path)
    assert quick.backend == "eager" and "onnx / onnxruntime are not installed" in capsys.readouterr().err
    assert FastPipeline(pipeline, "auto", tmp_path).backend == "eager"
    x = pictures(1)
    wave, label = pipeline.run(x)
    wave_fast, label_fast = quick.run(x)
    assert np.array_equal(wave_fast, wave) and np.array_equal(label_fast, label)
    assert isinstance(engine.load(models, backend="auto", cache_dir=tmp_path), Pipeline)
    assert list(tmp_path.iterdir()) == []


@needs_ort
def test_export_failure_falls_back_to_eager(models, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    loaded = engine.load(models, cache_dir=tmp_path)
    assert isinstance(loaded, Pipeline)
    assert (
        "the pipeline runs in PyTorch (ONNX Runtime could not take it: unsupported operator)" in capsys.readouterr().err
    )
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []  # no half-written bundle


@needs_ort
def test_a_bundle_without_its_record_is_rebuilt(models, tmp_path, capsys):
    key = runtime.models_key(models, None, None, 0, "inception", tmp_path)
    (tmp_path / key).mkdir()
    (tmp_path / key / "pipeline.onnx").write_bytes(b"not a graph")
    (tmp_path / key / "meta.json").write_text(
        json.dumps({"level": "high", "categories": ["a"], "image_size": 224, "sample_rate": 16000, "num_samples": 16})
    )
    assert isinstance(engine.load(models, cache_dir=tmp_path), runtime.OrtPipeline)
    err = capsys.readouterr().err
    assert f"note: the ONNX bundle {key} failed its check (files.json missing or unreadable); rebuilding it" in err
    assert "runs in PyTorch" not in err


def test_file_hashes_are_computed_once_per_file_state(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "RACY_NS", -(10**12))  # trust a hash taken right after the write (see below)
    calls = []
    real = runtime.file_sha256
    monkeypatch.setattr(runtime, "file_sha256", lambda p: calls.append(p) or real(p))
    f = tmp_path / "model.pt"
    f.write_bytes(b"weights")
    db = tmp_path / "cache" / "file-hashes.json"
    first = runtime.HashCache(db)
    digest = first.sha256(f)
    first.save()
    assert runtime.HashCache(db).sha256(f) == digest and len(calls) == 1  # remembered across processes
    f.write_bytes(b"other weights")  # new size and mtime
    assert runtime.HashCache(db).sha256(f) != digest and len(calls) == 2


def test_models_key_follows_the_models_and_the_i3d_settings(models, tmp_path):
    key = runtime.models_key(models, None, None, 0, "inception", tmp_path)
    assert key == runtime.models_key(models, None, None, 0, "inception", tmp_path)
    assert key != runtime.models_key(models, None, None, 1, "inception", tmp_path)  # another seeded I3D
    assert key != runtime.models_key(models, None, None, 0, "r50", tmp_path)
    assert runtime.models_key(tmp_path / "none", None, None, 0, "inception", tmp_path) is None


def test_unknown_backend_is_refused(pipeline):
    with pytest.raises(ValueError, match="auto | onnxruntime | eager"):
        FastPipeline(pipeline, "tensorrt")


# -- issue 26.2: the bundle cache is verified, rebuilt when it fails, and keyed by content -----------------
def test_a_file_changed_within_the_clock_tick_of_its_hash_is_hashed_again(tmp_path, monkeypatch):
    """Racy entries: a hash taken within RACY_NS of the file's change is not trusted on the next lookup."""
    calls = []
    real = runtime.file_sha256
    monkeypatch.setattr(runtime, "file_sha256", lambda p: calls.append(p) or real(p))
    f = tmp_path / "gan.pt"
    f.write_bytes(b"a" * 100)
    cache = runtime.HashCache(tmp_path / "h.json")
    first = cache.sha256(f)
    with open(f, "r+b") as out:  # same size, same inode, maybe the same timestamp tick
        out.write(b"b" * 10)
    assert cache.sha256(f) != first and len(calls) == 2


def test_a_model_replaced_in_place_with_its_mtime_restored_gets_a_new_key(models, tmp_path):
    """cp -p / rsync --inplace -t: same size, inode and mtime; only the ctime tells. The stale bundle is not used."""
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    gan = copy / "gan.pt"
    before = runtime.models_key(copy, None, None, 0, "inception", tmp_path / "cache")
    st = gan.stat()
    data = bytearray(gan.read_bytes())
    middle = len(data) // 2  # inside the stored tensors: other weights, the same size
    data[middle : middle + 4096] = bytes(b ^ 0x55 for b in data[middle : middle + 4096])
    with open(gan, "r+b") as out:  # rsync --inplace: the same inode
        out.write(data)
    os.utime(gan, ns=(st.st_atime_ns, st.st_mtime_ns))  # -t / cp -p: the old mtime
    assert (gan.stat().st_ino, gan.stat().st_size, gan.stat().st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    after = runtime.models_key(copy, None, None, 0, "inception", tmp_path / "cache")
    assert after != before


def corrupt(path: Path, size: int = 65536) -> None:
    """Zero `size` bytes (or half the file) in the middle of `path`, in place: same size, same inode."""
    n = min(size, path.stat().st_size // 2)
    with open(path, "r+b") as out:
        out.seek((path.stat().st_size - n) // 2)
        out.write(bytes(n))


@needs_ort
@pytest.mark.parametrize("damage", ["zeroed graph", "zeroed optimised weights", "truncated graph"])
def test_a_damaged_bundle_is_rebuilt_and_gives_the_eager_music(models, pipeline, tmp_path, capsys, damage):
    """The issue's cases: 64 KB of the weights zeroed gave music 0.22 off eager, silently; a truncated bundle
    fell back to PyTorch on every run. Now: one line saying what was rebuilt, then the same music as eager."""
    x = pictures(2)
    eager_wave, eager_label = pipeline.run(x)
    engine.load(models, cache_dir=tmp_path, prepack=False)  # exports, and writes opt-<cpu>/
    (bundle,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    optimised = bundle / f"opt-{runtime.cpu_fingerprint()}"
    capsys.readouterr()
    if damage == "zeroed graph":
        corrupt(bundle / "pipeline.onnx")
        expected = f"note: the ONNX bundle {bundle.name} failed its check (pipeline.onnx: sha256 differs"
    elif damage == "zeroed optimised weights":
        corrupt(optimised / "pipeline.data")
        expected = f"note: {optimised} failed its check (pipeline.data: sha256 differs"
    else:
        size = (bundle / "pipeline.onnx").stat().st_size
        os.truncate(bundle / "pipeline.onnx", size // 3)
        expected = (
            f"note: the ONNX bundle {bundle.name} failed its check (pipeline.onnx has {size // 3} bytes, not {size})"
        )
    loaded = engine.load(models, cache_dir=tmp_path, prepack=False)
    err = capsys.readouterr().err
    assert isinstance(loaded, runtime.OrtPipeline)
    assert expected in err and "runs in PyTorch" not in err
    wave, label = loaded.run(x)
    assert close(wave, eager_wave) and np.array_equal(label, eager_label)
    again = engine.load(models, cache_dir=tmp_path, prepack=False)  # rebuilt: the next run is quiet and fast
    assert capsys.readouterr().err == "" and isinstance(again, runtime.OrtPipeline)
    assert runtime.bundle_problem(bundle, tmp_path) is None and runtime.bundle_problem(optimised, tmp_path) is None


CONCURRENT = """
import sys, json
from conchshell.inference import engine, runtime
loaded = engine.load(sys.argv[1], cache_dir=sys.argv[2], prepack=False)
print(json.dumps(type(loaded).__name__))
"""


@needs_ort
def test_concurrent_exports_are_safe(models, tmp_path):
    """Four processes load the same new models at once: one exports, none falls back (was: 'SystemError : 2')."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cache = tmp_path / "cache"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(models), str(cache)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outs):
        assert run.returncode == 0 and out.strip().splitlines()[-1] == '"OrtPipeline"', err
        assert "runs in PyTorch" not in err and "failed its check" not in err
    assert sum("exporting the models" in err for _, err in outs) == 1
    (bundle,) = [p for p in cache.iterdir() if p.is_dir()]
    assert runtime.bundle_problem(bundle, cache) is None and not list(cache.glob(".*.tmp"))
