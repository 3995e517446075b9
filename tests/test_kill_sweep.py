"""Issue 26.1: a stage killed (-9) mid-write leaves no temporary, whether DVC then re-runs it or restores
its outputs from the run cache (which runs no code of ours: the janitor, `conchshell.io.guard_temporaries`,
removes it at the kill; tests/test_janitor.py). When the janitor dies with the stage (a cgroup OOM kill),
the re-run sweeps what is left (`conchshell.io.sweep_folders`, tests/test_io.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dvc_helpers import make_tiny_repo, run, tool_env  # noqa: E402

pytestmark = pytest.mark.slow

#: Runs stage `encode_audio`, SIGKILLs its janitor and then itself inside the first write of the store.
KILLED_WITH_ITS_JANITOR = """
import os, signal, sys
sys.path.insert(0, "stages")
import conchshell.artifacts.stores as stores
from conchshell import io
def killed(self, *args):
    os.kill(io._JANITOR.process.pid, signal.SIGKILL)  # dead before it can read the end of its pipe
    os.kill(os.getpid(), signal.SIGKILL)
stores.StoreWriter.write = killed
import encode_audio
encode_audio.main([])
"""

#: sitecustomize.py for the stage DVC runs: `stages/<stage>.py` SIGKILLs itself in its first call of
#: `<module>.<function>` whose arguments mention `<cut>` (a real kill -9 mid-write, under `dvc repro`).
KILL_HOOK = """
import os, signal, sys
if os.path.basename((getattr(sys, "argv", None) or [""])[0]) == "{stage}.py":
    import {module} as target
    written = target.{function}
    def killed(*args, **kwargs):
        if "{cut}" in str(args):
            print("killed writing", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return written(*args, **kwargs)
    target.{function} = killed
"""


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp"))


def test_a_killed_stage_and_janitor_leave_nothing_after_dvc_repro(tmp_path):
    root = make_tiny_repo(tmp_path / "repo")
    run(root, "dvc", "repro", "vqvae")
    killed = subprocess.run([sys.executable, "-c", KILLED_WITH_ITS_JANITOR], cwd=root, env=tool_env(root))
    assert killed.returncode == -9
    features = root / "data/features"
    (litter,) = list(features.glob(".audio.h5.*.tmp"))  # what kill -9 left
    assert litter.stat().st_size > 0
    run(root, "dvc", "repro", "encode_audio")
    assert sorted(p.name for p in features.iterdir()) == [".gitignore", "audio.h5"]  # DVC's, and the store


def kill_mid_write(root: Path, stage: str, module: str, function: str, cut: str = "") -> str:
    """`dvc repro -f <stage>` with the stage SIGKILLed mid-write (KILL_HOOK); → what it printed."""
    (root / "hook").mkdir(exist_ok=True)
    (root / "hook/sitecustomize.py").write_text(
        KILL_HOOK.format(stage=stage, module=module, function=function, cut=cut)
    )
    env = {**tool_env(root), "PYTHONPATH": f"{root / 'hook'}:{root}"}
    cmd = [sys.executable, "-m", "dvc", "repro", "-f", "-s", stage]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    (root / "hook/sitecustomize.py").unlink()
    assert done.returncode != 0 and "killed writing" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def restored(root: Path, stage: str) -> None:
    """`dvc repro <stage>` checks the outputs out of the run cache (runs nothing)."""
    done = run(root, "dvc", "repro", stage)
    assert re.search(rf"Stage '{stage}' is cached - skipping run, checking out outputs", done.stdout), done.stdout
    assert f"Running stage '{stage}'" not in done.stdout


def test_a_stage_killed_mid_write_leaves_nothing_when_dvc_restores_from_the_run_cache(tmp_path):
    root = make_tiny_repo(tmp_path / "repo")
    run(root, "dvc", "repro", "encode_audio")  # the run cache now holds encode_audio's outputs
    printed = kill_mid_write(root, "encode_audio", module="conchshell.artifacts.stores", function="StoreWriter.write")
    features = root / "data/features"
    assert not (features / "audio.h5").exists()  # DVC removed the output before running the stage
    restored(root, "encode_audio")
    assert (features / "audio.h5").is_file() and temporaries(features) == [], printed


def test_evaluate_killed_writing_samples_leaves_no_folder_when_dvc_restores_it(tmp_path):
    root = make_tiny_repo(tmp_path / "repo")
    run(root, "dvc", "repro", "evaluate", timeout=600)
    printed = kill_mid_write(
        root, "evaluate", module="conchshell.audio.files", function="write_wav", cut="_ground_truth.wav"
    )
    restored(root, "evaluate")
    assert (root / "samples").is_dir() and temporaries(root) == [], printed
