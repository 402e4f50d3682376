"""Where a generation's results go: downloaded from the backend into the studio home, with a
thumbnail; a character's images also become pending images of its dataset (kohya layout)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from packages.core.db import transaction
from packages.core.media import image_thumbnail, probe_video, sha256_file, video_poster
from packages.core.paths import character_dir, inside_home
from packages.core.settings import Settings
from packages.visual_pipeline import queries
from packages.visual_pipeline.comfy_client import ComfyClient, PromptResult


def _relative(settings: Settings, path: Path) -> str:
    return str(inside_home(settings, path).relative_to(settings.home))


def _destination(settings: Settings, gen, index: int, suffix: str, is_video: bool) -> Path:
    name = f"gen{gen['id']}_{index:02d}{suffix}"
    if is_video:
        return settings.output_dir / gen["project_slug"] / "videos" / name
    if gen["character_slug"]:
        return character_dir(settings, gen["project_slug"], gen["character_slug"]) / "images" / name
    return settings.output_dir / gen["project_slug"] / "images" / name


async def store_outputs(pool: asyncpg.Pool, settings: Settings, gen, recipe, client: ComfyClient,
                        result: PromptResult) -> list[int]:
    """Downloads first, then one short transaction for the rows. Idempotent: a rerun after a crash
    writes the same paths and reuses the rows."""
    wanted = [o for o in result.outputs if o.node in recipe.built.output_nodes] or result.outputs
    files = []
    for index, output in enumerate(wanted):
        suffix = Path(output.filename).suffix.lower() or (".mp4" if output.is_video else ".png")
        dest = await client.download(output, _destination(settings, gen, index, suffix, output.is_video))
        digest = await asyncio.to_thread(sha256_file, dest)  # file work off the event loop
        thumb = settings.output_dir / "thumbnails" / digest[:2] / f"{digest}.webp"
        if output.is_video:
            info = await probe_video(dest, settings.ffmpeg_binary)
            await video_poster(dest, thumb, settings.ffmpeg_binary)
            size, duration = (info.width, info.height), info.duration_s
        else:
            size, duration = await asyncio.to_thread(image_thumbnail, dest, thumb), None
        files.append((dest, thumb, digest, size, duration, output.is_video))

    output_ids = []
    async with pool.acquire() as conn, transaction(conn):
        for dest, thumb, digest, (width, height), duration, is_video in files:
            output_id = await queries.insert_output(conn, {
                "project_id": gen["project_id"], "character_id": gen["character_id"], "generation_id": gen["id"],
                "kind": "video" if is_video else "image", "path": _relative(settings, dest),
                "thumbnail": _relative(settings, thumb), "width": width, "height": height, "duration_s": duration,
                "bytes": dest.stat().st_size, "sha256": digest})
            output_ids.append(output_id)
            if gen["character_id"] and not is_video:
                await queries.insert_dataset_image(conn, {
                    "character_id": gen["character_id"], "output_id": output_id, "generation_id": gen["id"],
                    "path": _relative(settings, dest), "thumbnail": _relative(settings, thumb), "sha256": digest,
                    "width": width, "height": height})
    return output_ids
