"""dvc.yaml's shape: which parameter re-runs which stage, and every stage's deps cover the code it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from stage_closure import covering_deps, stage_closure

from conchshell.config import load_config, to_dict

REPO = Path(__file__).resolve().parents[1]
ORDER = ["prepare", "vqvae", "encode_audio", "train_tcnn", "encode_images", "train_gan", "evaluate", "listening"]


@pytest.fixture(scope="module")
def stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def params_of(stage: dict) -> set[str]:
    return {p if isinstance(p, str) else next(iter(p)) for p in stage.get("params", [])}


def reruns(stages: dict, key: str) -> set[str]:
    """Stages DVC re-runs when params key `key` changes (directly, or through an upstream output)."""
    hit = {name for name, s in stages.items() if any(key == p or key.startswith(p + ".") for p in params_of(s))}
    changed = True
    while changed:
        outs = {str(o if isinstance(o, str) else next(iter(o))) for n in hit for o in stages[n].get("outs", [])}
        new = {
            n for n, s in stages.items() if any(any(d == o or d.startswith(o + "/") for o in outs) for d in s["deps"])
        }
        changed = not new <= hit
        hit |= new
    return hit


def test_all_stages_in_order(stages):
    assert list(stages) == ORDER
    for name, stage in stages.items():
        assert stage["cmd"] == f"python stages/{name}.py"


def test_level_reruns_only_gan_evaluate_and_listening(stages):
    assert reruns(stages, "level") == {"train_gan", "evaluate", "listening"}


def test_image_encoder_skips_the_audio_side(stages):
    assert reruns(stages, "image_encoder") == {"train_tcnn", "encode_images", "train_gan", "evaluate", "listening"}


def test_every_params_key_a_stage_reads_exists(stages):
    cfg = to_dict(load_config(REPO / "params.yaml"))
    for stage in stages.values():
        for key in params_of(stage):
            node = cfg
            for part in key.split("."):
                assert part in node, f"dvc.yaml names params key {key!r} that params.yaml lacks"
                node = node[part]


@pytest.mark.parametrize("name", ORDER)
def test_stage_deps_cover_the_code_it_imports(stages, name):
    """A package file a stage runs but DVC does not hash would let `dvc repro` reuse stale outputs."""
    deps = [d for d in stages[name]["deps"] if d.startswith(("stages/", "conchshell/"))]
    for dep in deps:
        assert (REPO / dep).exists(), f"stage {name}: dependency {dep} does not exist"
    closure = stage_closure(name)
    assert closure, f"stage {name}: its script imports nothing from the package"
    missing = sorted(f for f in closure if not any(f == d or f.startswith(d + "/") for d in deps))
    assert not missing, f"stage {name}: imports {missing} but dvc.yaml does not list them as deps"


def test_closure_finds_imports_inside_functions(tmp_path):
    """The closure follows lazy imports too (a stage's function-level import runs that code all the same)."""
    assert "conchshell/evaluation/listening/mos.py" in stage_closure("listening")
    assert "conchshell/models/jukebox/codec.py" in stage_closure("encode_audio")
    assert "conchshell/web/app.py" not in stage_closure("evaluate")
    assert covering_deps({"conchshell/data/" + p.name for p in (REPO / "conchshell/data").glob("*.py")}) == [
        "conchshell/data"
    ]


def test_prepare_depends_on_the_dataset_folder(stages):
    """Editing the BOP data and running `dvc repro` must prepare it again; the demo's clean clone has the folder."""
    assert "${data.bop_root}" in stages["prepare"]["deps"]
    root = REPO / load_config(REPO / "params.yaml").data.bop_root
    assert (root / "README.md").is_file(), "DVC stops on a missing dependency: keep data/raw/README.md committed"
    assert "!README.md" in (root / ".gitignore").read_text().split()
