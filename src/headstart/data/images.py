"""Decoding images from paths or uint8 arrays, and stacking them into pixel arrays."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from headstart.errors import HeadstartError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")  # GIF: the first frame


class ImageDecodeError(HeadstartError):
    """An image that cannot be read; ``path`` and ``reason`` are kept for skip records."""

    def __init__(self, message: str, *, path: str, reason: str) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


def is_image_path(name: str | os.PathLike[str]) -> bool:
    """Whether a file name has a supported image extension (case-insensitive)."""
    return str(name).lower().endswith(IMAGE_EXTENSIONS)


def _normalize_mode(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit L (grayscale) or RGB."""
    mode = im.mode
    if mode in ("L", "RGB"):
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        if mode.startswith("I;16") or hi > 255:
            scale = 255.0 / 65535.0 if hi <= 65535 else 255.0 / hi
            arr = arr * scale
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    if mode in ("1", "LA", "La"):
        return im.convert("L")
    if mode == "P" and "transparency" not in im.info:
        return im.convert("RGB")
    if mode in ("RGBA", "RGBa", "PA", "P"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _array_to_image(arr: np.ndarray, where: str) -> Image.Image:
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer) and arr.size and arr.min() >= 0 and arr.max() <= 255:
            arr = arr.astype(np.uint8)
        else:
            raise HeadstartError(
                f"{where}: image array has dtype {arr.dtype}; convert it to uint8 0-255 "
                "(e.g. (x * 255).round().astype('uint8'))"
            )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr), mode="L")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(arr[:, :, :3]), mode="RGB")
    raise HeadstartError(
        f"{where}: image array has shape {arr.shape}; expected (H, W) grayscale or (H, W, 3) RGB uint8"
    )


def read_image(item: Any, *, locator: str | None = None) -> Image.Image:
    """Decode a path or a uint8 array (H,W) / (H,W,C) into an 8-bit L or RGB PIL image.

    Raises HeadstartError naming the file (or ``locator``) when the image is missing, unreadable or corrupt.
    """
    if isinstance(item, np.ndarray):
        return _array_to_image(item, locator or "image array")
    if isinstance(item, Image.Image):
        return _normalize_mode(item)
    if not isinstance(item, (str, os.PathLike)):
        raise HeadstartError(f"{locator or 'image'}: expected a file path or a uint8 array, got {type(item).__name__}")
    path = Path(item)
    where = locator or str(path)
    if not path.is_file():
        raise ImageDecodeError(f"{where}: image file not found; check the path", path=where, reason="file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                out = _normalize_mode(im)
                if out is im:
                    out = im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageDecodeError(
            f"{where}: cannot decode image ({reason}); re-save or remove the file, or pass --on-bad-item skip",
            path=where,
            reason=f"cannot decode image ({reason})",
        ) from None
    except Image.DecompressionBombWarning:
        raise ImageDecodeError(
            f"{where}: image is too large to decode safely; downscale it or remove the file",
            path=where,
            reason="image too large to decode safely",
        ) from None
    return out


def check_image(path: str | os.PathLike[str], *, locator: str | None = None) -> None:
    """Fully decode an image file once, raising HeadstartError naming the file if it is corrupt."""
    read_image(path, locator=locator)


def images_to_array(
    items: Sequence[Any] | np.ndarray,
    size: int | tuple[int, int],
    *,
    grayscale: bool,
) -> np.ndarray:
    """Decode and resize items into a uint8 array (N,H,W) when ``grayscale`` else (N,H,W,3).

    ``size`` is a side length or ``(width, height)``. Arrays already at the target size are not resampled.
    """
    width, height = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    n = len(items)
    out = np.empty((n, height, width) if grayscale else (n, height, width, 3), dtype=np.uint8)
    if isinstance(items, np.ndarray) and items.dtype == np.uint8 and items.shape[1:3] == (height, width):
        if grayscale and items.ndim == 3:
            return items.copy()
        if not grayscale and items.ndim == 4 and items.shape[3] == 3:
            return items.copy()
    mode = "L" if grayscale else "RGB"
    for i in range(n):
        im = read_image(items[i])
        if im.mode != mode:
            im = im.convert(mode)
        if im.size != (width, height):
            im = im.resize((width, height), Image.Resampling.BILINEAR)
        out[i] = np.asarray(im, dtype=np.uint8)
    return out
