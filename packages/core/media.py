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

from packages.core.procs import dies_with_parent

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
    """Writes a WEBP thumbnail (longest side THUMBNAIL_SIZE) and returns the source's size.
    One runs per generated image, so it is made cheap: a box reduction before the resampling
    (reducing_gap) and WEBP's method 2 take a 1024 px render from 63 ms to 30 ms of CPU, for the
    same file size and a difference the eye does not see at this size."""
    with Image.open(source) as img:
        size = img.size
        img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), reducing_gap=2.0)
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").save(dest, "WEBP", quality=80, method=2)
    return size


@dataclass
class VideoInfo:
    width: int
    height: int
    duration_s: float | None
    fps: float | None
    has_audio: bool = False


async def _run(args: list[str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE, **dies_with_parent())
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
    return VideoInfo(int(size.group(1)), int(size.group(2)), seconds, float(fps.group(1)) if fps else None,
                     has_audio=re.search(r"Stream #.*Audio:", report) is not None)


async def video_poster(source: Path, dest: Path, ffmpeg: str | None = None) -> None:
    """A WEBP poster from the video's first frame, thumbnail-sized."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    code, report = await _run([ffmpeg_binary(ffmpeg), "-hide_banner", "-y", "-i", str(source), "-frames:v", "1",
                               "-vf", f"scale='min({THUMBNAIL_SIZE},iw)':-2", str(dest)])
    if code != 0:
        raise ValueError(f"could not read a frame of {source.name}: {report[-300:]}")


async def scene_frames(source: Path, dest_dir: Path, *, every_s: float, threshold: float = 0.3, max_frames: int = 2000,
                       ffmpeg: str | None = None, on_progress=None) -> list[Path]:
    """PNG frames of `source` at scene changes (scene score > `threshold`), plus the first frame and
    at least one every `every_s` seconds, so a static video gives frames too. The filter is built
    from numbers only (no caller text) and passed as one argument. `on_progress(seconds)` is
    awaited with the position reached. Returns the frames in order."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for old in dest_dir.glob("*.png"):  # a rerun starts the extraction over
        old.unlink()
    select = f"select='gt(scene,{float(threshold):g})+isnan(prev_selected_t)+gte(t-prev_selected_t,{float(every_s):g})'"
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(ffmpeg), "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1",
        "-i", str(source), "-an", "-sn", "-vf", select, "-fps_mode", "vfr", "-frames:v", str(int(max_frames)),
        str(dest_dir / "%06d.png"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        **dies_with_parent())
    errors = asyncio.create_task(process.stderr.read())
    async for line in process.stdout:
        key, _, value = line.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and value.isdigit() and on_progress is not None:
            await on_progress(int(value) / 1e6)
    code = await process.wait()
    report = (await errors).decode(errors="replace")
    if code != 0:
        raise ValueError(f"ffmpeg could not read the frames of {source.name}: {report[-300:]}")
    return sorted(dest_dir.glob("*.png"))


async def extract_voice(source: Path, dest: Path, ffmpeg: str | None = None) -> None:
    """The audio track of `source` as a mono 22.05 kHz WAV at `dest` (written atomically)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.stem + ".part.wav")
    code, report = await _run([ffmpeg_binary(ffmpeg), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                               "-vn", "-sn", "-ac", "1", "-ar", "22050", "-c:a", "pcm_s16le", str(partial)])
    if code != 0:
        partial.unlink(missing_ok=True)
        raise ValueError(f"could not extract the audio of {source.name}: {report[-300:]}")
    partial.replace(dest)
