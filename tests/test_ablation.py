"""benchmarks/ablation.py: the same budget with and without D, per seed, on a tiny synthetic store."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gan_helpers import make_workspace  # noqa: E402

SCRIPT = Path(__file__).parents[1] / "benchmarks/ablation.py"


def ablation():
    spec = importlib.util.spec_from_file_location("ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_d_sets_the_d_terms_to_zero_and_each_run_its_own_seed():
    script = ablation()
    base = {"seed": 0, "gan": {"lambdas": {"adv": 0.5, "fm": 3.0, "wave": 40.0, "mel": 15.0}, "steps": 830}}
    with_d = script.run_params(base, "with_d", 2, 100, 9)
    without = script.run_params(base, "without_d", 2, 100, 9)
    assert with_d["gan"]["lambdas"] == base["gan"]["lambdas"] and with_d["gan"]["seed"] == 2
    assert without["gan"]["lambdas"] == {"adv": 0.0, "fm": 0.0, "wave": 40.0, "mel": 15.0}
    assert without["gan"]["steps"] == with_d["gan"]["steps"] == 100 and without["seed"] == 0
    assert with_d["evaluate"] == {"samples": 0, "max_clips_per_split": 9}
    released = script.run_params({"gan": {"profile": "released-code"}}, "without_d", 0, None, 9)
    assert released["gan"]["released_code"]["lambdas"]["adv"] == 0.0 and "steps" not in released["gan"]
    assert base["gan"]["lambdas"]["adv"] == 0.5  # the base is not changed


def test_table_gives_mean_and_sd_per_arm_beside_the_fixed_figures():
    script = ablation()
    fixed = {"judge.val_accuracy": 1.0, "val.ceiling.mel_l1": 1.5}
    runs = {
        "with_d": [{**fixed, "val.mel_l1": 2.0}, {**fixed, "val.mel_l1": 4.0}],
        "without_d": [{**fixed, "val.mel_l1": 3.0}, {**fixed, "val.mel_l1": None}],
    }
    text = script.table(runs)
    # mean 3, sd (ddof 1) √2 = 1.414; a missing figure is left out
    assert "| mel_l1 | 3.000 ± 1.414 | 3.000 ± 0.000 | ceiling 1.500 |" in text
    assert "| judge.val_accuracy | 1.000 |" in text and "with_d (n=2)" in text


@pytest.mark.slow
def test_ablation_trains_and_scores_both_arms_per_seed_and_resumes(tmp_path):
    root = make_workspace(tmp_path / "repo", clips=4)
    (root / "params.yaml").write_text(
        "seed: 0\nlevel: high\ndata:\n  source: bop\ngan:\n  size: demo\n  width: 0.02\n  batch_size: 2\n"
        "  steps: 3\n  warmup_steps: 1\n  lr_g: 1.0e-3\n  lr_d: 1.0e-3\n  loss_window_seconds: 0.1\n"
        "  log_every: 1\n  sample_every: 3\n  checkpoint_every: 1\nevaluate:\n  judge_epochs: 5\n"
    )
    out = tmp_path / "ablation"
    argv = ["--root", str(root), "--seeds", "0", "1", "--out", str(out), "--device", "cpu", "--jobs", "2"]
    assert ablation().main(argv) == 0
    for arm in ("with_d", "without_d"):
        for seed in (0, 1):
            run = out / f"{arm}-seed{seed}"
            metrics = json.loads((run / "metrics/eval.json").read_text())
            assert "val.category_agreement" in metrics and "val.mel_l1" in metrics
            logged = {p.stem for p in (run / "dvclive/plots/metrics").glob("*.tsv")}
            assert ("d_hinge" in logged) == (arm == "with_d"), logged  # D stepped only with D
            assert ("g_adv" in logged) == (arm == "with_d")
    table = (out / "ablation.md").read_text()
    assert "| category_agreement |" in table and "judge.val_accuracy" in table
    assert set(json.loads((out / "ablation.json").read_text())) == {
        f"{a}-seed{s}" for a in ("with_d", "without_d") for s in (0, 1)
    }
    trained = (out / "with_d-seed0/models/gan.pt").stat().st_mtime_ns
    (out / "without_d-seed1/metrics/eval.json").unlink()  # a run cut short: only it runs again
    assert ablation().main(argv) == 0
    assert (out / "with_d-seed0/models/gan.pt").stat().st_mtime_ns == trained
    assert (out / "without_d-seed1/metrics/eval.json").is_file()
