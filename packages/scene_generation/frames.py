"""Frames of a shot's video with ffmpeg: the last frame (what the next shot starts from and what
the quality gate scores) and the first frame."""

from __future__ import annotations

import asyncio
from pathlib import Path

from packages.core.media import ffmpeg_binary

TAIL_S = 0.3  # seconds before the end the last-frame search starts


async def _ffmpeg(args: list[str], dest: Path, what: str, ffmpeg: str | None, every: bool = False) -> Path:
    """Runs ffmpeg writing one PNG (the first frame, or with `every` each frame over the last)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.stem + ".part.png")
    partial.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(ffmpeg), "-hide_banner", "-loglevel", "error", "-y", *args,
        *([] if every else ["-frames:v", "1"]), "-update", "1", str(partial),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    if process.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise ValueError(f"could not extract the {what} frame: {stderr.decode(errors='replace')[-300:]}")
    partial.replace(dest)
    return dest


async def first_frame(video: Path, dest: Path, ffmpeg: str | None = None) -> Path:
    return await _ffmpeg(["-i", str(video)], dest, "first", ffmpeg)


async def last_frame(video: Path, dest: Path, ffmpeg: str | None = None) -> Path:
    """The very last decoded frame: from a little before the end (-sseof; a clip at a low frame rate
    may have no frame there, then from the start), overwrite one PNG with each frame until the
    stream ends (-update), so the final write is the last frame. Few frames are written this way."""
    try:
        return await _ffmpeg(["-sseof", f"-{TAIL_S}", "-i", str(video), "-an"], dest, "last", ffmpeg, every=True)
    except ValueError:
        return await _ffmpeg(["-i", str(video), "-an"], dest, "last", ffmpeg, every=True)
