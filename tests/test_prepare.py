"""The `prepare` stage: demo and BOP sources → data/prepared (manifest, pictures, audio), bad input → one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from PIL import Image

from conchshell.data.demo import CATEGORIES, mean_luminance
from conchshell.data.manifest import ATTRIBUTES, COLUMNS, categories, clip_id, read_manifest
from conchshell.errors import ConchError

REPO = Path(__file__).resolve().parents[1]


def _load_stage():
    spec = importlib.util.spec_from_file_location("prepare_stage", REPO / "stages" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stage = _load_stage()


def prepare_here(params: Path, out: Path, capsys) -> tuple[int, list[str]]:
    """Run the stage in this process (no interpreter start-up): exit status and its `error:` lines."""
    status = stage.main(["--params", str(params), "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, [line for line in err.splitlines() if line.startswith("error:")]


def write_params(tmp_path: Path, **data) -> Path:
    params = {"seed": 3, "data": {"pictures_per_category": 4, "pieces_per_category": 2, **data}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def run_prepare(params: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / "prepare.py"), "--params", str(params), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=params.parent,
        timeout=300,
    )


def test_demo_prepared_set(tmp_path):
    out = tmp_path / "prepared"
    result = run_prepare(write_params(tmp_path), out)
    assert result.returncode == 0, result.stderr
    df = read_manifest(out)
    assert list(df.columns) == COLUMNS + ATTRIBUTES
    assert len(df) == 6 * 4 and categories(out) == sorted(CATEGORIES)
    # attributes: the picture's measured mean luma; the pictures of one piece share its objects and score
    with Image.open(out / df["image"][5]) as img:
        assert df["brightness"][5] == pytest.approx(mean_luminance(np.asarray(img)), abs=1e-4)
    by_clip = df.groupby(df["audio"].map(clip_id))
    assert (by_clip[["objects", "pitch_centre", "notes_per_second"]].nunique() == 1).all().all()
    assert (df["label"] == df["category"].map(sorted(CATEGORIES).index)).all()
    # split: stratified by category, grouped by piece (a clip never in both splits)
    assert set(df.groupby("category")["split"].agg(set).map(frozenset)) == {frozenset({"train", "val"})}
    assert (df.groupby(df["audio"].map(clip_id))["split"].nunique() == 1).all()
    with Image.open(out / df["image"][0]) as img:
        assert (img.mode, img.size) == ("RGB", (224, 224))
    wave, rate = sf.read(out / df["audio"][0], dtype="float32")
    assert rate == 16000 and wave.shape == (128000,)
    assert abs(np.abs(wave).max() - 0.95) < 1e-4
    assert not list(tmp_path.glob(".*tmp*")), "temporary output left behind"


def test_demo_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    params = write_params(tmp_path)
    assert run_prepare(params, a).returncode == 0 and run_prepare(params, b).returncode == 0
    pd.testing.assert_frame_equal(read_manifest(a), read_manifest(b))
    assert (a / "images/beach_001.png").read_bytes() == (b / "images/beach_001.png").read_bytes()
    # WAV bytes differ in libsndfile's PEAK-chunk timestamp; the samples must not
    rel = "audio/forest_piece_001.wav"
    np.testing.assert_array_equal(sf.read(a / rel, dtype="float32")[0], sf.read(b / rel, dtype="float32")[0])


def test_bop_source(tmp_path, bop_root):
    out = tmp_path / "prepared"
    result = run_prepare(write_params(tmp_path, source="bop", bop_root=str(bop_root)), out)
    assert result.returncode == 0, result.stderr
    df = read_manifest(out)
    assert sorted(df["id"]) == sorted(f"{c}_p{j}" for c in "ab" for j in range(4))
    wave, rate = sf.read(out / "audio" / "a0.wav", dtype="float32")
    assert rate == 16000 and wave.shape == (128000,)  # 22.05 kHz stereo 2 s → 16 kHz mono 8 s


def test_bad_bop_files_reported_together_and_nothing_written(tmp_path, bop_root):
    (bop_root / "images" / "a" / "p1.png").write_bytes(b"not a png")
    (bop_root / "audio" / "b0.wav").write_bytes(b"RIFF garbage")
    out = tmp_path / "prepared"
    result = run_prepare(write_params(tmp_path, source="bop", bop_root=str(bop_root)), out)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 3 and "Traceback" not in result.stderr, result.stderr  # a header, then one line each
    assert lines[0].endswith("annotations.csv: 2 problems:")
    assert "p1.png: not a readable picture" in lines[1] and "b0.wav: not a readable audio file" in lines[2]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".prepared")]


def test_a_rejected_row_is_still_checked_for_unreadable_files(tmp_path, bop_root, capsys):
    (bop_root / "audio" / "z.wav").write_bytes(b"RIFF garbage")
    with open(bop_root / "annotations.csv", "a") as f:
        f.write("images/a/p0.png,audio/z.wav,zebra\n")  # unknown category, and its audio is unreadable
    status, lines = prepare_here(write_params(tmp_path, source="bop", bop_root=str(bop_root)), tmp_path / "p", capsys)
    assert status == 2 and lines[0].endswith("3 problems:"), lines
    assert "row 10: unknown category 'zebra'" in lines[1] and "row 10: category 'zebra' does not match" in lines[2]
    assert "z.wav: not a readable audio file" in lines[3]


def test_an_empty_val_split_is_refused_in_prepare(tmp_path, bop_root, capsys):
    """Every category with a single piece: val would be empty, and train_tcnn would fail much later."""
    rows = ["image,audio,category"] + [f"images/{c}/p{j}.png,audio/{c}0.wav,{c}" for c in "ab" for j in range(4)]
    (bop_root / "annotations.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "prepared"
    status, lines = prepare_here(write_params(tmp_path, source="bop", bop_root=str(bop_root)), out, capsys)
    assert status == 2 and len(lines) == 2, lines
    assert "the val split would be empty: every category has a single piece (a: 1, b: 1)" in lines[1]
    assert not out.exists()


def test_prepare_never_replaces_a_folder_that_is_not_a_prepared_set(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("years of work")
    status, lines = prepare_here(write_params(tmp_path), out, capsys)
    assert status == 2 and len(lines) == 1 and "not a prepared set" in lines[0]
    assert (out / "chapter1.tex").read_text() == "years of work"


KILLED_PREPARE = """
import importlib.util, os, signal, sys
spec = importlib.util.spec_from_file_location("prepare_stage", {stage!r})
stage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stage)
if {no_janitor!r}:
    stage.guard_temporaries = lambda: None  # as if the janitor were killed too (a whole process group)
stage.write_wav = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)  # die mid-write
stage.main(["--params", sys.argv[1], "--out", sys.argv[2]])
"""


def _temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".prepared.")]


@pytest.mark.parametrize("janitor", [True, False], ids=["janitor", "no-janitor"])
def test_kill_9_during_prepare_leaves_nothing_that_lingers(tmp_path, bop_root, capsys, janitor):
    """The janitor removes a killed prepare's temporary at once; without it, the next prepare sweeps it."""
    params, out = write_params(tmp_path, source="bop", bop_root=str(bop_root)), tmp_path / "prepared"
    code = KILLED_PREPARE.format(stage=str(REPO / "stages" / "prepare.py"), no_janitor=not janitor)
    killed = subprocess.run([sys.executable, "-c", code, str(params), str(out)], cwd=tmp_path, timeout=300)
    assert killed.returncode == -9 and not out.exists()
    if janitor:
        deadline = time.monotonic() + 10
        while _temporaries(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _temporaries(tmp_path) == []
    else:
        assert len(_temporaries(tmp_path)) == 1
    assert prepare_here(params, out, capsys) == (0, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bop", "params.yaml", "prepared"]


def test_manifest_without_attributes_reads_and_a_wrong_one_is_one_line(tmp_path):
    rows = "id,category,label,split,image,audio\na_0,a,0,train,images/a_0.png,audio/p0.wav\n"
    (tmp_path / "manifest.csv").write_text(rows)
    assert list(read_manifest(tmp_path).columns) == COLUMNS  # an older manifest: no attributes
    (tmp_path / "manifest.csv").write_text(
        rows.replace("audio\n", "audio,brightness\n").replace(".wav\n", ".wav,0.5\n")
    )
    with pytest.raises(ConchError, match="optionally then brightness, objects, pitch_centre, notes_per_second"):
        read_manifest(tmp_path)
