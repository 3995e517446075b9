"""`conchshell serve` without a browser: uploads, the ratings database, MOS, the listening stage, load and crashes.

The models are test_cli's tiny random ones (tiny I3D stand-in); the listening study is a few tones and
flat pictures made by web_helpers.make_study. Browser tests are in test_web_browser.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
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
from conchshell.errors import ConchError
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
    token = ratings.current_trial(db, rater, experiment, lambda taken, counts: (sample, system))["id"]
    return ratings.record_rating(db, token, rater, dict(zip(("i2m", "melody", "noise"), scores)), 8.0, "abc123")


def test_ratings_are_written_once_and_checked(tmp_path):
    db = tmp_path / "r.sqlite"
    ratings.create(db)
    ann, bob = ratings.new_rater(db, "ann"), ratings.new_rater(db, "李雷 🎹")
    assert ratings.rater_name(db, bob) == "李雷 🎹"
    token = ratings.current_trial(db, ann, "exp", lambda taken, counts: ("s1", "generated"))["id"]
    with pytest.raises(ratings.NotYourTrial):
        ratings.record_rating(db, token, bob, {"i2m": 2, "melody": 3, "noise": 4}, 8.0, "abc")
    assert ratings.record_rating(db, token, ann, {"i2m": 2, "melody": 3, "noise": 4}, 7.5, "abc") is True
    assert ratings.record_rating(db, token, ann, {"i2m": 5, "melody": 5, "noise": 5}, 8.0, "abc") is False  # 2nd tab
    with pytest.raises(ValueError, match="noise: choose a score from 1 to 5"):
        ratings.record_rating(db, token, ann, {"i2m": 2, "melody": 3, "noise": 6}, 8.0, "abc")
    with pytest.raises(ValueError, match="unknown trial"):
        ratings.record_rating(db, "no-such-trial", ann, {"i2m": 2, "melody": 3, "noise": 4}, 8.0, "abc")
    table = ratings.read_ratings(db)
    assert table[
        ["rater", "system", "sample", "experiment", "commit_id", "played", "i2m", "melody", "noise"]
    ].values.tolist() == [[ann, "generated", "s1", "exp", "abc", 7.5, 2, 3, 4]]
    assert ratings.read_ratings(tmp_path / "missing.sqlite").empty


def test_a_trial_is_fixed_per_rater_and_position_and_pairs_are_unique(tmp_path):
    db = tmp_path / "r.sqlite"
    ratings.create(db)
    ann = ratings.new_rater(db, "ann")
    offered = iter([("s1", "generated"), ("s2", "noise-free"), ("s1", "ground_truth")])
    first = ratings.current_trial(db, ann, "exp", lambda taken, counts: next(offered))
    again = ratings.current_trial(db, ann, "exp", lambda taken, counts: pytest.fail("a reload must not draw"))
    assert again == first and first["position"] == 0
    ratings.record_rating(db, first["id"], ann, {"i2m": 1, "melody": 1, "noise": 1}, 8.0, "abc")
    seen = []
    second = ratings.current_trial(
        db, ann, "exp", lambda taken, counts: seen.append((taken, counts)) or ("s2", "reconstruction")
    )
    assert second["position"] == 1 and seen == [({("s1", "generated")}, {("s1", "generated"): 1})]
    with sqlite3.connect(db) as con, pytest.raises(sqlite3.IntegrityError):  # the database enforces one per pair
        con.execute("INSERT INTO trials VALUES ('x', ?, 5, 's1', 'generated', 'exp', 0)", (ann,))


def break_database(db: Path) -> None:
    """Make the ratings database unusable while the server runs: read-only (as a user), or, as root (who
    writes read-only files anyway), a folder in its place."""
    if os.geteuid() != 0:
        db.chmod(0o444)
    else:
        db.unlink()
        db.mkdir()


def test_an_unusable_database_is_a_conch_error(tmp_path):
    db = tmp_path / "r.sqlite"
    ratings.create(db)
    ann = ratings.new_rater(db, "ann")
    break_database(db)
    with pytest.raises(ConchError, match="r.sqlite: the ratings database cannot be used .*nothing was saved"):
        ratings.current_trial(db, ann, "exp", lambda taken, counts: ("s1", "generated"))


WRITER = """
import sys
from pathlib import Path
from conchshell.evaluation.listening import ratings
db, name, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rater = ratings.new_rater(db, name)
for k in range(n):
    token = ratings.current_trial(db, rater, "exp", lambda taken, counts: (f"s{k}", "generated"))["id"]
    assert ratings.record_rating(db, token, rater, {"i2m": 1 + k % 5, "melody": 2, "noise": 3}, 8.0, "abc")
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    """Two processes and two threads (think: tabs, or a second server) write at once: every rating lands."""
    db = tmp_path / "r.sqlite"
    ratings.create(db)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"proc{k}", "20"], cwd=REPO) for k in range(2)]
    threads = [
        threading.Thread(
            target=lambda r=ratings.new_rater(db, f"thread{k}"): [
                rate(db, r, f"s{j}", "generated", (1 + j % 5, 2, 3)) for j in range(20)
            ]
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
    assert summary["generated"]["noise"] == {"mos": None, "ci95": None, "low": None, "high": None, "n": 0}


# --- the listening stage -----------------------------------------------------------------------------------


def test_listening_stage_without_ratings_writes_valid_empty_metrics(tmp_path, capsys):
    samples, _ = make_study(tmp_path)
    args = ["--ratings", str(tmp_path / "none.sqlite"), "--samples", str(samples), "--out", str(tmp_path)]
    assert listening_stage.main(args) == 0
    metrics = json.loads((tmp_path / "metrics" / "listening.json").read_text())
    assert metrics["ratings"] == 0
    empty = {"mos": None, "ci95": None, "low": None, "high": None, "n": 0}
    assert all(cell == empty for s in ratings.SYSTEMS for cell in metrics[s].values())
    assert all(cell == empty for s in ratings.SYSTEMS for cell in metrics["screened"][s].values())
    assert metrics["alpha"] == {"i2m": None, "melody": None, "noise": None}
    assert metrics["screening"] == {"threshold": 0.15, "flagged": 0, "raters_kept": 0, "ratings_kept": 0}
    assert "no ratings yet" in capsys.readouterr().err
    assert (tmp_path / "plots" / "listening.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "plots" / "listening.csv").read_text().splitlines()) == 1 + 2 * 3 * 3  # all, screened


def test_listening_stage_mos_is_the_mean_of_this_experiments_ratings(tmp_path):
    samples, _ = make_study(tmp_path)
    db = tmp_path / "r.sqlite"
    ratings.create(db)
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
    assert metrics["ground_truth"]["noise"] == {"mos": 5.0, "ci95": None, "low": None, "high": None, "n": 1}
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


def audio_of(client: httpx.Client, base: str, answer: httpx.Response) -> tuple[np.ndarray, int]:
    """The piece of a /generate answer: it redirects to /result/<id>, whose piece.wav is the WAV."""
    assert answer.status_code == 303 and answer.headers["location"].startswith("/result/")
    wave, rate = sf.read(io.BytesIO(client.get(f"{base}{answer.headers['location']}/piece.wav").content))
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
        assert [a.status_code for a in answers] == [303] * 10
        assert len({a.headers["location"] for a in answers}) == 10  # each upload its own result
        for answer in answers:
            wave, rate = audio_of(client, base, answer)
            assert rate == 16000 and wave.shape == (128000,)
        assert client.get(f"{base}/status").json() == {"state": "ready", "waiting": 0}


@pytest.mark.slow
def test_refused_uploads_get_a_message_not_a_trace(app_settings):
    with live_server(create_app(app_settings)) as base, httpx.Client(timeout=120) as client:
        big = client.post(f"{base}/generate", files={"picture": ("big.png", b"\0" * (2 << 20), "image/png")})
        assert big.status_code == 413 and "big.png: the upload is larger than the 1 MB limit" in big.text
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


def test_an_upload_while_loading_waits_for_the_models_size(app_settings, monkeypatch):
    from conchshell.web.composer import Composer

    release, load = threading.Event(), Composer._load_level
    monkeypatch.setattr(Composer, "_load_level", lambda self, level: release.wait(60) and load(self, level))
    picture = png_bytes(Image.new("RGB", (320, 240), (240, 120, 40)))
    files = {"picture": ("p.png", picture, "image/png")}
    settings = dataclasses.replace(app_settings, max_waiting=1)
    with live_server(create_app(settings)) as base, httpx.Client(timeout=300) as client:
        assert client.get(f"{base}/status").json()["state"] == "loading"
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(client.post, f"{base}/generate", files=files)
            time.sleep(0.5)
            assert not answer.done()  # held until the models are in
            assert client.get(f"{base}/status").json() == {"state": "loading", "waiting": 1}
            busy = client.post(f"{base}/generate", files=files)  # the queue's bound holds while loading too
            assert busy.status_code == 503 and "1 pictures are already waiting" in busy.text
            release.set()
            answer = answer.result()
        assert answer.status_code == 303
        shown = Image.open(io.BytesIO(client.get(f"{base}{answer.headers['location']}/picture.png").content))
        assert shown.size == (64, 64)  # the models' image_size (make_models), not the 224 default


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
        assert ratings.rater_name(settings.ratings, row["rater"]) == "anonymous"
        assert audio.content == (samples / f"{row['sample']}_{row['system']}.wav").read_bytes()
        assert client.get(f"{base}/listen/audio/forged").status_code == 404
        bad = client.post(f"{base}/listen/rate", data={"trial": token, "i2m": "3", "melody": "x", "noise": "2"})
        assert bad.status_code == 400 and "Traceback" not in bad.text


def trial_token(page: str) -> str:
    return re.search(r'name="trial" value="([^"]+)"', page).group(1)


def test_sessions_tie_ratings_to_their_rater_and_errors_are_one_line(tmp_path, capfd):
    samples, prepared = make_study(tmp_path)
    settings = Settings(models=tmp_path / "none", ratings=tmp_path / "r.sqlite", samples=samples, prepared=prepared)
    scores = {"i2m": "3", "melody": "4", "noise": "2"}
    with live_server(create_app(settings)) as base, httpx.Client(timeout=60) as ann, httpx.Client(timeout=60) as bob:
        page = ann.post(f"{base}/listen", data={"name": "李雷 🎹"}, follow_redirects=True)
        assert page.status_code == 200 and "Rating as 李雷 🎹" in page.text
        token = trial_token(page.text)
        assert trial_token(ann.get(f"{base}/listen/trial").text) == token  # a reload keeps the trial
        bob.post(f"{base}/listen", data={"name": "bob"})
        forged = bob.post(f"{base}/listen/rate", data={"trial": token, "played": "1.0", **scores})
        assert forged.status_code == 403 and "not given to you" in forged.text
        assert bob.get(f"{base}/listen/audio/{token}").status_code == 404  # nor can bob hear ann's trial
        anonymous = httpx.post(f"{base}/listen/rate", data={"trial": token, "played": "1.0", **scores})
        assert anonymous.status_code == 403 and "no valid rater session" in anonymous.text
        cookie = ann.cookies["conchshell_rater"]
        claimed = httpx.post(
            f"{base}/listen/rate",
            data={"trial": token, "played": "1.0", **scores},
            cookies={"conchshell_rater": cookie.split(".")[0] + ".forged"},
        )
        assert claimed.status_code == 403
        unheard = ann.post(f"{base}/listen/rate", data={"trial": token, "played": "0.5", **scores})
        assert (
            unheard.status_code == 400
            and "listen to at least 90% of the piece first (heard 0.5 of 1.0 s)" in unheard.text
        )
        heard = ann.post(f"{base}/listen/rate", data={"trial": token, "played": "0.95", **scores})
        assert heard.status_code == 303
        assert ratings.read_ratings(settings.ratings)[["trial", "played", "i2m"]].values.tolist() == [[token, 0.95, 3]]
        twice = ann.post(f"{base}/listen/rate", data={"trial": token, "played": "1.0", **scores})
        assert twice.headers["location"] == "/listen/trial?saved=again"

        missing = ann.get(f"{base}/nowhere")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert ann.get(f"{base}/favicon.ico").headers["content-type"] == "image/vnd.microsoft.icon"
        next_token = trial_token(ann.get(f"{base}/listen/trial").text)
        row = ratings.trial(settings.ratings, next_token)
        (prepared / "images" / f"{row['sample']}.png").unlink()
        gone = ann.get(f"{base}/listen/picture/{next_token}")
        assert (
            gone.status_code == 503 and f"{row['sample']}.png: the picture file of this trial is missing" in gone.text
        )
        break_database(settings.ratings)
        for answer in (
            ann.get(f"{base}/listen/trial"),
            ann.post(f"{base}/listen/rate", data={"trial": next_token, "played": "1", **scores}),
        ):
            assert answer.status_code == 503 and "the ratings database cannot be used" in answer.text
            assert re.search(r'<p class="error" id="error" role="alert">[^<\n]+</p>', answer.text)
    assert "Traceback" not in capfd.readouterr().err


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
                        f"{base}/listen/rate", data={"trial": token, "played": 1.0, "i2m": 3, "melody": 4, "noise": 2}
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
        deadline = time.monotonic() + 120
        while len(confirmed) < 15:
            assert time.monotonic() < deadline and any(tab.is_alive() for tab in tabs), "the raters stopped rating"
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
