"""`conchshell serve` in a real browser: Playwright driving Debian's chromium, headless, on loopback.

Upload a picture → the audio element gets a playable 8 s, 16 kHz piece; a bad upload shows its error
text; three ratings → three rows in SQLite → the listening stage's MOS equals the hand-computed mean.
Playwright's own browser download is not used (no network): the system chromium is launched through
`executable_path`. `.ci/run` installs it; elsewhere these tests skip and say why. Under CI (CI=true) a
missing browser fails instead, so CI cannot pass without running them.

CONCHSHELL_SCREENSHOTS=docs makes the tests save the README's screenshots there.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from test_cli import TinyI3D, make_models
from web_helpers import live_server, make_study, write_params

import conchshell.inference.pipeline
from conchshell.web.app import Settings, create_app

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "stages"))
import listening as listening_stage  # noqa: E402

pytestmark = pytest.mark.slow


def cannot_run(reason: str):
    """Skip with `reason`, or fail under CI, where .ci/run must have installed the browser."""
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return os.environ.get("CONCHSHELL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as err:
        cannot_run(f"the Python package playwright is not importable ({err}); `uv sync` installs the dev group")
    path = chromium_path()
    if path is None:
        cannot_run(
            "no chromium executable on PATH (Debian: `apt-get install chromium`, which .ci/run does; "
            "or set CONCHSHELL_CHROMIUM to a Chromium binary)"
        )
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=path, headless=True, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
            )
        except Error as err:
            cannot_run(f"{path} did not start under Playwright: {str(err).strip().splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture
def served(tmp_path, monkeypatch, one_thread):
    """(base URL, settings) of a live app with tiny models and a two-picture listening study."""
    monkeypatch.setattr(
        conchshell.inference.pipeline, "build_i3d", lambda checkpoint=None, seed=0, arch="inception": TinyI3D()
    )
    samples, prepared = make_study(tmp_path)
    settings = Settings(
        models=make_models(tmp_path / "models"),
        ratings=tmp_path / "listening" / "ratings.sqlite",
        samples=samples,
        prepared=prepared,
        params=write_params(tmp_path),
    )
    with live_server(create_app(settings)) as base:
        yield base, settings


def new_page(browser, **options):
    """A page with generous timeouts: CI machines are shared, and a loaded one is slow, not broken."""
    page = browser.new_page(**options)
    page.set_default_timeout(120_000)
    page.set_default_navigation_timeout(120_000)
    return page


def screenshot(page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("CONCHSHELL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)
    return folder / name


AUDIO_STATE = """async (selector) => {
  const a = document.querySelector(selector);
  if (a.readyState < 1) await new Promise((ok, bad) => { a.onloadedmetadata = ok; a.onerror = bad; });
  a.muted = true;
  await a.play();
  await new Promise((ok) => setTimeout(ok, 600));
  const state = {duration: a.duration, currentTime: a.currentTime, error: a.error, canPlay: a.canPlayType("audio/wav")};
  a.pause();
  return state;
}"""


def test_upload_a_picture_and_hear_it(browser, served, tmp_path):
    base, _ = served
    picture = tmp_path / "sunset.jpg"
    Image.new("RGB", (320, 240), (240, 120, 40)).save(picture)
    page = new_page(browser, viewport={"width": 1000, "height": 800})
    page.goto(base + "/")
    page.wait_for_function("fetch('/status').then(r => r.json()).then(s => s.state === 'ready')")
    page.set_input_files("#picture", str(picture))
    page.click("#submit")
    page.wait_for_selector("#result-audio")
    state = page.evaluate(AUDIO_STATE, "#result-audio")
    assert state["error"] is None and state["canPlay"] in ("maybe", "probably")
    assert state["duration"] == pytest.approx(8.0, abs=1e-3)
    assert state["currentTime"] > 0  # it really plays
    src = page.get_attribute("#result-audio", "src")
    wave, rate = sf.read(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert rate == 16000 and wave.shape == (128000,) and np.isfinite(wave).all()
    assert page.get_attribute("#download", "download") == "sunset.wav"
    assert page.inner_text("#category") in ("beach", "forest")
    assert page.evaluate("document.querySelector('#mel').naturalWidth") > 100
    assert not page.query_selector("#error")
    screenshot(page, tmp_path, "serve-try.png")


def test_a_bad_upload_shows_the_error(browser, served, tmp_path):
    base, _ = served
    bad = tmp_path / "holiday.png"
    bad.write_text("these are words, not pixels")
    page = new_page(browser)
    page.goto(base + "/")
    page.set_input_files("#picture", str(bad))
    page.click("#submit")
    page.wait_for_selector("#error")
    assert page.inner_text("#error").startswith("holiday.png: not a picture")
    assert "Traceback" not in page.content()


def test_a_dropped_file_is_uploaded(browser, served):
    base, _ = served
    page = new_page(browser)
    page.goto(base + "/")
    dropped = page.evaluate_handle(
        "() => { const t = new DataTransfer(); t.items.add(new File(['GIF89a, not really'], 'dropped.gif')); return t; }"
    )
    with page.expect_navigation():
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    assert page.inner_text("#error").startswith("dropped.gif: not a picture")


def test_three_ratings_reach_sqlite_and_the_listening_stage(browser, served, tmp_path):
    base, settings = served
    page = new_page(browser, viewport={"width": 1000, "height": 900})
    page.goto(base + "/listen")
    assert "I2M-MOS: Does the music fit the picture?" in page.inner_text(".scales")
    page.fill("#name", "Rita Rater")
    page.click("#start")
    given = {}
    for k, scores in enumerate([(2, 5, 3), (4, 1, 4), (5, 3, 1)]):
        page.wait_for_selector("#trial-audio")
        assert page.evaluate(AUDIO_STATE, "#trial-audio")["duration"] == pytest.approx(1.0, abs=1e-3)
        token = page.get_attribute("input[name=trial]", "value")
        for column, score in zip(("i2m", "melody", "noise"), scores):
            page.check(f"#scale-{column} input[value='{score}']")
        if k == 0:
            screenshot(page, tmp_path, "serve-listen.png")
        page.click("#rate")
        page.wait_for_selector("#note")
        given[token] = scores
    with sqlite3.connect(settings.ratings) as con:
        rows = con.execute("SELECT trial, rater, system, i2m, melody, noise FROM ratings").fetchall()
    assert len(rows) == 3 and {r[0] for r in rows} == set(given) and {r[1] for r in rows} == {"Rita Rater"}
    out = tmp_path / "out"
    assert (
        listening_stage.main(
            ["--ratings", str(settings.ratings), "--samples", str(settings.samples), "--out", str(out)]
        )
        == 0
    )
    metrics = json.loads((out / "metrics" / "listening.json").read_text())
    assert metrics["ratings"] == 3
    for system in {r[2] for r in rows}:
        mine = [given[r[0]] for r in rows if r[2] == system]
        for j, scale in enumerate(("i2m", "melody", "noise")):
            hand = sum(s[j] for s in mine) / len(mine)
            assert metrics[system][scale]["mos"] == pytest.approx(hand)
            assert metrics[system][scale]["n"] == len(mine)
