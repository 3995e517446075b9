"""The train_gan stage on tiny caches: outputs, DVCLive logs, NaN stop, resume after SIGKILL, 2-process DDP,
and resume that is only resume (issue 17): a finished or foreign checkpoint is never continued."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import make_workspace  # noqa: E402

from conchshell.artifacts.checkpoints import load_generator
from conchshell.errors import ConchError
from conchshell.io import load_torch
from conchshell.training.losses import ConchShellLoss

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
    gan = load_generator(root / "models/gan.pt")
    frames = gan.generator_config["frames"]
    assert gan.generator(torch.randn(1, 2048, 2), torch.tensor([1])).shape == (1, 64, frames)
    # G stores the training pictures' S-T statistics (make_workspace's features are N(0, 1): mean ≈ 0, std ≈ 1)
    assert 0.6 < float(gan.generator.st_std.mean()) < 1.4 and float(gan.generator.st_mean.abs().mean()) < 0.6
    assert (root / "dvclive/metrics.json").is_file()
    assert (root / "dvclive/plots/metrics/g_mel.tsv").read_text().count("\n") == 4  # header + 3 steps
    assert (root / "dvclive/plots/images/spectrogram.png").is_file()
    assert not (root / "checkpoints/gan/last.pt").exists()  # the run finished: nothing to resume


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
    """Killed (SIGKILL) mid-run, then started again: resumes at the last checkpoint and logs every step.

    The first run is given far more steps than it can finish, so however fast the machine (an H200 ran 40
    steps before the first poll), the kill lands mid-run; the second run is then asked for 4 steps more."""
    root = make_workspace(tmp_path, params="  steps: 1000000\n  checkpoint_every: 2\n")
    ckpt = root / "checkpoints/gan/last.pt"
    proc = subprocess.Popen(
        [sys.executable, str(STAGE)],
        cwd=root,
        env=env_for_subprocess(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ckpt.exists(), "no checkpoint written before the kill"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = load_torch(ckpt)["step"]
    assert killed_at > 0 and killed_at % 2 == 0
    steps = killed_at + 4
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("steps: 1000000", f"steps: {steps}"))  # a run-length key
    shutil.rmtree(root / "dvclive")  # what `dvc repro` does to a stage's outputs before running it again
    done = subprocess.run(
        [sys.executable, str(STAGE)], cwd=root, env=env_for_subprocess(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed from step {killed_at}" in done.stdout
    assert load_torch(root / "models/gan.pt")["step"] == steps
    assert not ckpt.exists()
    assert logged_steps(root) == list(range(1, steps + 1))  # the whole history, not only the steps after the restart


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_ddp_keeps_ranks_identical(tmp_path):
    root = make_workspace(tmp_path, clips=5, params="  steps: 3\n  checkpoint_every: 3\n")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        str(STAGE),
    ]
    done = subprocess.run(cmd, cwd=root, env=env_for_subprocess(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_torch(root / "models/gan.pt")
    hashes = ckpt["replica_sha256"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert ckpt["step"] == 3


# -- resume that is only resume (issue 17) ------------------------------------------------------------
def logged_steps(root: Path, metric: str = "g_mel") -> list[int]:
    lines = (root / f"dvclive/plots/metrics/{metric}.tsv").read_text().splitlines()
    assert lines[0] == f"step\t{metric}"
    return [int(line.split("\t")[0]) for line in lines[1:]]


def interrupted_run(root: Path, monkeypatch, at_step: int) -> None:
    """Run the stage until a NaN G loss at `at_step` stops it: checkpoints/gan/last.pt holds step at_step - 1."""
    real = ConchShellLoss.generator_loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        total, terms = real(self, *args, **kwargs)
        return (total * float("nan") if calls["n"] == at_step else total), terms

    with monkeypatch.context() as m:
        m.setattr(ConchShellLoss, "generator_loss", poisoned)
        m.setenv("CONCHSHELL_DEBUG", "1")
        with pytest.raises(ConchError, match="non-finite G loss"):
            run_stage(root, monkeypatch)
    assert load_torch(root / "checkpoints/gan/last.pt")["step"] == at_step - 1


def change_image_features(root: Path) -> None:
    with h5py.File(root / "data/features/images.h5", "r+") as f:
        f["st_features"][...] = f["st_features"][...] + 1.0


def set_param(root: Path, line: str) -> None:
    params = root / "params.yaml"
    params.write_text(line + "\n" + params.read_text())


@pytest.mark.slow
def test_finished_run_with_changed_features_trains_from_step_zero(tmp_path, monkeypatch, capsys):
    root = make_workspace(tmp_path, params="  steps: 3\n  checkpoint_every: 1\n")
    assert run_stage(root, monkeypatch) == 0
    first = load_torch(root / "models/gan.pt")["generator"]
    change_image_features(root)
    shutil.rmtree(root / "dvclive")  # as DVC does before re-running the stage
    capsys.readouterr()
    assert run_stage(root, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "G trained 3 steps →" in out and "resumed" not in out
    assert logged_steps(root) == [1, 2, 3] and (root / "dvclive/metrics.json").is_file()
    second = load_torch(root / "models/gan.pt")["generator"]
    assert any(not torch.equal(first[k], second[k]) for k in first)


CHANGES = {
    "image features": change_image_features,
    "image_encoder": lambda root: set_param(root, "image_encoder: tcnn18"),
    "i3d": lambda root: set_param(root, "i3d:\n  batch_size: 3"),
    "manifest": lambda root: (root / "data/prepared/manifest.csv").write_text(
        (root / "data/prepared/manifest.csv").read_text().replace("images/p0_0.png", "images/p0_0b.png")
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("change", [None, *CHANGES])
def test_interrupted_run_resumes_only_with_the_same_inputs(tmp_path, monkeypatch, capsys, change):
    root = make_workspace(tmp_path, params="  steps: 4\n  checkpoint_every: 1\n")
    interrupted_run(root, monkeypatch, at_step=3)
    if change is not None:
        CHANGES[change](root)
    shutil.rmtree(root / "dvclive")
    capsys.readouterr()
    assert run_stage(root, monkeypatch) == 0
    out = capsys.readouterr().out
    if change is None:
        assert "resumed from step 2" in out
    else:
        assert "resumed" not in out, f"a run with a different {change} continued the old checkpoint"
    assert logged_steps(root) == [1, 2, 3, 4]


@pytest.mark.slow
def test_resumed_history_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    """Killed at step 3 and resumed: DVCLive's files are byte for byte those of a run never stopped."""
    whole = make_workspace(tmp_path / "whole", params="  steps: 5\n  checkpoint_every: 1\n")
    assert run_stage(whole, monkeypatch) == 0
    resumed = make_workspace(tmp_path / "resumed", params="  steps: 5\n  checkpoint_every: 1\n")
    interrupted_run(resumed, monkeypatch, at_step=4)
    shutil.rmtree(resumed / "dvclive")
    assert run_stage(resumed, monkeypatch) == 0
    for name in ("metrics.json", "plots/metrics/g_mel.tsv", "plots/metrics/d_hinge.tsv", "plots/metrics/lr_g.tsv"):
        assert (resumed / "dvclive" / name).read_text() == (whole / "dvclive" / name).read_text(), name
    assert (resumed / "models/gan.pt").read_bytes() == (whole / "models/gan.pt").read_bytes()
