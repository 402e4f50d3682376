"""Pictures and files for the ComfyUI double: frames that differ by seed, prompt and frame index,
and the writers (PNG, animated WEBP, and ffmpeg for mp4/webm/mkv/mov/gif) its save nodes use.

A picture is a two-colour gradient picked from the seed, with the seed and the frame index printed
on it and a disc that moves from frame to frame, so tests can tell outputs apart by their pixels.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

_GRADIENT = Image.linear_gradient("L")


def colours(seed: int, text: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(f"{seed}|{text}".encode()).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def render(width: int, height: int, seed: int, text: str, index: int = 0, count: int = 1,
           source: Image.Image | None = None, keep: float = 0.0, inset: Image.Image | None = None) -> Image.Image:
    """One generated frame. `source` (an input picture) shows through with weight `keep` (img2img,
    image-to-video); `inset` (an IP-Adapter reference) is pasted small in a corner."""
    c1, c2 = colours(seed, text)
    mask = _GRADIENT.rotate(90).resize((width, height))
    img = Image.composite(Image.new("RGB", (width, height), c1), Image.new("RGB", (width, height), c2), mask)
    if source is not None and keep > 0:
        img = Image.blend(img, source.convert("RGB").resize((width, height)), min(max(keep, 0.0), 1.0))
    draw = ImageDraw.Draw(img)
    r = max(2, min(width, height) // 10)
    x = r + (width - 2 * r) * (index / max(count - 1, 1))
    draw.ellipse((x - r, height / 2 - r, x + r, height / 2 + r), fill=(255 - c1[0], 255 - c1[1], 255 - c1[2]))
    size = max(8, min(width, height) // 12)
    font = ImageFont.load_default(size=size)
    draw.text((4, 4), f"seed {seed}", fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    if count > 1:
        draw.text((4, 6 + size), f"frame {index}", fill=(255, 255, 255), font=font, stroke_width=1,
                  stroke_fill=(0, 0, 0))
    if inset is not None:
        thumb = inset.convert("RGB").resize((max(width // 5, 1), max(height // 5, 1)))
        img.paste(thumb, (width - thumb.width, height - thumb.height))
    return img


@dataclass
class Pictures:
    """An IMAGE batch (or the frames of a video): frame i is made on demand."""

    width: int
    height: int
    count: int
    make: Callable[[int], Image.Image] = field(repr=False)

    def frame(self, i: int) -> Image.Image:
        img = self.make(min(i, self.count - 1))
        return img if img.size == (self.width, self.height) else img.resize((self.width, self.height))

    def frames(self) -> Iterable[Image.Image]:
        return (self.frame(i) for i in range(self.count))

    def __str__(self) -> str:  # how the real server prints a tensor input in an execution error
        return f"tensor([[[[0.5020, 0.4980, 0.5059],\n          ...]]]) # shape [{self.count}, {self.height}, {self.width}, 3]"

    @staticmethod
    def of(img: Image.Image) -> "Pictures":
        img = img.convert("RGB")
        return Pictures(img.width, img.height, 1, lambda i: img)


def png_info(prompt: dict | None, extra_pnginfo: dict | None) -> PngInfo:
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def save_png(img: Image.Image, path: Path, info: PngInfo | None = None, compress_level: int = 4) -> None:
    img.save(path, pnginfo=info, compress_level=compress_level)


def save_animated(pictures: Pictures, path: Path, fps: float, fmt: str, loop: int = 0, **kw) -> None:
    """Animated WEBP / GIF / APNG through Pillow (SaveAnimatedWEBP, VHS image/* formats)."""
    frames = list(pictures.frames())
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                   loop=loop, **kw)


# ffmpeg arguments per container/codec (VideoHelperSuite formats and core SaveVideo/SaveWEBM).
FFMPEG_ARGS = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "19", "-pix_fmt", "yuv420p"],
    "h265": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=quiet", "-pix_fmt", "yuv420p"],
    "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "32",
            "-pix_fmt", "yuv420p"],
    "av1": ["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p"],
    "prores": ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"],
    "ffv1": ["-c:v", "ffv1"],
    "gif": ["-filter_complex", "[0:v] split [a][b]; [a] palettegen [p]; [b][p] paletteuse"],
    "png": [],
}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # the ffmpeg binary the project uses (DESIGN.md section 6)

    return imageio_ffmpeg.get_ffmpeg_exe()


def save_ffmpeg(pictures: Pictures, path: Path, fps: float, codec: str) -> None:
    """Encode the frames with ffmpeg, fed raw RGB on stdin."""
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{pictures.width}x{pictures.height}", "-r", f"{fps}", "-i", "-", *FFMPEG_ARGS[codec], str(path)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for frame in pictures.frames():
            proc.stdin.write(frame.tobytes())
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
        err = proc.stderr.read()
        proc.stderr.close()
    if proc.wait() != 0:
        raise RuntimeError(f"An error occured in the ffmpeg subprocess:\n{err.decode(errors='replace')}")


def convert_preview(path: Path, fmt: str, quality: int, channel: str) -> bytes:
    """GET /view?preview=webp;50 : the picture re-encoded (webp or jpeg)."""
    with Image.open(path) as img:
        if fmt == "jpeg" or channel == "rgb":
            img = img.convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format=fmt, quality=quality)
        return buf.getvalue()


def jpeg_bytes(img: Image.Image, max_size: int = 512) -> bytes:
    img = img.copy()
    img.thumbnail((max_size, max_size))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()
