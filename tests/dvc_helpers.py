"""A tiny copy of this repository for tests that run DVC itself (dvc repro / exp run / push / pull).

The copy holds the working tree's code, dvc.yaml and .dvc/config, but no outputs and no dvc.lock, and a
params.yaml small enough for the whole pipeline to run in well under a minute on one CPU core.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
#: Committed files the copy leaves out: outputs of the real demo run, the lock that describes them, tests.
SKIP = ("tests/", "benchmarks/", "docs/", "dvclive/", "metrics/", "plots/", "dvc.lock", ".ci/")

#: Overrides of params.yaml that make the whole demo pipeline tiny.
TINY = {
    "level": "high",  # the cheapest level; the tests switch to low and back
    "data": {"pictures_per_category": 2, "pieces_per_category": 2, "seconds": 1.0, "image_size": 64},
    "vqvae": {"l_bins": 32, "width": 4, "depth": 1, "steps": 2, "batch_size": 2, "encode_batch_size": 8},
    "tcnn": {"epochs": 1, "batch_size": 8},
    "i3d": {"batch_size": 8},
    "gan": {
        "width": 0.02,
        "steps": 4,
        "warmup_steps": 2,
        "batch_size": 4,
        "loss_window_seconds": 0.1,
        "checkpoint_every": 2,
        "log_every": 1,
        "sample_every": 4,
    },
    "evaluate": {"samples": 1, "judge_epochs": 5, "batch_size": 8},
}


def tiny_params(overrides: dict = TINY) -> str:
    """params.yaml with `overrides` merged in (one level of sections)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for key, value in overrides.items():
        params[key] = {**params[key], **value} if isinstance(value, dict) else value
    return yaml.safe_dump(params, sort_keys=False)


def tool_env(root: Path) -> dict:
    """`python` = this interpreter (dvc.yaml's commands say `python stages/...`), the copy's package first."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(root),
        "OMP_NUM_THREADS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "DVC_NO_ANALYTICS": "1",
    }


def run(root: Path, *cmd: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `cmd` in `root` (dvc = this environment's DVC); fail the test with its stderr if it fails."""
    if cmd[0] == "dvc":
        cmd = (sys.executable, "-m", "dvc", *cmd[1:])
    done = subprocess.run(cmd, cwd=root, env=tool_env(root), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def tracked_files() -> list[str]:
    """The working tree's files git tracks or would add (uncommitted edits included)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [f for f in out if not f.startswith(SKIP) and (REPO / f).is_file()]


def make_tiny_repo(root: Path, overrides: dict = TINY) -> Path:
    """A git + DVC repository at `root`: this tree's code, tiny params, one commit; nothing run yet."""
    root.mkdir(parents=True, exist_ok=True)
    for rel in tracked_files():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    (root / "params.yaml").write_text(tiny_params(overrides))
    run(root, "git", "init", "-q", "-b", "main")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "tiny ConchShell")
    return root
