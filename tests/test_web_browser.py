"""`conchshell serve` in a real browser: Playwright driving Debian's chromium, headless, on loopback.

Upload a picture → the audio element gets a playable 8 s, 16 kHz piece; a bad upload shows its error
text; three ratings → three rows in SQLite → the listening stage's MOS equals the hand-computed mean.
Playwright's own browser download is not used (no network): the system chromium is launched through
`executable_path`. `.ci/run` installs it; elsewhere these tests skip and say why. Under CI (CI=true) a
missing browser fails instead, so CI cannot pass without running them.

CONCHSHELL_SCREENSHOTS=docs makes the tests save the README's screenshots there.
"""

from __future__ import annotations

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


def no_outside_requests(page, base: str) -> list[str]:
    """Every URL the page requests, recorded; the caller asserts they all stay on `base`."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def assert_accessible(page):
    """axe-core (vendored by axe-playwright-python, injected locally): no WCAG A/AA violation."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}})
    assert result.violations_count == 0, result.generate_report()


def test_upload_a_picture_and_hear_it(browser, served, tmp_path):
    base, _ = served
    picture = tmp_path / "sunset.jpg"
    Image.new("RGB", (320, 240), (240, 120, 40)).save(picture)
    page = new_page(browser, viewport={"width": 1000, "height": 800})
    requests = no_outside_requests(page, base)
    page.goto(base + "/")  # uploaded at once, as a person does: the models may still be loading
    assert page.get_attribute("#progress", "aria-live") == "polite"
    page.set_input_files("#picture", str(picture))
    page.fill("#seed", "7")
    page.check("#denoise")
    page.click("#submit")
    page.wait_for_selector("#result-audio")
    assert "/result/" in page.url  # a GET URL: a reload does not re-post
    state = page.evaluate(AUDIO_STATE, "#result-audio")
    assert state["error"] is None and state["canPlay"] in ("maybe", "probably")
    assert state["duration"] == pytest.approx(8.0, abs=1e-3)
    assert state["currentTime"] > 0  # it really plays
    assert page.get_attribute("#result-audio", "aria-label") == "The piece made from sunset.jpg"
    wave, rate = sf.read(io.BytesIO(page.request.get(base + page.get_attribute("#download", "href")).body()))
    assert rate == 16000 and wave.shape == (128000,) and np.isfinite(wave).all()
    assert page.get_attribute("#download", "download") == "sunset.wav"
    assert page.inner_text("#category") in ("Beach", "Forest")
    confidence = float(page.inner_text("#confidence").strip("(% confident)"))
    assert 0 < confidence <= 100
    assert "seed 7" in page.inner_text("#result") and "denoised" in page.inner_text("#result")
    assert page.evaluate("document.querySelector('#mel').naturalWidth") >= 900
    assert page.evaluate("document.querySelector('#result-picture').naturalWidth") == 64  # the models' image_size
    assert not page.query_selector("#error")
    screenshot(page, tmp_path, "serve-try.png")
    assert_accessible(page)
    first = page.url
    page.click("#example-beach_000")  # an example: the demo's val picture of that category
    page.wait_for_url(lambda url: "/result/" in url and url != first)
    assert page.inner_text("#result-title").startswith("beach_000.png")
    assert page.locator("#visit li").count() == 2  # this visit's pieces stay listed
    page.reload()
    assert page.locator("#visit li").count() == 2
    page.goto(first)  # the first result's own URL still plays it
    assert page.evaluate(AUDIO_STATE, "#result-audio")["duration"] == pytest.approx(8.0, abs=1e-3)
    assert all(url.startswith(base) for url in requests), [u for u in requests if not u.startswith(base)]


def test_a_too_large_picture_is_refused_before_uploading(browser, served, tmp_path):
    base, settings = served
    big = tmp_path / "huge.png"
    big.write_bytes(b"\0" * (settings.max_upload_bytes + 1))
    page = new_page(browser)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.goto(base + "/")
    page.set_input_files("#picture", str(big))
    page.click("#submit")
    assert page.inner_text("#size-error").startswith("huge.png: 20.0 MB is larger than the 20 MB limit")
    assert posts == []


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


def hear(page, selector: str = "#trial-audio") -> float:
    """Play the trial's piece to its end (muted), as a rater would; returns its duration."""
    return page.evaluate(
        """async (selector) => {
          const a = document.querySelector(selector);
          if (a.readyState < 1) await new Promise((ok) => { a.onloadedmetadata = ok; });
          a.muted = true;
          const ended = new Promise((ok) => { a.onended = ok; });
          await a.play();
          await ended;
          return a.duration;
        }""",
        selector,
    )


def test_three_ratings_reach_sqlite_and_the_listening_stage(browser, served, tmp_path):
    base, settings = served
    page = new_page(browser, viewport={"width": 1000, "height": 900})
    requests = no_outside_requests(page, base)
    page.goto(base + "/listen")
    assert "I2M-MOS: Does the music fit the picture?" in page.inner_text(".scales")
    assert_accessible(page)
    page.fill("#name", "李雷 🎹")  # not Latin-1: the name never goes into the cookie
    page.click("#start")
    given = {}
    for k, scores in enumerate([(2, 5, 3), (4, 1, 4), (5, 3, 1)]):
        page.wait_for_selector("#trial-audio")
        token = page.get_attribute("input[name=trial]", "value")
        assert "Rating as 李雷 🎹" in page.inner_text(".rater")
        assert page.get_attribute("#trial-audio", "aria-label").startswith("The piece to rate")
        assert page.get_attribute("#trial-picture", "alt") in (
            "The picture for this trial: a beach scene",
            "The picture for this trial: a forest scene",
        )
        assert page.get_attribute("#heard", "aria-live") == "polite"
        for column, score in zip(("i2m", "melody", "noise"), scores):
            page.check(f"#scale-{column} input[value='{score}']")
        if k == 0:
            assert page.is_disabled("#rate")  # not before the piece is played
            page.evaluate("document.getElementById('rating-form').submit()")  # forced anyway: refused
            assert "Not saved: listen to at least 90% of the piece first (heard 0.0 of 1.0 s)" in page.inner_text(
                "#error"
            )
            page.goto(base + "/listen/trial")  # a reload keeps the trial
            assert page.get_attribute("input[name=trial]", "value") == token
            for column, score in zip(("i2m", "melody", "noise"), scores):
                page.check(f"#scale-{column} input[value='{score}']")
        assert hear(page) == pytest.approx(1.0, abs=1e-3)
        page.wait_for_function("!document.getElementById('rate').disabled")
        if k == 0:
            screenshot(page, tmp_path, "serve-listen.png")
            assert_accessible(page)
        page.click("#rate")
        page.wait_for_selector("#note")
        given[token] = scores
    bob = new_page(browser)  # another rater, with a valid session of his own, posts this rater's next trial
    bob.goto(base + "/listen")
    bob.fill("#name", "bob")
    bob.click("#start")
    bob.wait_for_selector("#trial-audio")
    forged = bob.request.post(
        base + "/listen/rate",
        form={
            "trial": page.get_attribute("input[name=trial]", "value"),
            "played": "9",
            "i2m": "1",
            "melody": "1",
            "noise": "1",
        },
        max_redirects=0,
    )
    assert forged.status == 403
    with sqlite3.connect(settings.ratings) as con:
        rows = con.execute("SELECT trial, rater, system, i2m, melody, noise, played FROM ratings").fetchall()
        names = {r[0] for r in con.execute("SELECT name FROM raters")}
    assert len(rows) == 3 and {r[0] for r in rows} == set(given) and len({r[1] for r in rows}) == 1
    assert names == {"李雷 🎹", "bob"} and all(r[6] >= 0.9 for r in rows)
    assert all(url.startswith(base) for url in requests)
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
