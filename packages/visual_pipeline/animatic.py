"""The animatic engine: the last engine of the video chain, on the CPU with ffmpeg alone. It moves
a camera over a still (push-in, pan, tilt or shake, chosen by the shot's preset) for the shot's
duration. Every animatic says so: an "ANIMATIC" label burnt into the picture, the container's
title and comment, "animatic" in the file name and `engine = 'animatic'` on its generation; a
scene does not count it as a finished shot for publishing unless the user accepts animatics.

Every move starts from the whole still (zoom 1 at the first frame), so a chained shot's first
frame is the frame it was given. The filter graph is built from numbers only (no user text)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from packages.core.media import ffmpeg_binary

MOTIONS = ("push-in", "pan", "tilt", "shake")
FPS = 24
MAX_SIDE = 1280
LABEL = "ANIMATIC"


def _zoompan(motion: str, frames: int, width: int, height: int) -> str:
    p = f"(on/{max(frames - 1, 1)})"
    centre_x, centre_y = "(iw/2-(iw/zoom/2))", "(ih/2-(ih/zoom/2))"
    if motion == "pan":  # drifts left to right while easing in
        z, x, y = f"1+0.15*{p}", f"(iw-iw/zoom)*{p}", centre_y
    elif motion == "tilt":  # rises from the bottom to the top
        z, x, y = f"1+0.15*{p}", centre_x, f"(ih-ih/zoom)*(1-{p})"
    elif motion == "shake":  # a small zoom, then a jittering frame
        z = f"1+0.06*min(1,{p}*8)"
        x = "(iw-iw/zoom)/2*(1+0.8*sin(on*2.1))"
        y = "(ih-ih/zoom)/2*(1+0.8*cos(on*2.9))"
    else:  # push-in
        z, x, y = f"1+0.18*{p}", centre_x, centre_y
    return f"zoompan=z='{z}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={FPS}"


def fitted_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def label_image(width: int) -> bytes:
    """The burnt-in label: white text on a translucent dark box, sized to the picture."""
    size = max(12, width // 28)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(LABEL)
    pad = size // 3
    box = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 150))
    ImageDraw.Draw(box).text((pad - left, pad - top), LABEL, font=font, fill=(255, 255, 255, 255))
    out = io.BytesIO()
    box.save(out, "PNG")
    return out.getvalue()


async def render(still: Path, dest: Path, *, motion: str, duration_s: float, ffmpeg: str | None = None) -> Path:
    """Writes an H.264 mp4 animatic of `still` to `dest` (atomically) and returns it."""
    if motion not in MOTIONS:
        motion = "push-in"
    with Image.open(still) as img:
        width, height = fitted_size(*img.size)
    frames = max(2, round(duration_s * FPS))
    dest.parent.mkdir(parents=True, exist_ok=True)
    label = dest.with_name(dest.stem + ".label.png")
    label.write_bytes(label_image(width))
    partial = dest.with_name(dest.stem + ".part.mp4")
    graph = (f"[0:v]scale={width}:{height}:flags=lanczos,setsar=1,{_zoompan(motion, frames, width, height)}[cam];"
             f"[cam][1:v]overlay=x=W/60:y=H/60:format=auto,format=yuv420p[v]")
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(ffmpeg), "-hide_banner", "-loglevel", "error", "-y", "-i", str(still), "-i", str(label),
        "-filter_complex", graph, "-map", "[v]", "-frames:v", str(frames), "-r", str(FPS),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-movflags", "+faststart",
        "-metadata", f"title={LABEL}", "-metadata", f"comment=animatic ({motion}) rendered on the CPU, not a shot",
        str(partial), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    label.unlink(missing_ok=True)
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ValueError(f"the animatic could not be rendered: {stderr.decode(errors='replace')[-400:]}")
    partial.replace(dest)
    return dest


async def store(pool, settings, gen, params: dict) -> list[int]:
    """Renders the generation's animatic from its source image and records it as its output
    (idempotent: the same path and row on a rerun). Returns the output ids."""
    from packages.core.db import transaction
    from packages.core.media import probe_video, sha256_file, video_poster
    from packages.core.paths import inside_home
    from packages.visual_pipeline import queries

    async with pool.acquire() as conn:
        source = await queries.get_output(conn, params["source_output_id"]) if params.get("source_output_id") else None
    if source is None or source["kind"] != "image":
        raise ValueError("A video needs a source image from the gallery")
    still = inside_home(settings, settings.home / source["path"])
    dest = inside_home(settings, settings.output_dir / gen["project_slug"] / "videos" / f"gen{gen['id']}_00_animatic.mp4")
    await render(still, dest, motion=params.get("animatic_motion") or "push-in",
                 duration_s=float(params.get("duration_s") or 3.0), ffmpeg=settings.ffmpeg_binary)
    digest = await asyncio.to_thread(sha256_file, dest)
    thumb = settings.output_dir / "thumbnails" / digest[:2] / f"{digest}.webp"
    info = await probe_video(dest, settings.ffmpeg_binary)
    await video_poster(dest, thumb, settings.ffmpeg_binary)
    async with pool.acquire() as conn, transaction(conn):
        output_id = await queries.insert_output(conn, {
            "project_id": gen["project_id"], "character_id": gen["character_id"], "generation_id": gen["id"],
            "kind": "video", "path": str(dest.relative_to(settings.home)),
            "thumbnail": str(inside_home(settings, thumb).relative_to(settings.home)), "width": info.width,
            "height": info.height, "duration_s": info.duration_s, "bytes": dest.stat().st_size, "sha256": digest})
    return [output_id]
