"""The `prepare` stage: demo and BOP sources → data/prepared (manifest, pictures, audio), bad input → one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import yaml
from PIL import Image

from conchshell.data.manifest import COLUMNS, categories, clip_id, read_manifest
from conchshell.data.demo import CATEGORIES

REPO = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, **data) -> Path:
    params = {"seed": 3, "data": {"pictures_per_category": 4, "pieces_per_category": 2, **data}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def run_prepare(params: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / "prepare.py"), "--params", str(params), "--out", str(out)],
        capture_output=True, text=True, cwd=params.parent, timeout=300,
    )


def test_demo_prepared_set(tmp_path):
    out = tmp_path / "prepared"
    result = run_prepare(write_params(tmp_path), out)
    assert result.returncode == 0, result.stderr
    df = read_manifest(out)
    assert list(df.columns) == COLUMNS
    assert len(df) == 6 * 4 and categories(out) == sorted(CATEGORIES)
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
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "2 problems" in lines[0] and "p1.png: not a readable picture" in lines[0] and "b0.wav" in lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".prepared")]


def test_missing_bop_root_is_one_line(tmp_path):
    result = run_prepare(write_params(tmp_path, source="bop", bop_root=str(tmp_path / "nowhere")), tmp_path / "p")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nowhere" in result.stderr, result.stderr
