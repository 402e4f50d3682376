"""Media helpers: the ffmpeg binary, image thumbnails, video probing and poster frames.

ffmpeg is imageio-ffmpeg's binary unless FFMPEG_BINARY names another; there is no ffprobe, so
probing reads what `ffmpeg -i` reports."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

THUMBNAIL_SIZE = 384


def ffmpeg_binary(configured: str | None = None) -> str:
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_thumbnail(source: Path, dest: Path) -> tuple[int, int]:
    """Writes a WEBP thumbnail (longest side THUMBNAIL_SIZE) and returns the source's size."""
    with Image.open(source) as img:
        size = img.size
        img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").save(dest, "WEBP", quality=80)
    return size


@dataclass
class VideoInfo:
    width: int
    height: int
    duration_s: float | None
    fps: float | None


async def _run(args: list[str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    return process.returncode, stderr.decode(errors="replace")


async def probe_video(path: Path, ffmpeg: str | None = None) -> VideoInfo:
    _, report = await _run([ffmpeg_binary(ffmpeg), "-hide_banner", "-i", str(path)])
    size = re.search(r"Stream #.*Video:.*?(\d{2,5})x(\d{2,5})", report)
    if not size:
        raise ValueError(f"{path.name} has no video stream")
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", report)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", report)
    seconds = None
    if duration:
        h, m, s = duration.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return VideoInfo(int(size.group(1)), int(size.group(2)), seconds, float(fps.group(1)) if fps else None)


async def video_poster(source: Path, dest: Path, ffmpeg: str | None = None) -> None:
    """A WEBP poster from the video's first frame, thumbnail-sized."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    code, report = await _run([ffmpeg_binary(ffmpeg), "-hide_banner", "-y", "-i", str(source), "-frames:v", "1",
                               "-vf", f"scale='min({THUMBNAIL_SIZE},iw)':-2", str(dest)])
    if code != 0:
        raise ValueError(f"could not read a frame of {source.name}: {report[-300:]}")
