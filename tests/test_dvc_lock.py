"""The committed dvc.lock describes the committed tree: every code dependency and parameter it records
hashes (the way DVC hashes them, through DVC's own API) to what the checkout holds (issue 17).

Dependencies that are another stage's outputs (data/..., models/...) are not checked here: a clean clone
does not have them until `dvc pull` or `dvc repro`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dvc.repo import Repo

REPO = Path(__file__).resolve().parents[1]


def stale_dependencies(root: Path) -> list[str]:
    """'<stage>: <dep> <how>' for each non-output dependency whose hash differs from dvc.lock's."""
    with Repo(str(root)) as repo:
        stages = list(repo.index.stages)
        outs = [out.def_path for stage in stages for out in stage.outs]
        stale = []
        for stage in stages:
            for dep in stage.deps:
                path = str(dep.def_path)
                if any(path == out or path.startswith(out.rstrip("/") + "/") for out in outs):
                    continue
                for name, how in dep.status().items():
                    stale.append(f"{stage.name}: {name} {how}")
        return stale


def dvc(root: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_stale_dependencies_names_each_changed_code_dep_and_param(tmp_path):
    """The checker itself, on a two-stage pipeline: clean after `dvc repro`, then each edit is named."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code/a.py").write_text("A = 1\n")
    (tmp_path / "step.py").write_text("print(1)\n")
    (tmp_path / "params.yaml").write_text("n: 1\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  make:\n    cmd: python -c \"open('out.txt', 'w').write('x')\"\n"
        "    deps: [step.py, code]\n    params: [n]\n    outs: [out.txt]\n"
        "  use:\n    cmd: python -c \"open('use.txt', 'w').write(open('out.txt').read())\"\n"
        "    deps: [out.txt]\n    outs: [use.txt]\n"
    )
    dvc(tmp_path, "init", "--no-scm", "-q")
    dvc(tmp_path, "repro", "-q")
    assert stale_dependencies(tmp_path) == []
    (tmp_path / "out.txt").write_text("changed output")  # an output: the outs' business, not the lock's deps
    assert stale_dependencies(tmp_path) == []
    (tmp_path / "code/a.py").write_text("A = 2\n")
    (tmp_path / "params.yaml").write_text("n: 2\n")
    assert sorted(stale_dependencies(tmp_path)) == ["make: code modified", "make: params.yaml {'n': 'modified'}"]


@pytest.mark.slow
def test_committed_lock_matches_the_checkout():
    """Fails until dvc.lock is regenerated after a change to a stage's code or to params.yaml."""
    stale = stale_dependencies(REPO)
    assert not stale, "dvc.lock is stale (regenerate it with `dvc repro` / `dvc commit`):\n" + "\n".join(stale)
