"""Checking uploaded image bytes before anything reaches the disk (DESIGN.md section 8).

`inspect_image` decides what an upload is from its bytes alone (the client's content type and
file name are ignored):
  - only PNG, JPEG and WEBP are accepted (415 `not_an_image` for anything else);
  - the pixel count from the header is checked against the limit BEFORE any decoding
    (422 `decompression_bomb`); Pillow's own bomb guard stays on as a second net;
  - the file is verified and then fully decoded, so a truncated or corrupt image is a 415 too.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from packages.core.errors import Invalid, UnsupportedMedia

# Pillow format -> (content type, file suffix we store it under)
ACCEPTED = {
    "PNG": ("image/png", ".png"),
    "JPEG": ("image/jpeg", ".jpg"),
    "WEBP": ("image/webp", ".webp"),
}
ORIGINAL_NAME_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    suffix: str
    width: int
    height: int
    sha256: str
    bytes: int


def _not_an_image(name: str, why: str) -> UnsupportedMedia:
    return UnsupportedMedia(f"{name or 'The upload'} is not a PNG, JPEG or WEBP image ({why})",
                            code="not_an_image", field="files")


def _bomb(name: str, width: int | None = None, height: int | None = None, limit: int | None = None) -> Invalid:
    size = f" ({width}x{height} pixels; the limit is {limit})" if width else ""
    return Invalid(f"{name or 'The upload'} is too many pixels to decode safely{size}",
                   code="decompression_bomb", field="files")


def inspect_image(data: bytes, *, max_pixels: int, name: str = "") -> ImageInfo:
    """What the bytes are, or a domain error. Blocking (it decodes): run it in a thread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                fmt, (width, height) = img.format, img.size
        except Image.DecompressionBombError:
            raise _bomb(name) from None
        except Exception as exc:  # Pillow raises many types for bytes it cannot identify
            raise _not_an_image(name, "unrecognised format") from exc
        if fmt not in ACCEPTED:
            raise _not_an_image(name, f"{fmt} is not accepted")
        if width < 1 or height < 1:
            raise _not_an_image(name, "empty image")
        if width * height > max_pixels:
            raise _bomb(name, width, height, max_pixels)
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()  # structure and checksums (PNG chunks)
            with Image.open(io.BytesIO(data)) as img:  # verify() leaves the image unusable: re-open
                img.load()  # full decode: a truncated JPEG/WEBP only shows here
        except Image.DecompressionBombError:
            raise _bomb(name, width, height, max_pixels) from None
        except Exception as exc:
            raise _not_an_image(name, "truncated or corrupt") from exc
    content_type, suffix = ACCEPTED[fmt]
    return ImageInfo(content_type=content_type, suffix=suffix, width=width, height=height,
                     sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def safe_original_name(name: str | None) -> str:
    """The client's file name, kept for display only: its last path component, without control
    characters, at most 200 characters. It never becomes a path."""
    name = _CONTROL.sub("", name or "").replace("\\", "/")
    return PurePosixPath(name).name[:ORIGINAL_NAME_MAX] if name.strip("/") else ""
