"""Same inputs → same bytes: prepared data (any thread count), WAVs without timestamps (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from conchshell.audio.files import drop_riff_chunk, write_wav

REPO = Path(__file__).resolve().parents[1]


def riff_chunks(data: bytes) -> list[bytes]:
    """The ids of a RIFF/WAVE file's chunks, in order."""
    ids, pos = [], 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        ids.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    return ids


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path → bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def prepare(params: dict, workdir: Path, out: str, threads: int) -> Path:
    """Run stages/prepare.py with `threads` torch/OMP threads → the output folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, str(REPO / "stages/prepare.py"), "--out", out],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return workdir / out


def test_wav_has_no_peak_chunk_and_keeps_every_sample(tmp_path):
    wave = (0.9 * np.sin(np.arange(4001) / 7.0)).astype(np.float32)  # odd length: padded data chunk
    write_wav(tmp_path / "w.wav", wave, 16000)
    data = (tmp_path / "w.wav").read_bytes()
    assert b"PEAK" not in riff_chunks(data)
    assert riff_chunks(data)[0] == b"fmt " and riff_chunks(data)[-1] == b"data"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    back, rate = sf.read(tmp_path / "w.wav", dtype="float32")
    assert rate == 16000 and sf.info(tmp_path / "w.wav").subtype == "FLOAT"
    np.testing.assert_array_equal(back, wave)  # lossless float32, not quantised


def test_drop_riff_chunk_keeps_odd_sized_chunks():
    body = b"WAVE" + b"abcd" + (3).to_bytes(4, "little") + b"xyz\x00" + b"PEAK" + (2).to_bytes(4, "little") + b"pp"
    riff = b"RIFF" + len(body).to_bytes(4, "little") + body
    out = drop_riff_chunk(riff, b"PEAK")
    assert riff_chunks(out) == [b"abcd"] and out[12:24] == b"abcd" + (3).to_bytes(4, "little") + b"xyz\x00"


def test_prepare_twice_and_with_1_or_2_threads_gives_identical_bytes(tmp_path, bop_root):
    demo = {"seed": 3, "data": {"pictures_per_category": 2, "pieces_per_category": 2, "seconds": 1.0, "image_size": 64}}
    a = prepare(demo, tmp_path / "demo", "a", threads=1)
    b = prepare(demo, tmp_path / "demo", "b", threads=2)
    files = tree_bytes(a)
    assert any(name.endswith(".wav") for name in files) and any(name.endswith(".png") for name in files)
    assert files == tree_bytes(b)
    # BOP: 22.05 kHz stereo → 16 kHz mono goes through torchaudio's resampler (threaded)
    bop = {"seed": 0, "data": {"source": "bop", "bop_root": str(bop_root), "seconds": 2.0, "image_size": 64}}
    c = prepare(bop, tmp_path / "bop", "c", threads=1)
    d = prepare(bop, tmp_path / "bop", "d", threads=2)
    assert tree_bytes(c) == tree_bytes(d)
