"""Upload sniffing (packages/characters/images.py): only real PNG/JPEG/WEBP bytes pass, bombs
are refused before decoding, and the client's file name never becomes a path.

The sample builders here are shared with tests/integration/test_characters_references.py."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from packages.characters.images import inspect_image, safe_original_name
from packages.core.errors import Invalid, UnsupportedMedia

LIMIT = 64_000_000


def image_bytes(fmt: str = "PNG", size=(16, 12), colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose IHDR is patched to claim width x height (CRC fixed up)."""
    data = bytearray(image_bytes("PNG", (4, 4)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def truncated_png() -> bytes:
    data = image_bytes("PNG", (64, 64))
    return data[: len(data) // 2]


@pytest.mark.parametrize(("fmt", "content_type", "suffix"), [
    ("PNG", "image/png", ".png"), ("JPEG", "image/jpeg", ".jpg"), ("WEBP", "image/webp", ".webp")])
def test_png_jpeg_and_webp_are_accepted_with_their_real_type(fmt, content_type, suffix):
    """The accepted formats are identified from the bytes, with size and hash."""
    data = image_bytes(fmt)
    info = inspect_image(data, max_pixels=LIMIT)
    assert (info.content_type, info.suffix, info.width, info.height, info.bytes) == (
        content_type, suffix, 16, 12, len(data))
    assert len(info.sha256) == 64


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"%PDF-1.7\n" + b"x" * 100,
                                  image_bytes("GIF"), image_bytes("BMP"), image_bytes("TIFF")])
def test_anything_else_is_not_an_image(data):
    """Text, PDFs and image formats other than PNG/JPEG/WEBP are 415 not_an_image."""
    with pytest.raises(UnsupportedMedia) as err:
        inspect_image(data, max_pixels=LIMIT)
    assert err.value.code == "not_an_image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_not_images(fmt):
    """A file cut short (its header is fine) fails verification or decoding: 415."""
    data = image_bytes(fmt, (256, 256))
    with pytest.raises(UnsupportedMedia) as err:
        inspect_image(data[: len(data) * 2 // 3], max_pixels=LIMIT)
    assert err.value.code == "not_an_image"


def test_corrupt_png_checksum_is_not_an_image():
    """A PNG whose chunk CRC does not match is refused."""
    data = bytearray(image_bytes("PNG", (32, 32)))
    data[-20] ^= 0xFF  # inside the IDAT data
    with pytest.raises(UnsupportedMedia):
        inspect_image(bytes(data), max_pixels=LIMIT)


@pytest.mark.parametrize(("width", "height"), [(50_000, 50_000), (9_000, 8_000)])
def test_too_many_pixels_is_a_decompression_bomb(width, height):
    """A header claiming more pixels than the limit is refused before decoding (422), whether or
    not Pillow's own guard would also trip."""
    with pytest.raises(Invalid) as err:
        inspect_image(png_claiming(width, height), max_pixels=LIMIT)
    assert err.value.code == "decompression_bomb"


def test_the_pixel_limit_is_the_configured_one():
    """The limit comes from settings: a 16x12 image is a bomb under a 100-pixel limit."""
    with pytest.raises(Invalid) as err:
        inspect_image(image_bytes("PNG"), max_pixels=100)
    assert err.value.code == "decompression_bomb"
    assert inspect_image(image_bytes("PNG"), max_pixels=192).width == 16


@pytest.mark.parametrize(("given", "kept"), [
    ("../evil.png", "evil.png"), ("..\\..\\windows\\evil.png", "evil.png"), ("/etc/passwd", "passwd"),
    ("bad\x00name\n.png", "badname.png"), ("x" * 300 + ".png", "x" * 200), (None, ""), ("", ""),
])
def test_original_name_is_display_text_only(given, kept):
    """The client's name keeps only its last component, no control characters, 200 chars max."""
    assert safe_original_name(given) == kept
