"""The CUDA path (issue 24): the training benchmark's caches, two ranks on one GPU, resume with and without
`gan.deterministic`, and generation on CUDA against the CPU. Marked `gpu`: skipped, with the reason, where
torch sees no CUDA device; run them with `uv run pytest -m gpu`.

Stated tolerance without `gan.deterministic`: a run resumed at step 3 logs every loss of steps 4-6 within
2 % (relative) of an uninterrupted run's (the issue saw g_fm 0.81353 against 0.81410 at step 6, 0.07 %);
its weights are not bitwise equal. With `gan.deterministic: true` they are, logs and models/gan.pt alike.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import make_workspace, tiny_codec  # noqa: E402
from test_cli import TinyI3D, make_models  # noqa: E402

import conchshell.inference.pipeline
from conchshell.artifacts.stores import PairDataset
from conchshell.inference.generate import generate
from conchshell.inference.pipeline import load_pipeline

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "stages" / "train_gan.py"
pytestmark = [pytest.mark.gpu, pytest.mark.slow]

INTERRUPTED = """
import sys
sys.path.insert(0, {stages!r})
from conchshell.training.losses import ConchShellLoss
real, calls = ConchShellLoss.generator_loss, [0]
def poisoned(self, *args, **kwargs):
    calls[0] += 1
    total, terms = real(self, *args, **kwargs)
    return (total * float("nan") if calls[0] == {at} else total), terms
ConchShellLoss.generator_loss = poisoned
import train_gan
sys.exit(train_gan.main([]))
"""


def stage(root: Path, interrupt_at: int | None = None, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """stages/train_gan.py in a fresh process (CUDA starts after gan.deterministic is applied), optionally
    stopped by a NaN G loss at step `interrupt_at` (its checkpoint then holds the step before)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra_env or {})}
    code = ["-c", INTERRUPTED.format(stages=str(STAGE.parent), at=interrupt_at)] if interrupt_at else [str(STAGE)]
    return subprocess.run([sys.executable, *code], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def logged(root: Path, metric: str) -> np.ndarray:
    lines = (root / f"dvclive/plots/metrics/{metric}.tsv").read_text().splitlines()[1:]
    return np.array([float(line.split("\t")[1]) for line in lines])


def whole_and_resumed(tmp_path: Path, deterministic: bool) -> tuple[Path, Path]:
    params = f"  steps: 6\n  checkpoint_every: 1\n  deterministic: {str(deterministic).lower()}\n"
    whole = make_workspace(tmp_path / "whole", st_frames=2, params=params)  # T' 2: G's resize runs
    resumed = make_workspace(tmp_path / "resumed", st_frames=2, params=params)
    done = stage(whole)
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = stage(resumed, interrupt_at=4)
    assert stopped.returncode == 2 and "non-finite G loss" in stopped.stderr, stopped.stderr[-3000:]
    again = stage(resumed)
    assert again.returncode == 0 and "resumed from step 3" in again.stdout, again.stderr[-3000:]
    return whole, resumed


def test_deterministic_resume_is_bitwise_on_cuda(tmp_path):
    whole, resumed = whole_and_resumed(tmp_path, deterministic=True)
    for name in ("metrics.json", "plots/metrics/g_fm.tsv", "plots/metrics/d_hinge.tsv", "plots/metrics/g_mel.tsv"):
        assert (resumed / "dvclive" / name).read_text() == (whole / "dvclive" / name).read_text(), name
    assert (resumed / "models/gan.pt").read_bytes() == (whole / "models/gan.pt").read_bytes()


def test_resume_without_deterministic_stays_within_the_stated_tolerance(tmp_path):
    whole, resumed = whole_and_resumed(tmp_path, deterministic=False)
    for metric in ("g_fm", "g_adv", "d_hinge", "g_mel", "g_wave"):
        np.testing.assert_allclose(logged(resumed, metric), logged(whole, metric), rtol=0.02, err_msg=metric)


def test_two_ranks_share_one_gpu(tmp_path):
    """More ranks than GPUs: both ranks on cuda:0 over gloo, with a note, and identical replicas."""
    from test_train_gan import free_port

    root = make_workspace(tmp_path, clips=5, params="  steps: 3\n  checkpoint_every: 3\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    cmd += ["--master-port", str(free_port()), str(STAGE)]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0")[:1],
    }
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "share 1 GPU" in done.stderr
    hashes = torch.load(root / "models/gan.pt", weights_only=True)["replica_sha256"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]


def test_train_step_benchmark_caches_audio_through_a_cuda_codec(tmp_path):
    spec = importlib.util.spec_from_file_location("train_step", REPO / "benchmarks/train_step.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    manifest = bench.make_caches(tmp_path, tiny_codec().cuda())
    item = PairDataset(manifest, tmp_path / "audio.h5", tmp_path / "images.h5", "high", "train")[0]
    assert item["audio"].shape[-1] == bench.SAMPLES and torch.isfinite(item["latent"]).all()


def test_generation_on_cuda_matches_the_cpu(tmp_path, monkeypatch):
    def seeded_i3d(*args, **kwargs):
        torch.manual_seed(3)
        return TinyI3D()

    monkeypatch.setattr(conchshell.inference.pipeline, "build_i3d", seeded_i3d)
    models = make_models(tmp_path / "models")
    rng = np.random.default_rng(0)
    from PIL import Image

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)).save(paths[-1])
    cpu = list(generate(load_pipeline(models, device="cpu"), paths, batch_size=3, progress=False))
    gpu = list(generate(load_pipeline(models, device="cuda"), paths, batch_size=3, progress=False))
    for a, b in zip(cpu, gpu):
        assert a.category == b.category
        assert np.abs(a.wave - b.wave).max() <= 1e-2 * np.abs(a.wave).max()  # TF32 convolutions on CUDA
