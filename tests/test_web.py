"""`conchshell serve` without a browser: uploads, the ratings database, MOS, the listening stage, load and crashes.

The models are test_cli's tiny random ones (tiny I3D stand-in); the listening study is a few tones and
flat pictures made by web_helpers.make_study. Browser tests are in test_web_browser.py.
"""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from test_cli import TinyI3D, make_models
from web_helpers import free_port, live_server, make_study, wait_ready, write_params

import conchshell.inference.pipeline
from conchshell import cli
from conchshell.data.images import read_picture
from conchshell.evaluation.listening import ratings
from conchshell.evaluation.listening.mos import mos_ci, summarise
from conchshell.web.app import Settings, create_app
from conchshell.web.trials import experiment_id, load_pool
from conchshell.web.uploads import UploadRefused, decode_picture

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "stages"))
import listening as listening_stage  # noqa: E402


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file declaring width×height 1-bit gray pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def png_bytes(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


# --- uploads -----------------------------------------------------------------------------------------------


def test_decode_picture_reads_like_generate(tmp_path):
    img = Image.new("RGBA", (300, 200), (10, 200, 30, 128))
    img.putpixel((150, 100), (255, 0, 0, 255))
    (tmp_path / "p.png").write_bytes(png_bytes(img))
    got = decode_picture(png_bytes(img), "p.png", 64)
    assert got.shape == (64, 64, 3) and got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(got, read_picture(tmp_path / "p.png", 64))


def test_decode_picture_refuses_bombs_and_junk():
    bomb = png_header_only(30000, 30000)  # 900 megapixels declared in 60 bytes
    assert len(bomb) < 100
    with pytest.raises(UploadRefused, match=r"bomb\.png: refused, 900 megapixels is more than 40 megapixels") as err:
        decode_picture(bomb, "bomb.png", 64)  # Pillow's own limit fires while opening
    assert err.value.status == 413
    with pytest.raises(UploadRefused, match=r"refused, 10000×8000 \(80 megapixels\) is more than 40 megapixels"):
        decode_picture(png_header_only(10000, 8000), "b.png", 64)  # under Pillow's limit, over ours
    with pytest.raises(UploadRefused, match="more than 0 megapixels"):
        decode_picture(png_bytes(Image.new("RGB", (100, 100))), "small.png", 64, max_pixels=5000)
    with pytest.raises(UploadRefused, match=r"^notes\.txt: not a picture"):
        decode_picture(b"hello, not a picture", "notes.txt", 64)
    with pytest.raises(UploadRefused, match="empty"):
        decode_picture(b"", "empty.png", 64)
    truncated = png_bytes(Image.effect_noise((200, 200), 50).convert("RGB"))[:2000]
    with pytest.raises(UploadRefused, match=r"^cut\.png: not a readable picture"):
        decode_picture(truncated, "cut.png", 64)


# --- ratings database and MOS ------------------------------------------------------------------------------


def rate(db: Path, rater: str, sample: str, system: str, scores, experiment: str = "exp") -> bool:
    token = ratings.new_trial(db, rater, sample, system, experiment)
    return ratings.record_rating(db, token, dict(zip(("i2m", "melody", "noise"), scores)), "abc123")


def test_ratings_are_written_once_and_checked(tmp_path):
    db = ratings.create(tmp_path / "r.sqlite")
    token = ratings.new_trial(db, "ann", "s1", "generated", "exp")
    assert ratings.record_rating(db, token, {"i2m": 2, "melody": 3, "noise": 4}, "abc") is True
    assert ratings.record_rating(db, token, {"i2m": 5, "melody": 5, "noise": 5}, "abc") is False  # second tab
    with pytest.raises(ValueError, match="noise: choose a score from 1 to 5"):
        ratings.record_rating(
            db, ratings.new_trial(db, "ann", "s1", "ground_truth", "exp"), {"i2m": 2, "melody": 3, "noise": 6}, "abc"
        )
    with pytest.raises(ValueError, match="unknown trial"):
        ratings.record_rating(db, "no-such-trial", {"i2m": 2, "melody": 3, "noise": 4}, "abc")
    table = ratings.read_ratings(db)
    assert table[
        ["rater", "system", "sample", "experiment", "commit_id", "i2m", "melody", "noise"]
    ].values.tolist() == [["ann", "generated", "s1", "exp", "abc", 2, 3, 4]]
    assert ratings.read_ratings(tmp_path / "missing.sqlite").empty


WRITER = """
import sys
from pathlib import Path
from conchshell.evaluation.listening import ratings
db, rater, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for k in range(n):
    token = ratings.new_trial(db, rater, f"s{k}", "generated", "exp")
    assert ratings.record_rating(db, token, {"i2m": 1 + k % 5, "melody": 2, "noise": 3}, "abc")
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    """Two processes and two threads (think: tabs, or a second server) write at once: every rating lands."""
    db = ratings.create(tmp_path / "r.sqlite")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"proc{k}", "20"], cwd=REPO) for k in range(2)]
    threads = [
        threading.Thread(
            target=lambda r=f"thread{k}": [rate(db, r, f"s{j}", "generated", (1 + j % 5, 2, 3)) for j in range(20)]
        )
        for k in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(120) for p in procs] == [0, 0]
    table = ratings.read_ratings(db)
    assert len(table) == 80 and table["trial"].is_unique
    assert sorted(table.groupby("rater").size().tolist()) == [20, 20, 20, 20]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_mos_and_confidence_interval():
    assert mos_ci(np.array([])) == (None, None)
    assert mos_ci(np.array([4])) == (4.0, None)
    mos, half = mos_ci(np.array([3, 4, 5]))
    assert mos == 4.0
    assert half == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)  # t(0.975, 2) · s / sqrt(n), s = 1
    table = ratings.read_ratings(Path("missing"))
    summary = summarise(table)
    assert set(summary) == set(ratings.SYSTEMS)
    assert summary["generated"]["noise"] == {"mos": None, "ci95": None, "n": 0}


# --- the listening stage -----------------------------------------------------------------------------------


def test_listening_stage_without_ratings_writes_valid_empty_metrics(tmp_path, capsys):
    samples, _ = make_study(tmp_path)
    args = ["--ratings", str(tmp_path / "none.sqlite"), "--samples", str(samples), "--out", str(tmp_path)]
    assert listening_stage.main(args) == 0
    metrics = json.loads((tmp_path / "metrics" / "listening.json").read_text())
    assert metrics["ratings"] == 0
    assert all(cell == {"mos": None, "ci95": None, "n": 0} for s in ratings.SYSTEMS for cell in metrics[s].values())
    assert "no ratings yet" in capsys.readouterr().err
    assert (tmp_path / "plots" / "listening.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "plots" / "listening.csv").read_text().splitlines()) == 1 + 3 * 3


def test_listening_stage_mos_is_the_mean_of_this_experiments_ratings(tmp_path):
    samples, _ = make_study(tmp_path)
    db = ratings.create(tmp_path / "r.sqlite")
    experiment = experiment_id(samples)
    given = {"generated": [(2, 3, 1), (4, 3, 2), (3, 5, 2)], "ground_truth": [(5, 5, 5)]}
    for system, scores in given.items():
        for k, s in enumerate(scores):
            rate(db, f"r{k}", "beach_000", system, s, experiment)
    rate(db, "old", "beach_000", "generated", (1, 1, 1), "another-experiment")  # other samples: ignored
    out = tmp_path / "out"
    assert listening_stage.main(["--ratings", str(db), "--samples", str(samples), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics" / "listening.json").read_text())
    assert metrics["ratings"] == 4
    assert metrics["generated"]["i2m"]["mos"] == pytest.approx(3.0)  # (2 + 4 + 3) / 3
    assert metrics["generated"]["melody"]["mos"] == pytest.approx(11 / 3)  # (3 + 3 + 5) / 3
    assert metrics["generated"]["i2m"]["ci95"] == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)  # s = 1
    assert metrics["generated"]["noise"]["n"] == 3
    assert metrics["ground_truth"]["noise"] == {"mos": 5.0, "ci95": None, "n": 1}
    assert metrics["reconstruction"]["i2m"]["n"] == 0
    first = (out / "metrics" / "listening.json").read_bytes(), (out / "plots" / "listening.png").read_bytes()
    assert listening_stage.main(["--ratings", str(db), "--samples", str(samples), "--out", str(out)]) == 0
    assert ((out / "metrics" / "listening.json").read_bytes(), (out / "plots" / "listening.png").read_bytes()) == first


def test_listening_stage_names_a_bad_database(tmp_path, capsys):
    samples, _ = make_study(tmp_path)
    (tmp_path / "bad.sqlite").write_bytes(b"this is not sqlite" * 100)
    assert listening_stage.main(["--ratings", str(tmp_path / "bad.sqlite"), "--samples", str(samples)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: {tmp_path / 'bad.sqlite'}: not a readable ratings database") and "Traceback" not in err
    )


def test_pool_needs_samples(tmp_path):
    samples, prepared = make_study(tmp_path)
    pool = load_pool(samples, prepared)
    assert pool.ids == ["beach_000", "forest_001"] and len(pool.experiment) == 12
    (samples / "forest_001_reconstruction.wav").unlink()
    assert load_pool(samples, prepared).ids == ["beach_000"]
    from conchshell.errors import ConchError

    with pytest.raises(ConchError, match="no samples"):
        load_pool(tmp_path / "nowhere", prepared)


# --- the app over HTTP on loopback -------------------------------------------------------------------------


@pytest.fixture
def app_settings(tmp_path, monkeypatch, one_thread) -> Settings:
    monkeypatch.setattr(
        conchshell.inference.pipeline, "build_i3d", lambda checkpoint=None, seed=0, arch="inception": TinyI3D()
    )
    samples, prepared = make_study(tmp_path)
    return Settings(
        models=make_models(tmp_path / "models"),
        ratings=tmp_path / "listening" / "ratings.sqlite",
        samples=samples,
        prepared=prepared,
        params=write_params(tmp_path),
        max_upload_bytes=1 << 20,
    )


def audio_of(page: str) -> tuple[np.ndarray, int]:
    uri = re.search(r'<audio id="result-audio" controls src="data:audio/wav;base64,([^"]+)"', page).group(1)
    wave, rate = sf.read(io.BytesIO(base64.b64decode(uri)))
    return wave, rate


@pytest.mark.slow
def test_ten_parallel_uploads_are_queued_not_crashed(app_settings, tmp_path):
    pictures = [png_bytes(Image.new("RGB", (80 + k, 60), (25 * k, 90, 200))) for k in range(10)]
    with live_server(create_app(app_settings)) as base, httpx.Client(timeout=300) as client:
        assert wait_ready(client, base)["state"] == "ready"

        def upload(k: int) -> httpx.Response:
            return client.post(f"{base}/generate", files={"picture": (f"p{k}.png", pictures[k], "image/png")})

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(upload, range(10)))
        assert [a.status_code for a in answers] == [200] * 10
        for answer in answers:
            wave, rate = audio_of(answer.text)
            assert rate == 16000 and wave.shape == (128000,)
        assert client.get(f"{base}/status").json() == {"state": "ready", "waiting": 0}


@pytest.mark.slow
def test_refused_uploads_get_a_message_not_a_trace(app_settings):
    with live_server(create_app(app_settings)) as base, httpx.Client(timeout=120) as client:
        big = client.post(f"{base}/generate", files={"picture": ("big.png", b"\0" * (2 << 20), "image/png")})
        assert big.status_code == 413 and "larger than the 1 MB limit" in big.text
        bomb = client.post(
            f"{base}/generate", files={"picture": ("bomb.png", png_header_only(30000, 30000), "image/png")}
        )
        assert bomb.status_code == 413 and "bomb.png: refused, 900 megapixels is more than 40 megapixels" in bomb.text
        junk = client.post(f"{base}/generate", files={"picture": ("notes.txt", b"hello", "text/plain")})
        assert junk.status_code == 400 and "notes.txt: not a picture" in junk.text
        none = client.post(f"{base}/generate", data={"x": "1"})
        assert none.status_code == 400 and "no picture" in none.text
        for answer in (big, bomb, junk, none):
            assert "Traceback" not in answer.text and 'id="error"' in answer.text


def test_without_models_the_page_says_why(tmp_path):
    samples, prepared = make_study(tmp_path)
    settings = Settings(
        models=tmp_path / "no-models",
        ratings=tmp_path / "r.sqlite",
        samples=samples,
        prepared=prepared,
        params=tmp_path / "none.yaml",
    )
    with live_server(create_app(settings)) as base, httpx.Client(timeout=60) as client:
        status = wait_ready(client, base)
        assert "no-models: models folder not found" in status["state"]
        answer = client.post(
            f"{base}/generate", files={"picture": ("p.png", png_bytes(Image.new("RGB", (50, 50))), "image/png")}
        )
        assert answer.status_code == 503 and "models folder not found" in answer.text


def test_listening_hides_the_system(tmp_path):
    samples, prepared = make_study(tmp_path)
    settings = Settings(models=tmp_path / "none", ratings=tmp_path / "r.sqlite", samples=samples, prepared=prepared)
    with live_server(create_app(settings)) as base, httpx.Client(timeout=60) as client:
        page = client.post(f"{base}/listen", data={"name": ""}, follow_redirects=True).text
        assert not any(system in page for system in ratings.SYSTEMS)
        token = re.search(r'name="trial" value="([^"]+)"', page).group(1)
        audio = client.get(f"{base}/listen/audio/{token}")
        assert audio.headers["content-type"] == "audio/wav" and "content-disposition" not in audio.headers
        row = ratings.trial(settings.ratings, token)
        assert row["rater"].startswith("anonymous-")
        assert audio.content == (samples / f"{row['sample']}_{row['system']}.wav").read_bytes()
        assert client.get(f"{base}/listen/audio/forged").status_code == 404
        bad = client.post(f"{base}/listen/rate", data={"trial": token, "i2m": "3", "melody": "x", "noise": "2"})
        assert bad.status_code == 400 and "Traceback" not in bad.text


# --- a crash mid-study -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_killing_the_server_mid_rating_loses_no_committed_rating(tmp_path):
    samples, prepared = make_study(tmp_path, ids=tuple(f"beach_{k:03d}" for k in range(20)))
    db, port = tmp_path / "ratings.sqlite", free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conchshell.cli",
            "serve",
            "--port",
            str(port),
            "--models",
            str(tmp_path / "none"),
            "--ratings",
            str(db),
            "--samples",
            str(samples),
            "--prepared",
            str(prepared),
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    base, confirmed, stop = f"http://127.0.0.1:{port}", [], threading.Event()

    def rater(name: str) -> None:
        with httpx.Client(timeout=30) as client:
            try:
                page = client.post(f"{base}/listen", data={"name": name}, follow_redirects=True).text
                while not stop.is_set():
                    token = re.search(r'name="trial" value="([^"]+)"', page).group(1)
                    answer = client.post(
                        f"{base}/listen/rate", data={"trial": token, "i2m": 3, "melody": 4, "noise": 2}
                    )
                    if answer.status_code == 303:
                        confirmed.append(token)
                    page = client.get(f"{base}{answer.headers['location']}").text
            except (httpx.HTTPError, AttributeError):
                pass  # the server died under us

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/status", timeout=2)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        tabs = [threading.Thread(target=rater, args=(name,)) for name in ("ann", "bob")]
        for tab in tabs:
            tab.start()
        while len(confirmed) < 15:
            time.sleep(0.02)
        server.send_signal(signal.SIGKILL)
        server.wait(30)
        stop.set()
        for tab in tabs:
            tab.join(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in con.execute("SELECT trial FROM ratings")}
    assert set(confirmed) <= stored
    assert len(stored) - len(confirmed) <= 2  # at most one in flight per tab when the server died


def test_serve_rejects_a_bad_port(capsys):
    assert cli.main(["serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "error: --port: must be 1..65535, got 70000"


def test_the_report_links_to_the_listening_test():
    from conchshell.evaluation.report import render_report

    page = render_report("t", {"val.pesq": 1.0}, [], 16000)
    assert '<a href="http://127.0.0.1:7860/listen">' in page and "dvc repro listening" in page
