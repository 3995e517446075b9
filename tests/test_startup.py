"""Start-up cost: `--help`, argument errors and `info` import no heavy module; `generate` pulls in no
pytorchvideo / torchvision / sympy / torch._dynamo unless i3d.arch is r50. (Times are measured in benchmarks/.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pytorchvideo", "torchvision", "sympy", "torch._dynamo", "pandas", "h5py", "librosa", "matplotlib")


def modules_after(code: str, cwd: Path = REPO) -> dict:
    """Run `code` in a fresh interpreter; → {"rc": exit status, "heavy": the HEAVY modules it imported}."""
    probe = (
        "import sys, json\n"
        "rc = 0\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except SystemExit as e:\n    rc = e.code\n"
        f"print(json.dumps({{'rc': rc, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["generate", "--help"], ["generate", "x.png"], ["generate", "x.png", "-o", "o", "--batch-size", "0"]],
)
def test_help_and_argument_errors_import_nothing_heavy(argv):
    result = modules_after(f"from conchshell.cli import main\nsys.exit(main({argv!r}))")
    assert result["rc"] != 0 or argv[-1] == "--help"
    assert result["heavy"] == []


def test_info_imports_no_model_stack(tmp_path):
    """Without models nothing heavy; with them only torch (to read the checkpoints)."""
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    code = "from conchshell.cli import main\nsys.exit(main(['info', '--models', 'm', '--features', 'f']))"
    assert modules_after(code, tmp_path) == {"rc": 0, "heavy": []}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "tcnn.pt").write_bytes(b"not a checkpoint")
    result = modules_after(code, tmp_path)
    assert result["rc"] == 0 and "torch" in result["heavy"]
    assert not {"pytorchvideo", "torchvision", "sympy", "torch._dynamo", "pandas"} & set(result["heavy"])


def test_generate_path_imports_only_torch_for_inception():
    code = (
        "import conchshell.inference.pipeline, conchshell.inference.export, conchshell.artifacts.checkpoints\n"
        "from conchshell.artifacts.i3d import build_i3d\n"
        "build_i3d(arch='inception')\n"
    )
    result = modules_after(code)
    assert result["rc"] == 0 and "torch" in result["heavy"]
    assert not {"pytorchvideo", "torchvision", "sympy", "torch._dynamo", "pandas"} & set(result["heavy"])


@pytest.mark.slow
def test_onnx_runtime_path_imports_no_torch():
    """What `generate` imports when the models' ONNX bundle exists (tests/test_fast.py runs the whole command)."""
    code = "import conchshell.cli, conchshell.inference.generate, conchshell.inference.runtime, conchshell.audio.files, conchshell.web.composer\n"
    assert modules_after(code) == {"rc": 0, "heavy": []}


def test_inference_imports_no_training_module():
    """Issue 12: generate, fast, evaluation and serve load models through conchshell.artifacts.checkpoints, not training."""
    code = (
        "import sys\n"
        "import conchshell.cli, conchshell.inference.pipeline, conchshell.inference.export, conchshell.evaluation.scores, conchshell.web.composer\n"
        "print(sorted(m for m in sys.modules if m.startswith('conchshell.training')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_r50_imports_pytorchvideo_when_used():
    result = modules_after("from conchshell.artifacts.i3d import build_i3d\nbuild_i3d(arch='r50')")
    assert "pytorchvideo" in result["heavy"]
