"""Rules and transactions of episodes: the episode, its scenes as an ordered collection (one
`episode_scenes` row per position; every change locks the episode row first, so concurrent
edits are applied one after another and none is lost), and the assemble / publish / unpublish
commands. This is also the plain async API the demo uses (see /work/briefs/episodes_api.md)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg

from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.paths import inside_home
from packages.core.settings import Settings
from packages.episode_assembly import events, publish, queries

BUSY = ("assembling", "publishing")


def episode_dir(settings: Settings, episode) -> Path:
    return inside_home(settings, settings.output_dir / episode["project_slug"] / "episodes" / f"episode{episode['id']}")


async def _locked(conn, episode_id: int, *, idle: bool = True):
    episode = await queries.get_episode(conn, episode_id, for_update=True)
    if episode is None:
        raise NotFound("No episode with that id", code="episode_not_found")
    if idle and episode["status"] in BUSY:
        raise Conflict(f"The episode is {episode['status']}; wait for it to finish", code="episode_busy")
    return episode


async def _changed(tx, episode) -> None:
    await tx.emit(events.EpisodeUpdated(project_id=episode["project_id"], episode_id=episode["id"]))


# -- episodes ---------------------------------------------------------------------------------

async def create_episode(conn: asyncpg.Connection, project_id: int, title: str, *, number: int | None = None,
                         description: str = "", story_arc: str = "") -> int:
    if not title.strip():
        raise Invalid("An episode needs a title", code="invalid", field="title")
    async with transaction(conn) as tx:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id):
            raise Invalid("No project with that id", code="project_not_found", field="project")
        await queries.lock_project_episodes(conn, project_id)
        if number is not None and await queries.number_taken(conn, project_id, number):
            raise Conflict(f"Episode {number} already exists in this project", code="episode_number_taken")
        episode_id = await queries.insert_episode(conn, project_id, number, {
            "title": title.strip(), "description": description, "story_arc": story_arc})
        await tx.emit(events.EpisodeCreated(project_id=project_id, episode_id=episode_id))
    return episode_id


async def update_episode(conn: asyncpg.Connection, episode_id: int, fields: dict) -> None:
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        if "number" in fields:
            await queries.lock_project_episodes(conn, episode["project_id"])
            if await queries.number_taken(conn, episode["project_id"], fields["number"], episode_id):
                raise Conflict(f"Episode {fields['number']} already exists in this project",
                               code="episode_number_taken", field="number")
        if fields.get("status") == "assembled" and not episode["output_path"]:
            raise Conflict("The episode has not been assembled", code="not_assembled", field="status")
        await queries.update_episode(conn, episode_id, fields)
        await _changed(tx, episode)


async def delete_episode(conn: asyncpg.Connection, settings: Settings, episode_id: int) -> None:
    """Removes the episode, what it published into the library and its assembled files."""
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        await _remove_published(conn, settings, episode)
        await queries.delete_episode(conn, episode_id)
        await tx.emit(events.EpisodeDeleted(project_id=episode["project_id"], episode_id=episode_id))
    await asyncio.to_thread(shutil.rmtree, episode_dir(settings, episode), True)


# -- scenes of an episode (position operations) -----------------------------------------------

async def add_scene(conn: asyncpg.Connection, episode_id: int, scene_id: int, position: int | None = None) -> None:
    """Inserts the scene at `position` (1-based; None: at the end); later scenes move down one."""
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        project = await queries.scene_project(conn, scene_id)
        if project is None:
            raise NotFound("No scene with that id", code="scene_not_found")
        if project != episode["project_id"]:
            raise Invalid("The scene belongs to another project", code="scene_other_project", field="scene_id")
        await queries.compact(conn, episode_id)
        current = await queries.scene_ids(conn, episode_id)
        if scene_id in current:
            raise Conflict("The scene is already in this episode", code="scene_in_episode")
        position = len(current) + 1 if position is None else position
        if not 1 <= position <= len(current) + 1:
            raise Invalid(f"position is 1 to {len(current) + 1} for this episode", code="bad_position",
                          field="position")
        await queries.insert_scene(conn, episode_id, scene_id, position)
        await _changed(tx, episode)


async def remove_scene(conn: asyncpg.Connection, episode_id: int, scene_id: int) -> None:
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        await queries.compact(conn, episode_id)
        if not await queries.remove_scene(conn, episode_id, scene_id):
            raise NotFound("The scene is not in this episode", code="scene_not_in_episode")
        await _changed(tx, episode)


async def move_scene(conn: asyncpg.Connection, episode_id: int, scene_id: int, position: int) -> None:
    """Moves one scene to `position` (1-based); the others keep their order."""
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        await queries.compact(conn, episode_id)
        current = await queries.scene_ids(conn, episode_id)
        if scene_id not in current:
            raise NotFound("The scene is not in this episode", code="scene_not_in_episode")
        if not 1 <= position <= len(current):
            raise Invalid(f"position is 1 to {len(current)} for this episode", code="bad_position", field="position")
        current.remove(scene_id)
        current.insert(position - 1, scene_id)
        await queries.set_order(conn, episode_id, current)
        await _changed(tx, episode)


async def reorder(conn: asyncpg.Connection, episode_id: int, scene_ids: list[int]) -> None:
    """The scenes in the given order; refused (409 stale_order) unless it is exactly the current
    set, so a client that missed someone else's add or remove cannot undo it."""
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        await queries.compact(conn, episode_id)
        current = await queries.scene_ids(conn, episode_id)
        if len(scene_ids) != len(current) or set(scene_ids) != set(current):
            raise Conflict("The episode's scenes changed since you loaded them; reload and try again",
                           code="stale_order")
        await queries.set_order(conn, episode_id, scene_ids)
        await _changed(tx, episode)


# -- commands -----------------------------------------------------------------------------------

async def start_assembly(conn: asyncpg.Connection, episode_id: int, *, fade_s: float = 0.0, defer: bool = True) -> None:
    """Marks the episode assembling and (defer) queues its job; every scene needs its video."""
    from packages.episode_assembly.jobs import enqueue_assembly

    if not 0 <= fade_s <= 2:
        raise Invalid("fade_s is 0 to 2 seconds", code="invalid", field="fade_s")
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        scenes = await queries.assembly_inputs(conn, episode_id)
        if not scenes:
            raise Conflict("The episode has no scenes yet", code="no_scenes")
        missing = [s["title"] for s in scenes if not s["output_path"]]
        if missing:
            raise Conflict("These scenes have no video yet: " + ", ".join(missing), code="scene_not_assembled")
        await queries.update_episode(conn, episode_id, {"status": "assembling", "progress": 0.0, "step": "queued",
                                                        "error": None, "fade_s": float(fade_s)})
        await tx.emit(events.AssemblyProgress(project_id=episode["project_id"], episode_id=episode_id,
                                              progress=0.0, step="queued"))
    if defer:
        await enqueue_assembly(episode_id)


async def start_publish(conn: asyncpg.Connection, settings: Settings, episode_id: int, *,
                        link_mode: str | None = None, defer: bool = True) -> None:
    """Marks the episode publishing with its link mode and (defer) queues its job."""
    from packages.episode_assembly.jobs import enqueue_publish

    mode = link_mode or settings.jellyfin_link_mode
    if mode not in ("copy", "hardlink", "symlink"):
        raise Invalid("link_mode is copy, hardlink or symlink", code="bad_link_mode", field="link_mode")
    if settings.jellyfin_library_dir is None:
        raise Conflict("Set JELLYFIN_LIBRARY_DIR to publish episodes", code="no_library")
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        if not episode["output_path"] or episode["status"] == "draft":
            raise Conflict("Assemble the episode before publishing it", code="not_assembled")
        await queries.update_episode(conn, episode_id, {"status": "publishing", "step": "publishing", "error": None,
                                                        "link_mode": mode})
        await _changed(tx, episode)
    if defer:
        await enqueue_publish(episode_id)


async def _remove_published(conn, settings: Settings, episode) -> None:
    files = list(episode["published_files"] or [])
    if not files:
        return
    if settings.jellyfin_library_dir is None:
        raise Conflict("JELLYFIN_LIBRARY_DIR is not set, so the published files cannot be removed",
                       code="no_library")
    keep = await shared_files(conn, episode)
    await asyncio.to_thread(publish.remove, settings.jellyfin_library_dir, files, keep)


async def shared_files(conn, episode) -> set[str]:
    """Files other published episodes of the project also placed (the show's nfo and poster)."""
    rows = await conn.fetch("SELECT published_files FROM episodes WHERE project_id = $1 AND id <> $2",
                            episode["project_id"], episode["id"])
    return {name for row in rows for name in (row["published_files"] or [])}


async def unpublish(conn: asyncpg.Connection, settings: Settings, episode_id: int) -> None:
    """Removes exactly what publishing placed (nothing when it is not published)."""
    async with transaction(conn) as tx:
        episode = await _locked(conn, episode_id)
        await _remove_published(conn, settings, episode)
        status = episode["status"]
        if status == "published":
            status = "assembled" if episode["output_path"] else "draft"
        await queries.update_episode(conn, episode_id, {"status": status, "published_path": None,
                                                        "published_files": [], "published_at": None})
        await tx.emit(events.EpisodeUnpublished(project_id=episode["project_id"], episode_id=episode_id))
