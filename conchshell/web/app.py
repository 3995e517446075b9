"""The Starlette application: Try it (`/`, `/generate`) and the listening test (`/listen...`).

    GET  /                     upload form (drop or choose a picture)
    POST /generate             → the page again with category, audio player, mel spectrogram, download link
    GET  /status               {"state": loading|ready|<error>, "waiting": n} (the progress indicator polls it)
    GET  /listen               rater name form and the three scales' wording
    POST /listen               set the rater cookie → /listen/trial
    GET  /listen/trial         a blind trial: picture + one piece, three 1–5 scales (or "all done")
    POST /listen/rate          one transactional SQLite insert → next trial
    GET  /listen/audio/{token} the trial's piece (the URL names no system)
    GET  /listen/picture/{token}
Every page is rendered here from conchshell/web/templates; CSS and JS come from conchshell/web/static.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from conchshell.errors import ConchError
from conchshell.evaluation.listening import ratings
from conchshell.evaluation.report import data_uri
from conchshell.web.composer import Composer
from conchshell.web.trials import SamplePool, load_pool
from conchshell.web.uploads import MAX_PIXELS, MAX_UPLOAD_BYTES, UploadRefused, decode_picture, too_large

HERE = Path(__file__).parent
RATER_COOKIE = "conchshell_rater"

#: The paper's three listening scales (Table 2: I2M-MOS, Melody-MOS, Noise-MOS), worded for raters;
#: every scale runs 1 (worst) to 5 (best).
SCALE_TEXT = {
    "i2m": ("I2M", "Does the music fit the picture?", "1 = does not fit the picture at all, 5 = fits it perfectly"),
    "melody": ("Melody", "How melodious is the music?", "1 = no recognisable melody, 5 = a clear, pleasing melody"),
    "noise": ("Noise", "How clean is the sound?", "1 = very noisy or distorted, 5 = no audible noise"),
}


@dataclass
class Settings:
    """Where the app reads and writes, and its limits."""

    models: Path = Path("models")
    ratings: Path = Path("listening/ratings.sqlite")
    samples: Path = Path("samples")
    prepared: Path = Path("data/prepared")
    params: Path = Path("params.yaml")
    level: str | None = None
    device: str = "cpu"
    commit_id: str = "unknown"
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_PIXELS
    max_waiting: int = 32
    rng: random.Random = field(default_factory=random.SystemRandom)


class BodyTooLarge(Exception):
    """The request body went past the upload limit while it was being read."""


def limited(receive, limit: int):
    """Wrap an ASGI `receive` so that reading more than `limit` body bytes raises BodyTooLarge."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge
        return message

    return wrapped


def create_app(settings: Settings) -> Starlette:
    """The app; the pipeline starts loading (warm, on the composer's thread) when the app starts."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    state: dict = {}
    ratings.create(settings.ratings)

    def page(request: Request, name: str, status: int = 200, **context) -> Response:
        context.setdefault("scales", SCALE_TEXT)
        return templates.TemplateResponse(request, name, context, status_code=status)

    def pool() -> SamplePool:
        if "pool" not in state:  # read once: the samples of the experiment being rated
            state["pool"] = load_pool(settings.samples, settings.prepared)
        return state["pool"]

    async def home(request: Request) -> Response:
        return page(request, "try.html", composer=state["composer"], limit_mb=settings.max_upload_bytes / 2**20)

    async def generate(request: Request) -> Response:
        composer: Composer = state["composer"]
        try:
            data, name = await read_upload(request, settings.max_upload_bytes)
            picture = await run_in_threadpool(decode_picture, data, name, composer.image_size, settings.max_pixels)
            piece = await composer.compose(picture)
        except UploadRefused as err:
            return page(
                request,
                "try.html",
                err.status,
                composer=composer,
                error=str(err),
                limit_mb=settings.max_upload_bytes / 2**20,
            )
        except ConchError as err:
            return page(
                request, "try.html", 503, composer=composer, error=str(err), limit_mb=settings.max_upload_bytes / 2**20
            )
        stem = Path(name).stem or "picture"
        result = {
            "name": name,
            "category": piece.category,
            "seconds": len(piece.wave) / piece.rate,
            "rate": piece.rate,
            "audio": data_uri(piece.wav, "audio/wav"),
            "mel": data_uri(piece.mel_png, "image/png"),
            "download": f"{stem}.wav",
        }
        return page(request, "try.html", composer=composer, result=result, limit_mb=settings.max_upload_bytes / 2**20)

    async def status(request: Request) -> Response:
        composer: Composer = state["composer"]
        return JSONResponse({"state": composer.state, "waiting": composer.waiting})

    async def listen(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=4)
            name = (
                " ".join(str(form.get("name", "")).split())[:60]
                or f"anonymous-{random.SystemRandom().randrange(16**6):06x}"
            )
            response = RedirectResponse("/listen/trial", status_code=303)
            response.set_cookie(RATER_COOKIE, name, max_age=30 * 86400, httponly=True, samesite="lax")
            return response
        return page(request, "listen.html", rater=request.cookies.get(RATER_COOKIE))

    async def trial_page(request: Request) -> Response:
        rater = request.cookies.get(RATER_COOKIE)
        if not rater:
            return RedirectResponse("/listen", status_code=303)
        try:
            samples = pool()
        except ConchError as err:
            return page(request, "listen.html", 503, rater=rater, error=str(err))
        rated, counts = await run_in_threadpool(ratings.rated_pairs, settings.ratings, samples.experiment)
        pair = samples.next_pair(rater, rated, counts, settings.rng)
        done = sum(1 for r, _, _ in rated if r == rater)
        total = len(samples.ids) * len(ratings.SYSTEMS)
        if pair is None:
            return page(request, "done.html", rater=rater, done=done)
        token = await run_in_threadpool(ratings.new_trial, settings.ratings, rater, *pair, samples.experiment)
        note = {"1": "Saved. Next trial:", "again": "That trial was already rated (another tab?). Next trial:"}
        return page(
            request,
            "trial.html",
            rater=rater,
            token=token,
            done=done,
            total=total,
            note=note.get(request.query_params.get("saved", "")),
        )

    async def rate(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=8)
        token = str(form.get("trial", ""))
        try:
            scores = {column: int(form.get(column, "")) for column in SCALE_TEXT}
        except ValueError:
            return page(
                request,
                "message.html",
                400,
                message="Please choose a score from 1 to 5 on all three scales.",
                back=True,
            )
        try:
            saved = await run_in_threadpool(ratings.record_rating, settings.ratings, token, scores, settings.commit_id)
        except ValueError as err:
            return page(request, "message.html", 400, message=f"Not saved: {err}.", back=True)
        return RedirectResponse(f"/listen/trial?saved={'1' if saved else 'again'}", status_code=303)

    async def trial_file(request: Request) -> Response:
        if request.path_params["what"] not in ("audio", "picture"):
            return Response("not found", status_code=404)
        row = await run_in_threadpool(ratings.trial, settings.ratings, request.path_params["token"])
        try:
            samples = pool()
        except ConchError:
            return Response("no samples", status_code=404)
        if row is None or row["experiment"] != samples.experiment or row["sample"] not in samples.pictures:
            return Response("unknown trial", status_code=404)
        if request.path_params["what"] == "audio":
            return FileResponse(samples.audio(row["sample"], row["system"]), media_type="audio/wav")
        return FileResponse(samples.pictures[row["sample"]])

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["composer"] = Composer(
            settings.models, settings.params, settings.level, settings.device, settings.max_waiting
        )
        try:
            yield
        finally:
            state["composer"].close()

    routes = [
        Route("/", home),
        Route("/generate", generate, methods=["POST"]),
        Route("/status", status),
        Route("/listen", listen, methods=["GET", "POST"]),
        Route("/listen/trial", trial_page),
        Route("/listen/rate", rate, methods=["POST"]),
        Route("/listen/{what:str}/{token:str}", trial_file),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The `picture` file of a multipart form → (bytes, file name); UploadRefused when missing or too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 65536:
        async for _ in request.stream():  # read and drop the body, so the browser gets our answer
            pass
        raise too_large("picture", limit)
    request = Request(request.scope, limited(request.receive, limit + 65536))
    try:
        form = await request.form(max_files=1, max_fields=4)
    except BodyTooLarge:
        raise too_large("picture", limit) from None
    except Exception as err:  # noqa: BLE001 - a malformed multipart body
        raise UploadRefused(f"not a valid upload ({err})") from err
    upload = form.get("picture")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise UploadRefused("no picture: choose or drop a picture file first")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise too_large(upload.filename, limit)
    return data, upload.filename
