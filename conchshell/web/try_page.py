"""Try it: upload (or pick an example), hear the piece, keep this visit's results at their own URLs.

GET  /                       upload form, options (seed, denoise, level), examples, this visit's results
POST /generate               picture file or `example` id + options → 303 to /result/<id>
GET  /result/<id>            the picture beside its piece: category and confidence, player, spectrogram
GET  /result/<id>/<file>     picture.png | piece.wav | mel.png of that result
GET  /example/<id>           an example's picture
GET  /status                 {"state": loading|ready|<error>, "waiting": n} (the progress line polls it)
GET  /report                 report.html of the evaluate stage
GET  /favicon.ico
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conchshell.evaluation.report import png_bytes
from conchshell.web.composer import Options, readable
from conchshell.web.pages import HERE, page
from conchshell.web.results import VISIT_COOKIE, Result, visit_ids, with_result
from conchshell.web.uploads import UploadRefused, decode_picture, too_large

FORM_OVERHEAD = 65536  # multipart headers and the option fields around the picture
MAX_SEED = 2**31 - 1


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


def try_page(request: Request, status: int = 200, **context) -> Response:
    """try.html with the composer, examples, this visit's results and the upload limit."""
    app = request.app
    store = app.state.results
    visit = [r for r in (store.get(i) for i in visit_ids(request.cookies.get(VISIT_COOKIE))) if r is not None]
    return page(
        request,
        "try.html",
        status,
        composer=app.state.composer,
        examples=app.state.examples,
        visit=visit,
        readable=readable,
        limit_bytes=app.state.settings.max_upload_bytes,
        report=app.state.settings.report.is_file(),
        **context,
    )


async def home(request: Request) -> Response:
    return try_page(request)


async def generate(request: Request) -> Response:
    settings, composer = request.app.state.settings, request.app.state.composer
    try:
        form = await read_form(request, settings.max_upload_bytes)
        data, name = picture_of(form, request.app.state.examples, settings.max_upload_bytes)
        options = options_of(form, composer.levels)
        async with composer.queued():  # Busy when full; waits out the loading, so image_size is the model's
            picture = await run_in_threadpool(decode_picture, data, name, composer.image_size, settings.max_pixels)
            piece = await composer.compose(picture, options)
    except UploadRefused as err:
        return try_page(request, err.status, error=str(err))
    result = request.app.state.results.add(name, await run_in_threadpool(png_bytes, picture), piece)
    response = RedirectResponse(f"/result/{result.id}", status_code=303)
    cookie = with_result(request.cookies.get(VISIT_COOKIE), result.id)
    response.set_cookie(VISIT_COOKIE, cookie, httponly=True, samesite="lax")
    return response


def result_of(request: Request) -> Result:
    result = request.app.state.results.get(request.path_params["id"])
    if result is None:
        raise HTTPException(404)
    return result


async def result_page(request: Request) -> Response:
    return try_page(request, result=result_of(request))


async def result_file(request: Request) -> Response:
    result = result_of(request)
    files = {
        "picture.png": (result.picture_png, "image/png"),
        "piece.wav": (result.piece.wav, "audio/wav"),
        "mel.png": (result.piece.mel_png, "image/png"),
    }
    if request.path_params["file"] not in files:
        raise HTTPException(404)
    body, media_type = files[request.path_params["file"]]
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"})


async def example_picture(request: Request) -> Response:
    example = request.app.state.examples.get(request.path_params["id"])
    if example is None or not example.picture.is_file():
        raise HTTPException(404)
    return FileResponse(example.picture)


async def status(request: Request) -> Response:
    composer = request.app.state.composer
    return JSONResponse({"state": composer.state, "waiting": composer.waiting})


async def report(request: Request) -> Response:
    path: Path = request.app.state.settings.report
    if not path.is_file():
        raise UploadRefused(f"{path}: no report yet (run `dvc repro evaluate`)", status=404)
    return FileResponse(path, media_type="text/html")


async def favicon(request: Request) -> Response:
    return FileResponse(HERE / "static" / "favicon.ico", media_type="image/vnd.microsoft.icon")


async def read_form(request: Request, limit: int) -> FormData:
    """The multipart form, its body read up to `limit` + FORM_OVERHEAD bytes; UploadRefused past that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        head = b""
        async for chunk in request.stream():  # read and drop the body, so the browser gets our answer
            head = head if len(head) > 16384 else head + chunk
        named = re.search(rb'filename="([^"]*)"', head)
        raise too_large(named.group(1).decode("utf-8", "replace") if named else "the picture", limit)
    request = Request(request.scope, limited(request.receive, limit + FORM_OVERHEAD))
    try:
        return await request.form(max_files=1, max_fields=8)
    except BodyTooLarge:
        raise too_large("the picture", limit) from None
    except Exception as err:  # noqa: BLE001 - a malformed multipart body
        raise UploadRefused(f"not a valid upload ({err})") from err


def picture_of(form: FormData, examples: dict, limit: int) -> tuple[bytes, str]:
    """(bytes, file name) of the form's example or uploaded `picture`; UploadRefused when missing or too big."""
    if form.get("example"):
        example = examples.get(str(form["example"]))
        if example is None:
            raise UploadRefused(f"example {form['example']!s}: no such example picture", status=404)
        return example.picture.read_bytes(), example.picture.name
    upload = form.get("picture")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise UploadRefused("no picture: choose or drop a picture file first")
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise too_large(upload.filename, limit)
    return data, upload.filename


def options_of(form: FormData, levels: list[str]) -> Options:
    """The form's seed (empty: params.yaml's), denoise and level; UploadRefused for a bad value."""
    seed = str(form.get("seed", "")).strip()
    if seed and not (seed.isdigit() and int(seed) <= MAX_SEED):
        raise UploadRefused(f"seed: {seed!r} is not a whole number from 0 to {MAX_SEED}")
    level = str(form.get("level", "")).strip() or None
    if level is not None and level not in levels:
        raise UploadRefused(f"level: {level!r} has no trained generator here (have: {', '.join(levels) or 'none'})")
    return Options(int(seed) if seed else None, form.get("denoise") == "on", level)


ROUTES = [
    Route("/", home),
    Route("/generate", generate, methods=["POST"]),
    Route("/result/{id:str}", result_page),
    Route("/result/{id:str}/{file:str}", result_file),
    Route("/example/{id:str}", example_picture),
    Route("/status", status),
    Route("/report", report),
    Route("/favicon.ico", favicon),
]
