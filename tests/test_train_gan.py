"""The train_gan stage on tiny caches: outputs, DVCLive logs, NaN stop, resume after SIGKILL, 2-process DDP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import make_workspace  # noqa: E402

from conchshell.errors import ConchError
from conchshell.io import load_torch
from conchshell.losses import ConchShellLoss
from conchshell.training.gan import load_generator

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "stages" / "train_gan.py"


def run_stage(root: Path, monkeypatch) -> int:
    """Run stages/train_gan.py's main in-process with `root` as the working directory."""
    monkeypatch.chdir(root)
    sys.path.insert(0, str(STAGE.parent))
    try:
        import train_gan as stage
    finally:
        sys.path.pop(0)
    return stage.main([])


def env_for_subprocess() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_stage_writes_gan_and_logs(tmp_path, monkeypatch):
    root = make_workspace(tmp_path, params="  steps: 3\n  checkpoint_every: 2\n")
    assert run_stage(root, monkeypatch) == 0
    ckpt = load_torch(root / "models/gan.pt")
    assert {"level", "generator", "generator_config", "categories", "config", "step"} <= set(ckpt)
    assert ckpt["step"] == 3 and ckpt["level"] == "high" and ckpt["categories"] == ["a", "b"]
    g, meta = load_generator(root / "models/gan.pt")
    frames = meta["generator_config"]["frames"]
    assert g(torch.randn(1, 2048, 2), torch.tensor([1])).shape == (1, 64, frames)
    assert (root / "dvclive/metrics.json").is_file()
    assert (root / "dvclive/plots/metrics/g_mel.tsv").read_text().count("\n") == 4  # header + 3 steps
    assert (root / "dvclive/plots/images/spectrogram.png").is_file()
    assert load_torch(root / "checkpoints/gan/last.pt")["step"] == 3


@pytest.mark.slow
def test_non_finite_loss_names_the_step(tmp_path, monkeypatch):
    root = make_workspace(tmp_path, params="  steps: 5\n  checkpoint_every: 1\n")
    real = ConchShellLoss.generator_loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        total, terms = real(self, *args, **kwargs)
        return (total * float("nan") if calls["n"] == 3 else total), terms

    monkeypatch.setattr(ConchShellLoss, "generator_loss", poisoned)
    monkeypatch.setenv("CONCHSHELL_DEBUG", "1")
    with pytest.raises(ConchError, match="non-finite G loss .* at step 3"):
        run_stage(root, monkeypatch)
    assert load_torch(root / "checkpoints/gan/last.pt")["step"] == 2  # the last good step, intact
    assert not (root / "models/gan.pt").exists()


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    root = make_workspace(tmp_path, params="  steps: 40\n  checkpoint_every: 2\n")
    ckpt = root / "checkpoints/gan/last.pt"
    proc = subprocess.Popen([sys.executable, str(STAGE)], cwd=root, env=env_for_subprocess(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert ckpt.exists(), "no checkpoint written before the kill"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = load_torch(ckpt)["step"]
    assert 0 < killed_at < 40
    done = subprocess.run([sys.executable, str(STAGE)], cwd=root, env=env_for_subprocess(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from step" in done.stdout
    assert load_torch(root / "models/gan.pt")["step"] == 40
    assert load_torch(ckpt)["step"] == 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_ddp_keeps_ranks_identical(tmp_path):
    root = make_workspace(tmp_path, clips=5, params="  steps: 3\n  checkpoint_every: 3\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(STAGE)]
    done = subprocess.run(cmd, cwd=root, env=env_for_subprocess(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_torch(root / "models/gan.pt")
    hashes = ckpt["replica_sha256"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert ckpt["step"] == 3
