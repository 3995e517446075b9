"""The package's layers (pyproject's import-linter contracts): kept by the tree, broken by an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOT_MODULES = {"__init__.py", "cli.py", "config.py", "errors.py", "io.py", "paths.py"}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_the_package_root_holds_only_the_vocabulary_and_the_entry_point():
    assert {p.name for p in (REPO / "conchshell").glob("*.py")} == ROOT_MODULES


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(REPO / "conchshell", root / "conchshell", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def test_the_contracts_hold(copy):
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("artifacts/checkpoints.py", "from conchshell.inference import runtime"),  # the circle issue 23 found
        ("models/generator.py", "from conchshell.artifacts import checkpoints"),  # a model reading files
        ("evaluation/report.py", "from conchshell import cli"),  # evaluation up to the entry point
    ],
)
def test_an_upward_import_breaks_them(copy, module, upward):
    path = copy / "conchshell" / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n{upward}  # noqa\n")
        result = lint_imports(copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
