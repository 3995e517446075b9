"""The DVC workflows of the README on a tiny copy of this repository (issue 17), one `dvc repro` shared:

- after `dvc repro`, `dvc status` is clean and a second `dvc repro` runs nothing;
- `dvc push` to a local remote, `git clone` + `dvc pull` elsewhere: `dvc status` clean there and
  `conchshell generate` works without re-running a stage;
- `dvc exp run -S level=low` re-runs only train_gan, evaluate and listening; `-S level=high` is restored from DVC's run
  cache; `dvc exp show` / `dvc metrics diff` compare them;
- `dvc exp run -S image_encoder=tcnn18` after the TCNN-6 run: new image features, a new G trained from step 0,
  every DVC output present (the finished TCNN-6 checkpoint is not "resumed").
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dvc_helpers import make_tiny_repo, run  # noqa: E402

from conchshell.io import file_sha256  # noqa: E402

pytestmark = pytest.mark.slow


def ran(output: str) -> set[str]:
    """Stages `dvc repro` / `dvc exp run` executed (not skipped, not restored from the run cache)."""
    return set(re.findall(r"Running stage '([a-z_]+)'", output))


def from_run_cache(output: str) -> set[str]:
    return set(re.findall(r"Stage '([a-z_]+)' is cached - skipping run", output))


def status_clean(root: Path) -> bool:
    return json.loads(run(root, "dvc", "status", "--json").stdout or "{}") == {}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny repository after one complete `dvc repro`, its results committed to git."""
    root = make_tiny_repo(tmp_path_factory.mktemp("dvc") / "repo")
    done = run(root, "dvc", "repro", timeout=600)
    assert ran(done.stdout) == {
        "prepare",
        "vqvae",
        "encode_audio",
        "train_tcnn",
        "encode_images",
        "train_gan",
        "evaluate",
        "listening",
    }
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "tiny run")
    return root


def test_status_clean_and_second_repro_runs_nothing(tiny):
    assert status_clean(tiny)
    again = run(tiny, "dvc", "repro")
    assert ran(again.stdout) == set() and from_run_cache(again.stdout) == set()
    assert not (tiny / "checkpoints/gan/last.pt").exists()  # finished: nothing left to "resume"


def test_push_then_pull_in_a_second_clone(tiny, tmp_path):
    remote = tmp_path / "remote"
    run(tiny, "dvc", "remote", "add", "-d", "local", str(remote))
    run(tiny, "git", "commit", "-q", "-am", "local DVC remote")
    run(tiny, "dvc", "push")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(tiny), str(clone))
    assert not (clone / "models/gan.pt").exists()
    run(clone, "dvc", "pull")
    assert status_clean(clone)
    for out in ("models/gan.pt", "models/vqvae.pt", "models/tcnn.pt", "data/features/images.h5"):
        assert file_sha256(clone / out) == file_sha256(tiny / out), out
    picture = sorted((clone / "data/prepared/images").glob("*.png"))[0]
    run(clone, sys.executable, "-m", "conchshell.cli", "generate", str(picture), "-o", "generated/one.wav")
    assert (clone / "generated/one.wav").stat().st_size > 1000
    assert ran(run(clone, "dvc", "repro").stdout) == set()  # nothing re-ran to get there


def test_level_low_reruns_gan_and_evaluate_and_high_comes_from_the_run_cache(tiny):
    low = run(tiny, "dvc", "exp", "run", "-S", "level=low", "-n", "low", timeout=600)
    assert ran(low.stdout) == {"train_gan", "evaluate", "listening"}
    shown = json.loads(run(tiny, "dvc", "exp", "show", "--json").stdout)
    assert "low" in json.dumps(shown)
    diff = json.loads(run(tiny, "dvc", "metrics", "diff", "main", "--json").stdout or "{}")
    assert "dvclive/metrics.json" in diff or "metrics/eval.json" in diff
    high = run(tiny, "dvc", "exp", "run", "-S", "level=high", "-n", "high-again", timeout=600)
    assert ran(high.stdout) == set()
    assert {"train_gan", "evaluate"} <= from_run_cache(high.stdout)
    assert status_clean(tiny)


def test_image_encoder_tcnn18_trains_a_new_generator(tiny):
    before = {p: file_sha256(tiny / p) for p in ("data/features/images.h5", "models/gan.pt")}
    done = run(tiny, "dvc", "exp", "run", "-S", "image_encoder=tcnn18", "-n", "tcnn18", timeout=600)
    trained = {"train_tcnn", "encode_images", "train_gan", "evaluate"}
    assert trained <= ran(done.stdout) <= trained | {"listening"}  # listening only if the samples' bytes changed
    assert "G trained 4 steps →" in done.stdout + done.stderr and "resumed" not in done.stdout + done.stderr
    for path, sha in before.items():
        assert file_sha256(tiny / path) != sha, f"{path} unchanged by image_encoder=tcnn18"
    steps = (tiny / "dvclive/plots/metrics/g_total.tsv").read_text().splitlines()[1:]
    assert [int(line.split("\t")[0]) for line in steps] == [1, 2, 3, 4]
    assert status_clean(tiny)
