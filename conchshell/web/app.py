"""The Starlette application: Try it (conchshell.web.try_page) and the listening test (conchshell.web.listen_page).

Every page is rendered from conchshell/web/templates; CSS, JS and the icon come from conchshell/web/static;
nothing is fetched from elsewhere. Every failure a person can meet is a page with one line (message.html):
a ConchError (a refused upload, an unusable ratings database, missing files) and any HTTP error (404, 405)
are answered by `one_line`, so nothing reaches the server log as a traceback.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from conchshell import paths
from conchshell.errors import ConchError
from conchshell.evaluation.listening import ratings
from conchshell.web import listen_page, try_page
from conchshell.web.composer import Composer
from conchshell.web.examples import load_examples
from conchshell.web.pages import HERE, message
from conchshell.web.results import ResultStore
from conchshell.web.uploads import MAX_PIXELS, MAX_UPLOAD_BYTES


@dataclass
class Settings:
    """Where the app reads and writes, and its limits."""

    models: Path = Path("models")
    ratings: Path = Path("listening/ratings.sqlite")
    samples: Path = Path("samples")
    prepared: Path = Path("data/prepared")
    params: Path = Path("params.yaml")
    report: Path = paths.REPORT
    level: str | None = None
    device: str = "cpu"
    commit_id: str = "unknown"
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_PIXELS
    max_waiting: int = 32
    rng: random.Random = field(default_factory=random.SystemRandom)


async def one_line(request: Request, err: Exception) -> Response:
    """ConchError → its line (status from the error, else 503); HTTPException → its detail, as a page."""
    if isinstance(err, HTTPException):
        text = {404: "Not found: no such page, picture or piece here."}.get(err.status_code, str(err.detail))
        return message(request, text, err.status_code, back="/")
    back = "/listen/trial" if request.url.path.startswith("/listen") else "/"
    return message(request, str(err), getattr(err, "status", 503), back=back)


def create_app(settings: Settings) -> Starlette:
    """The app; the pipeline starts loading (warm, on the composer's thread) when the app starts."""
    session_key = ratings.create(settings.ratings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.composer = Composer(
            settings.models, settings.params, settings.level, settings.device, settings.max_waiting
        )
        try:
            yield
        finally:
            app.state.composer.close()

    app = Starlette(
        routes=[
            *try_page.ROUTES,
            *listen_page.ROUTES,
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={ConchError: one_line, HTTPException: one_line},
    )
    app.state.settings, app.state.session_key = settings, session_key
    app.state.results, app.state.examples = ResultStore(), load_examples(settings.prepared)
    return app
