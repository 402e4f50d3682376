"""Rules and transactions of the Scene Builder: scenes, their shots as an ordered collection
(position operations only), and the commands that start and stop a scene's generation."""

from __future__ import annotations

import asyncpg

from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.schemas import changes
from packages.scene_generation import events, queries
from packages.scene_generation.schemas import SceneCreate, SceneUpdate, ShotCreate, ShotUpdate

BUSY = ("queued", "generating", "assembling")


def _busy(scene) -> None:
    if scene["status"] in BUSY:
        raise Conflict("The scene is being generated; cancel it first or wait", code="scene_busy")


async def _locked(conn, scene_id: int):
    scene = await queries.get_scene(conn, scene_id, for_update=True)
    if scene is None:
        raise NotFound("No scene with that id", code="scene_not_found")
    _busy(scene)
    return scene


async def _check_refs(conn, project_id: int, fields: dict) -> None:
    """Characters, dialogue speaker and source image must belong to the scene's project."""
    ids = fields.get("character_ids")
    if ids:
        if len(set(ids)) != len(ids):
            raise Invalid("A character is listed twice", code="duplicate_character", field="character_ids")
        if await queries.project_characters(conn, project_id, ids) != set(ids):
            raise Invalid("Every character must be one of this project's", code="character_not_found",
                          field="character_ids")
    speaker = fields.get("dialogue_character_id")
    if speaker is not None and not await queries.project_characters(conn, project_id, [speaker]):
        raise Invalid("The speaker must be one of this project's characters", code="character_not_found",
                      field="dialogue_character_id")
    source = fields.get("source_output_id")
    if source is not None and not await queries.project_image_output(conn, project_id, source):
        raise Invalid("The source must be an image of this project's gallery", code="no_source_image",
                      field="source_output_id")


# -- scenes -----------------------------------------------------------------------------------

async def create_scene(conn: asyncpg.Connection, body: SceneCreate, *, storyline_id: int | None = None) -> int:
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", body.project_id):
        raise Invalid("No project with that id", code="project_not_found", field="project_id")
    async with transaction(conn) as tx:
        scene_id = await queries.insert_scene(conn, body.project_id, body.model_dump(), storyline_id)
        await tx.emit(events.SceneCreated(project_id=body.project_id, scene_id=scene_id))
    return scene_id


async def update_scene(conn: asyncpg.Connection, scene, body: SceneUpdate) -> None:
    fields = changes(body, SceneUpdate.NULLABLE)
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        await queries.update_scene(conn, scene["id"], fields)
        await tx.emit(events.SceneUpdated(project_id=scene["project_id"], scene_id=scene["id"]))


async def delete_scene(conn: asyncpg.Connection, scene) -> None:
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        await queries.delete_scene(conn, scene["id"])
        await tx.emit(events.SceneDeleted(project_id=scene["project_id"], scene_id=scene["id"]))


# -- shots ------------------------------------------------------------------------------------

async def create_shot(conn: asyncpg.Connection, scene, body: ShotCreate) -> int:
    fields = body.model_dump(exclude={"position"})
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        await _check_refs(conn, scene["project_id"], fields)
        count = len(await queries.list_shots(conn, scene["id"]))
        position = body.position if body.position is not None else count + 1
        if position > count + 1:
            raise Invalid(f"position is 1 to {count + 1} for this scene", code="bad_position", field="position")
        shot_id = await queries.insert_shot(conn, scene["id"], position, fields)
        await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot_id))
    return shot_id


async def update_shot(conn: asyncpg.Connection, scene, shot, body: ShotUpdate) -> None:
    fields = changes(body, ShotUpdate.NULLABLE)
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        await _check_refs(conn, scene["project_id"], fields)
        await queries.update_shot(conn, shot["id"], fields)
        await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot["id"]))


async def delete_shot(conn: asyncpg.Connection, scene, shot) -> None:
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        await queries.delete_shot(conn, await queries.get_shot(conn, shot["id"]))
        await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot["id"]))


async def move_shot(conn: asyncpg.Connection, scene, shot, position: int) -> None:
    """Moves one shot to `position` (1-based); the others keep their order."""
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        count = len(await queries.list_shots(conn, scene["id"]))
        if not 1 <= position <= count:
            raise Invalid(f"position is 1 to {count} for this scene", code="bad_position", field="position")
        await queries.move_shot(conn, await queries.get_shot(conn, shot["id"]), position)
        await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot["id"]))


async def reset_shot(conn: asyncpg.Connection, scene, shot) -> None:
    """The shot and every later one are generated again on the next run (later shots chain from it)."""
    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        await queries.reset_shots_from(conn, scene["id"], shot["position"])
        await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot["id"]))


# -- commands ---------------------------------------------------------------------------------

async def start_generation(conn: asyncpg.Connection, scene) -> None:
    """Queues the scene's job; it resumes at the first unfinished shot."""
    from packages.scene_generation.jobs import enqueue_scene

    async with transaction(conn) as tx:
        await _locked(conn, scene["id"])
        shots = await queries.list_shots(conn, scene["id"])
        if not shots:
            raise Conflict("The scene has no shots yet", code="no_shots")
        first = shots[0]
        if (first["status"] != "done" and first["source_output_id"] is None and not first["prompt"].strip()
                and not first["character_ids"]):
            raise Invalid("The first shot needs a source image, a prompt or a character to start from",
                          code="no_start_image", field="source_output_id")
        style = await conn.fetchval("SELECT default_style_id FROM projects WHERE id = $1", scene["project_id"])
        if style is None:
            raise Conflict("The project has no default generation style; choose one in the Project tab",
                           code="no_style")
        fields = {"status": "queued", "progress": 0.0, "step": "queued", "error": None}
        await queries.update_scene(conn, scene["id"], fields)
        await tx.emit(events.SceneProgress(project_id=scene["project_id"], scene_id=scene["id"], status="queued",
                                           progress=0.0, step="queued"))
    await enqueue_scene(scene["id"])


async def cancel_generation(conn: asyncpg.Connection, scene) -> None:
    from packages.visual_pipeline import queries as generation_queries
    from packages.visual_pipeline.service import cancel_generation as cancel_one

    async with transaction(conn) as tx:
        fresh = await queries.get_scene(conn, scene["id"], for_update=True)
        if fresh["status"] not in BUSY:
            raise Conflict("The scene is not being generated", code="scene_not_running")
        await queries.update_scene(conn, scene["id"], {"status": "cancelled", "step": "cancelled"})
        running = [s for s in await queries.list_shots(conn, scene["id"]) if s["status"] in ("generating", "reviewing")]
        for shot in running:
            await queries.update_shot(conn, shot["id"], {"status": "pending"})
        await tx.emit(events.SceneCancelled(project_id=scene["project_id"], scene_id=scene["id"]))
    for shot in running:  # the job sees the cancelled generation and stops
        for gen_id in (shot["generation_id"], shot["image_generation_id"]):
            gen = await generation_queries.get_generation(conn, gen_id) if gen_id else None
            if gen is not None and gen["status"] in ("queued", "running"):
                await cancel_one(conn, gen)
