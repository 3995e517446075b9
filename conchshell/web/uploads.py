"""An uploaded picture's bytes → RGB uint8 [size, size, 3], exactly as `generate` reads a picture file.

Refused with an UploadRefused (one line naming the file): an empty file, a file over the byte limit
(checked by the caller while reading the request), a picture whose declared size exceeds `max_pixels`
(a decompression bomb: a few KB of PNG that would decode to gigabytes; checked from the header, before
any pixel is decoded), and anything Pillow cannot read.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from conchshell.data.images import fit_square, to_rgb
from conchshell.errors import ConchError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000


class UploadRefused(ConchError):
    """An upload the app will not use; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def too_large(name: str, limit: int) -> UploadRefused:
    """The refusal for an upload over `limit` bytes."""
    return UploadRefused(f"{name}: the upload is larger than the {limit / 2**20:.0f} MB limit", status=413)


def decode_picture(data: bytes, name: str, size: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Picture file bytes → uint8 [size, size, 3] (EXIF rotation, transparency onto white, centre square)."""
    if not data:
        raise UploadRefused(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise _bomb(name, f"{width}×{height} ({width * height / 1e6:.0f} megapixels)", max_pixels)
                img.load()
                rgb = to_rgb(ImageOps.exif_transpose(img))
    except UploadRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        declared = re.search(r"\((\d+) pixels\)", str(err))  # Pillow's own limit, hit while opening
        dims = f"{int(declared.group(1)) / 1e6:.0f} megapixels" if declared else "its declared size"
        raise _bomb(name, dims, max_pixels) from err
    except UnidentifiedImageError as err:
        raise UploadRefused(f"{name}: not a picture (no image format Pillow reads recognises it)") from err
    except Exception as err:  # noqa: BLE001 - Pillow raises many types for bad files
        text = str(err).strip().splitlines()
        raise UploadRefused(f"{name}: not a readable picture ({text[0] if text else type(err).__name__})") from err
    return np.array(fit_square(rgb, size), dtype=np.uint8)  # a writable copy (torch.from_numpy)


def _bomb(name: str, dims: str, max_pixels: int) -> UploadRefused:
    return UploadRefused(
        f"{name}: refused, {dims} is more than {max_pixels / 1e6:.0f} megapixels "
        "(a decompression bomb, or simply too big: scale it down first)",
        status=413,
    )
