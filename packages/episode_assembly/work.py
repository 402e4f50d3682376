"""The bodies of the episode jobs (jobs.py defers them; the demo may await them directly after
`service.start_*(..., defer=False)`). Each reloads the row and acts only in the state its command
left (assembling / publishing), so a second run of a finished step does nothing. A failure marks
the episode failed with the reason and emits episode.failed; it never raises."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from packages.core.db import transaction
from packages.core.jobs import runtime
from packages.core.paths import inside_home
from packages.episode_assembly import assembly, events, jellyfin, publish as placing, queries
from packages.episode_assembly.service import episode_dir, shared_files

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.5


class Gone(Exception):
    """The episode was deleted or left the state this job works in."""


async def _set(episode_id: int, expected: str, event=None, **fields) -> None:
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            episode = await queries.get_episode(conn, episode_id, for_update=True)
            if episode is None or episode["status"] != expected:
                raise Gone()
            await queries.update_episode(conn, episode_id, fields)
            fresh = await queries.get_episode(conn, episode_id)
            await tx.emit(event or events.AssemblyProgress(project_id=fresh["project_id"], episode_id=episode_id,
                                                           progress=fresh["progress"], step=fresh["step"]))


async def _load(episode_id: int, expected: str):
    async with runtime.acquire() as conn:
        episode = await queries.get_episode(conn, episode_id)
        if episode is None or episode["status"] != expected:
            return None, []
        return episode, await queries.assembly_inputs(conn, episode_id)


async def _fail(episode, expected: str, error: str) -> None:
    try:
        await _set(episode["id"], expected, events.EpisodeFailed(project_id=episode["project_id"],
                                                                 episode_id=episode["id"], error=error),
                   status="failed", step="failed", error=error)
    except Gone:
        pass


def _relative(settings, path: Path) -> str:
    return str(inside_home(settings, path).relative_to(settings.home))


async def assemble(episode_id: int) -> None:
    settings = runtime.settings
    episode, scenes = await _load(episode_id, "assembling")
    if episode is None:
        return
    last = [0.0]

    async def progress(fraction: float, step: str) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            await _set(episode_id, "assembling", progress=round(0.9 * fraction, 3), step=step)

    try:
        missing = [s["title"] for s in scenes if not s["output_path"]]
        if not scenes or missing:
            raise ValueError("every scene needs its video: " + (", ".join(missing) or "no scenes"))
        await _set(episode_id, "assembling", progress=0.0, step="probing the scenes")
        paths = [inside_home(settings, settings.home / s["output_path"]) for s in scenes]
        folder = episode_dir(settings, episode)
        result = await assembly.assemble(paths, folder / "episode.mp4", fade_s=episode["fade_s"],
                                         ffmpeg_path=settings.ffmpeg_binary, on_progress=progress)
        await _set(episode_id, "assembling", progress=0.95, step="thumbnail")
        await assembly.thumbnail(result.path, folder / "thumbnail.jpg", result.duration_s, settings.ffmpeg_binary)
    except Gone:
        return
    except Exception as exc:  # the reason is shown on the episode; the scenes are untouched
        log.exception("episode %s: assembly failed", episode_id)
        await _fail(episode, "assembling", f"assembly failed: {exc}")
        return
    try:
        await _set(episode_id, "assembling",
                   events.EpisodeAssembled(project_id=episode["project_id"], episode_id=episode_id,
                                           output_url=f"episodes/{episode_id}/video", duration_s=result.duration_s,
                                           stream_copy=result.stream_copy),
                   status="assembled", progress=1.0, step="stream copy" if result.stream_copy else "re-encoded",
                   output_path=_relative(settings, result.path),
                   thumbnail_path=_relative(settings, folder / "thumbnail.jpg"), duration_s=result.duration_s)
    except Gone:
        return


def _scan_step(scan: dict) -> str:
    return "published; Jellyfin scan started" if scan["scanned"] else f"published; no Jellyfin scan: {scan['error']}"


def info_of(episode) -> placing.EpisodeInfo:
    return placing.EpisodeInfo(show=episode["project_name"], year=episode["project_created_at"].year,
                               show_plot=episode["project_description"] or "", number=episode["number"],
                               title=episode["title"], plot=episode["description"],
                               aired=episode["created_at"].date())


async def publish(episode_id: int) -> None:
    settings = runtime.settings
    episode, _ = await _load(episode_id, "publishing")
    if episode is None:
        return
    try:
        library = settings.jellyfin_library_dir
        if library is None:
            raise ValueError("JELLYFIN_LIBRARY_DIR is not set")
        if not episode["output_path"]:
            raise ValueError("the episode has not been assembled")
        video = inside_home(settings, settings.home / episode["output_path"])
        thumb = inside_home(settings, settings.home / episode["thumbnail_path"]) if episode["thumbnail_path"] else None
        placed = await asyncio.to_thread(placing.place, library, info_of(episode), video, thumb,
                                         episode["link_mode"] or settings.jellyfin_link_mode)
        stale = [f for f in episode["published_files"] or [] if f not in placed.files]
        async with runtime.acquire() as conn:
            keep = await shared_files(conn, episode)
        await asyncio.to_thread(placing.remove, library, stale, keep | set(placed.files))
        scan = await jellyfin.scan(settings, str(placed.video))
    except Exception as exc:
        log.exception("episode %s: publishing failed", episode_id)
        await _fail(episode, "publishing", f"publishing failed: {exc}")
        return
    try:
        await _set(episode_id, "publishing",
                   events.EpisodePublished(project_id=episode["project_id"], episode_id=episode_id,
                                           path=str(placed.video), jellyfin=scan),
                   status="published", step=_scan_step(scan), published_path=str(placed.video),
                   published_files=placed.files, published_at=datetime.now(UTC))
    except Gone:
        return
