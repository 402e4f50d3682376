"""The hero pass: chosen shots (one, or every finished shot of a scene) rendered again at the hero
tier on `hero` backends (pool.ROLE_FALLBACK: a worker when the farm has no hero GPU). The hero
tier is the shot's own start image, seed and duration with HERO_STEPS x the style's steps on the
scene's engine (or the head of the engine chain). A finished shot can get its hero pass while
the scene still renders its later shots (they chain from the frame it had, which stays); the hero
render replaces the shot's video (hero_output_id keeps which one it is) and, once the scene is
done, the scene is assembled again with it.

State lives on the shot rows (hero_status queued -> rendering -> done | failed, and the
generation id before its job is queued), so a restarted job follows the same generations."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.errors import Conflict, DomainError
from packages.core.jobs import defer_once, runtime
from packages.scene_generation import events, farm_queries, queries
from packages.scene_generation.service import BUSY
from packages.visual_pipeline.jobs import enqueue_generation
from packages.visual_pipeline.schemas import GenerationCreate
from packages.visual_pipeline.service import insert_generations

log = logging.getLogger(__name__)
HERO_STEPS = 1.5
HERO_TASK = "farm:hero_pass"


async def start(conn: asyncpg.Connection, scene, shot=None) -> list[int]:
    """Marks the shot (or every finished shot of the scene) for a hero pass and queues the job;
    returns the shot ids. Refused for a shot that is not done or whose hero pass runs."""
    async with transaction(conn) as tx:
        await queries.get_scene(conn, scene["id"], for_update=True)  # serialised with the scene's commands
        shots = await queries.list_shots(conn, scene["id"])
        if shot is not None:
            shots = [s for s in shots if s["id"] == shot["id"]]
            if shots[0]["status"] != "done":
                raise Conflict("Only a finished shot can get a hero pass", code="shot_not_done")
            if shots[0]["hero_status"] in ("queued", "rendering"):
                raise Conflict("A hero pass of this shot is already running", code="hero_pass_running")
        else:
            shots = [s for s in shots if s["status"] == "done" and s["hero_status"] not in ("queued", "rendering")]
            if not shots:
                raise Conflict("The scene has no finished shot to re-render", code="shot_not_done")
        for row in shots:
            await farm_queries.update_hero(conn, row["id"], {"hero_status": "queued", "hero_error": None,
                                                             "hero_generation_id": None})
        await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"],
                                          shot_id=shot["id"] if shot is not None else None))
    await defer_once(HERO_TASK, f"hero-scene-{scene['id']}", scene_id=scene["id"])
    return [s["id"] for s in shots]


async def _changed(scene, shot_id: int, fields: dict) -> None:
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            await farm_queries.update_hero(conn, shot_id, fields)
            await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot_id))


async def _submit(scene, shot) -> int:
    """The hero generation, recorded on the shot in the same transaction, then its job."""
    async with runtime.acquire() as conn:
        style = await character_queries.default_style_for_project(conn, scene["project_id"])
        base = scene["steps"] or (style["steps"] if style else None) or shot["steps"]
        engine = scene["engine"] if scene["engine"] != "animatic" else None
        body = GenerationCreate(
            kind="video", project_id=scene["project_id"],
            character_id=shot["character_ids"][0] if shot["character_ids"] else None,
            prompt=(shot["prompt"].strip() or scene["description"].strip() or scene["title"])[:2000],
            source_output_id=shot["start_output_id"], motion_prompt=shot["motion_prompt"][:1000],
            duration_s=shot["duration_s"], seed=shot["seed"], engine=engine, role="hero",
            steps=min(150, round(base * HERO_STEPS)) if base else None,
            negative_extra=shot["negative_prompt"].strip()[:1000] or None)
        async with transaction(conn) as tx:
            [gen_id] = await insert_generations(conn, runtime.settings, body, origin={
                "scene_id": scene["id"], "shot_id": shot["id"], "hero_pass": True})
            await farm_queries.update_hero(conn, shot["id"], {"hero_status": "rendering",
                                                              "hero_generation_id": gen_id})
            await tx.emit(events.ShotsChanged(project_id=scene["project_id"], scene_id=scene["id"],
                                              shot_id=shot["id"]))
    await enqueue_generation(gen_id)
    return gen_id


async def _one(scene, shot) -> bool:
    """Runs one shot's hero pass to its end; True when its video was replaced."""
    from packages.scene_generation.progressive import wait_generation

    resumed = shot["hero_generation_id"] is not None
    try:
        gen_id = shot["hero_generation_id"] if resumed else await _submit(scene, shot)
    except DomainError as exc:
        await _changed(scene, shot["id"], {"hero_status": "failed", "hero_error": exc.detail})
        return False
    gen = await wait_generation(gen_id, resumed=resumed)
    if gen is None or gen["status"] != "succeeded" or not gen["outputs"]:
        error = (gen["error"] if gen else None) or f"the hero render was {gen['status'] if gen else 'removed'}"
        await _changed(scene, shot["id"], {"hero_status": "failed", "hero_error": error})
        return False
    async with runtime.acquire() as conn:
        current = await queries.get_shot(conn, shot["id"])
    if current is None or current["status"] != "done" or current["hero_generation_id"] != gen_id:
        return False  # the shot was reset (or re-rendered) meanwhile: the hero render is not its video
    await _changed(scene, shot["id"], {"hero_status": "done", "hero_output_id": gen["outputs"][0],
                                       "video_output_id": gen["outputs"][0], "hero_error": None})
    return True


async def run(scene_id: int) -> None:
    """The job: every shot of the scene marked for a hero pass, at once (the hero GPUs take them in
    turn), then the scene assembled again if it was done."""
    from packages.scene_generation.finish import assemble
    from packages.scene_generation.progressive import Stop, set_scene

    async with runtime.acquire() as conn:
        scene = await queries.get_scene(conn, scene_id)
        shots = await farm_queries.hero_shots(conn, scene_id) if scene else []
    if not shots:
        return
    replaced = await asyncio.gather(*(_one(scene, shot) for shot in shots))
    if not any(replaced):
        return
    while True:  # a scene still rendering assembles itself; the hero videos must be in what it made
        async with runtime.acquire() as conn:
            scene = await queries.get_scene(conn, scene_id)
        if scene is None or scene["status"] not in BUSY:
            break
        await asyncio.sleep(1.0)  # not a typed wait: that would take a wake meant for a waiting job
    if scene is None or scene["status"] != "done":
        return
    try:
        await set_scene(scene, status="assembling", step="assembling after the hero pass")
        await assemble(scene_id)
    except Stop:
        log.info("scene %s: assembly after the hero pass stopped (cancelled)", scene_id)
