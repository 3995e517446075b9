"""report.html: self-contained (data URIs only), three players and spectrograms per sample, the metrics table;
loaded in headless Chromium when it is installed."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from conchshell.evaluation.report import Sample, metrics_table, render_report, write_report

RATE = 16000
METRICS = {
    "train.pesq": 1.5,
    "train.stoi": 0.2,
    "val.pesq": 1.2,
    "val.stoi": float("nan"),
    "val.ceiling.pesq": 3.9,
    "train.ceiling.pesq": 4.0,
}


def sample(i: int) -> Sample:
    t = np.arange(RATE) / RATE
    wave = (0.5 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32)
    picture = np.full((32, 32, 3), 60 * i, np.uint8)
    return Sample(f"pic_{i}", "beach", "forest", picture, wave, wave * 0.5, wave * 0.8)


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.html"
    write_report(path, "ConchShell test", METRICS, [sample(0), sample(1)], RATE)
    return path


def test_report_is_self_contained_with_players_spectrograms_and_metrics(report):
    page = report.read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:") for s in sources)
    # the one web address is the link to the local listening test (a link, not a resource the page loads)
    offline = page.replace('href="http://127.0.0.1:7860/listen">http://127.0.0.1:7860/listen', "")
    assert "http://" not in offline and "https://" not in offline and "<link" not in page and "<script" not in page
    players = re.findall(r'<audio[^>]*data-track="(\w+)"[^>]*src="data:audio/wav;base64,([^"]+)"', page)
    assert [name for name, _ in players] == ["generated", "ground_truth", "reconstruction"] * 2
    wave, rate = sf.read(io.BytesIO(base64.b64decode(players[0][1])))
    assert rate == RATE and len(wave) == RATE
    assert page.count('class="spectrogram"') == 6 and page.count('class="picture"') == 2
    assert page.count("data:image/png;base64,iVBOR") == 8  # PNG signature, base64
    assert "pic_1" in page and "forest" in page


def test_metrics_table_has_a_column_per_split_and_dashes_for_missing():
    table = metrics_table(METRICS)
    assert table.index("<th>train</th>") < table.index("<th>val</th>")
    assert "<th>ceiling.pesq</th>" in table and "3.900" in table and "1.200" in table
    assert "–" in table  # val.stoi is NaN


def test_report_escapes_names():
    page = render_report("<b>x</b>", {}, [], RATE)
    assert "<b>x</b>" not in page and "&lt;b&gt;" in page and "No samples" in page


def test_report_names_the_pesq_band_of_its_rate():
    assert "PESQ (wide-band) and STOI" in render_report("x", {}, [], 16000)
    narrow = render_report("x", {}, [], 8000)
    assert "PESQ (narrow-band, 8 kHz) and STOI" in narrow and "wide-band" not in narrow


def chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_report_loads_in_headless_chromium(report, tmp_path):
    proc = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            report.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert dom.count("<audio") == 6 and "ConchShell test" in dom
    assert len(re.findall(r'<table class="metrics">', dom)) == 1
