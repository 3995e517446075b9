"""Rendering shared by the routes: a template page, and the one-line message page every error uses."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

#: The paper's three listening scales (Table 2: I2M-MOS, Melody-MOS, Noise-MOS), worded for raters;
#: every scale runs 1 (worst) to 5 (best).
SCALE_TEXT = {
    "i2m": ("I2M", "Does the music fit the picture?", "1 = does not fit the picture at all, 5 = fits it perfectly"),
    "melody": ("Melody", "How melodious is the music?", "1 = no recognisable melody, 5 = a clear, pleasing melody"),
    "noise": ("Noise", "How clean is the sound?", "1 = very noisy or distorted, 5 = no audible noise"),
}


def page(request: Request, name: str, status: int = 200, **context) -> Response:
    """Render templates/<name> (text/html) with `context` and the scales' wording."""
    context.setdefault("scales", SCALE_TEXT)
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status)


def message(request: Request, text: str, status: int, back: str | None = None) -> Response:
    """A page with one line of `text` (role=alert) and, when given, a link back to `back`."""
    return page(request, "message.html", status, message=text, back=back)
