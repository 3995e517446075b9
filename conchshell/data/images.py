"""Pictures: read any picture Pillow opens as RGB uint8 [size, size, 3].

- EXIF orientation is applied (`ImageOps.exif_transpose`), so a rotated phone photo stands upright.
- Transparency (RGBA, LA, palette with a transparent colour) is composited onto a white background.
- 16-bit and 32-bit grayscale ('I;16', 'I', 'F') are scaled to 8 bits (values above 255 are read as
  16-bit: divided by 257; floats in [0, 1] are multiplied by 255), then repeated on three channels.
- CMYK, palette, grayscale, YCbCr, LAB, HSV and 1-bit pictures are converted by Pillow.
- Resizing keeps the aspect ratio: the shorter side is scaled to `size` (Lanczos), then the centre
  `size`×`size` square is cut out.
A file Pillow cannot read is a ConchError naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from conchshell.errors import ConchError

if TYPE_CHECKING:  # torch only for to_tensor: the ONNX Runtime generate path reads pictures without it
    import torch

WHITE = (255, 255, 255)


def read_picture(path: str | os.PathLike, size: int = 224) -> np.ndarray:
    """Read `path` → uint8 [size, size, 3] (RGB)."""
    path = Path(path)
    if not path.is_file():
        raise ConchError(f"{path}: picture not found")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = to_rgb(img)
    except ConchError:
        raise
    except Exception as err:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ConchError(f"{path}: not a readable picture ({_first_line(err)})") from err
    return np.asarray(fit_square(rgb, size), dtype=np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → an 'RGB' image (transparency onto white, high bit depths scaled to 8 bits)."""
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;"):
        return Image.fromarray(_gray_to_uint8(np.asarray(img)), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _gray_to_uint8(values: np.ndarray) -> np.ndarray:
    """16/32-bit or float grayscale [H, W] → uint8 [H, W]."""
    values = values.astype(np.float64)
    top = float(np.nanmax(values)) if values.size else 0.0
    if values.dtype.kind == "f" and top <= 1.0:
        values = values * 255.0
    elif top > 255.0:
        values = values / 257.0
    return np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to `size` and cut out the centre `size`×`size` square."""
    width, height = img.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    if new != img.size:
        img = img.resize(new, Image.Resampling.LANCZOS)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return img.crop((left, top, left + size, top + size))


def to_tensor(pictures: np.ndarray) -> torch.Tensor:
    """uint8 [B, H, W, 3] (or one [H, W, 3]) → float32 [B, 3, H, W] (or [3, H, W]) in [0, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(pictures))
    x = x.permute(0, 3, 1, 2) if x.ndim == 4 else x.permute(2, 0, 1)
    return x.float().div_(255.0)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
