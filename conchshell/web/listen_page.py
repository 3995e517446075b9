"""The blind listening test.

    GET  /listen                 rater name form and the three scales' wording
    POST /listen                 register the rater, set the signed session cookie → /listen/trial
    GET  /listen/trial           the rater's current trial (fixed per rater and position: a reload shows
                                 the same one), or "all done"
    POST /listen/rate            the session's rating of its own trial, once the piece was played → next trial
    GET  /listen/audio/<token>   the trial's piece (the URL names no system); only for the trial's rater
    GET  /listen/picture/<token>

A rating counts only when the browser reports at least MIN_PLAYED of the piece's length as heard
(the union of the played ranges, so seeking to the end does not count).
"""

from __future__ import annotations

import soundfile as sf
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from conchshell.errors import ConchError
from conchshell.evaluation.listening import ratings
from conchshell.web import session
from conchshell.web.composer import readable
from conchshell.web.pages import SCALE_TEXT, message, page
from conchshell.web.trials import SamplePool, load_pool

MIN_PLAYED = 0.9
NAME_LENGTH = 60


def pool(request: Request) -> SamplePool:
    """The samples being rated, read once per app."""
    state = request.app.state
    if getattr(state, "pool", None) is None:
        state.pool = load_pool(state.settings.samples, state.settings.prepared)
    return state.pool


def rater_of(request: Request) -> str | None:
    """The rater id the request's session cookie signs, or None."""
    return session.verify(request.cookies.get(session.COOKIE), request.app.state.session_key)


async def listen(request: Request) -> Response:
    db = request.app.state.settings.ratings
    rater = rater_of(request)
    name = await run_in_threadpool(ratings.rater_name, db, rater) if rater else None
    return page(request, "listen.html", rater=name)


async def start(request: Request) -> Response:
    db = request.app.state.settings.ratings
    form = await request.form(max_files=0, max_fields=4)
    name = " ".join(str(form.get("name", "")).split())[:NAME_LENGTH]
    rater = rater_of(request)
    if rater is None or not name or name != await run_in_threadpool(ratings.rater_name, db, rater):
        rater = await run_in_threadpool(ratings.new_rater, db, name or "anonymous")
    response = RedirectResponse("/listen/trial", status_code=303)
    response.set_cookie(
        session.COOKIE, session.sign(rater, request.app.state.session_key), max_age=session.MAX_AGE, httponly=True
    )
    return response


async def trial_page(request: Request) -> Response:
    settings, rater = request.app.state.settings, rater_of(request)
    if rater is None:
        return RedirectResponse("/listen", status_code=303)
    samples = pool(request)

    def choose(taken, counts):
        return samples.next_pair(taken, counts, settings.rng)

    trial = await run_in_threadpool(ratings.current_trial, settings.ratings, rater, samples.experiment, choose)
    name = await run_in_threadpool(ratings.rater_name, settings.ratings, rater)
    if trial is None:
        return page(request, "done.html", rater=name, done=samples.size)
    notes = {"1": "Saved. Next trial:", "again": "That piece was already rated (another tab?). Next trial:"}
    return page(
        request,
        "trial.html",
        rater=name,
        trial=trial,
        category=readable(samples.categories.get(trial["sample"], "")),
        total=samples.size,
        min_played=MIN_PLAYED,
        note=notes.get(request.query_params.get("saved", "")),
    )


async def rate(request: Request) -> Response:
    settings, rater = request.app.state.settings, rater_of(request)
    form = await request.form(max_files=0, max_fields=8)
    if rater is None:
        return message(request, "Not saved: no valid rater session; start again at /listen.", 403, back="/listen")
    try:
        scores = {column: int(form.get(column, "")) for column in SCALE_TEXT}
        played = float(form.get("played", "0") or 0)
    except ValueError:
        return message(request, "Please choose a score from 1 to 5 on all three scales.", 400, back="/listen/trial")
    token = str(form.get("trial", ""))
    row = await run_in_threadpool(ratings.trial, settings.ratings, token)
    if row is None or row["rater"] != rater:
        return message(request, "Not saved: this trial was not given to you.", 403, back="/listen/trial")
    seconds = await run_in_threadpool(duration, pool(request), row)
    if not played >= MIN_PLAYED * seconds:
        text = f"Not saved: listen to at least {MIN_PLAYED:.0%} of the piece first (heard {played:.1f} of {seconds:.1f} s)."
        return message(request, text, 400, back="/listen/trial")
    try:
        saved = await run_in_threadpool(
            ratings.record_rating, settings.ratings, token, rater, scores, min(played, seconds), settings.commit_id
        )
    except ValueError as err:
        return message(request, f"Not saved: {err}.", 400, back="/listen/trial")
    return RedirectResponse(f"/listen/trial?saved={'1' if saved else 'again'}", status_code=303)


def duration(samples: SamplePool, row: dict) -> float:
    """Seconds of the trial's piece."""
    path = samples.audio(row["sample"], row["system"])
    try:
        return float(sf.info(str(path)).duration)
    except (OSError, RuntimeError) as err:
        raise ConchError(f"{path}: the trial's piece cannot be read ({err})") from err


async def trial_file(request: Request) -> Response:
    what, rater = request.path_params["what"], rater_of(request)
    row = await run_in_threadpool(ratings.trial, request.app.state.settings.ratings, request.path_params["token"])
    samples = pool(request)
    if what not in ("audio", "picture") or row is None or rater is None or row["rater"] != rater:
        raise HTTPException(404)
    if row["experiment"] != samples.experiment or row["sample"] not in samples.pictures:
        raise HTTPException(404)
    path = samples.audio(row["sample"], row["system"]) if what == "audio" else samples.pictures[row["sample"]]
    if not path.is_file():
        raise ConchError(
            f"{path.name}: the {what} file of this trial is missing on the server; tell the organiser of the study"
        )
    return FileResponse(path, media_type="audio/wav" if what == "audio" else None)


ROUTES = [
    Route("/listen", listen),
    Route("/listen", start, methods=["POST"]),
    Route("/listen/trial", trial_page),
    Route("/listen/rate", rate, methods=["POST"]),
    Route("/listen/{what:str}/{token:str}", trial_file),
]
