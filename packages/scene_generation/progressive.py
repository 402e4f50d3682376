"""The scene job: a scene's shots generated one by one, in order, each quality-gated and chained
from the one before. Shot 1 starts from its source image (or an image generated from its prompt),
shot N+1 from shot N's last frame (ffmpeg). Each attempt is a video generation of the engine
(FramePack, LTX-Video, then the CPU animatic); its last frame is scored against the attempt's
threshold (gate.py); below it, a new seed and more steps, up to 3 attempts; the best attempt is kept.

State lives on the rows: a shot remembers the generation of its attempt in flight before that
generation is queued, so a restarted job follows the same generation (which itself resumes by its
ComfyUI prompt id) and never submits a finished shot again. The job waits on events (the
process's event hub: generation.completed/failed/cancelled of its own generation), never polls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from pathlib import Path

from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.errors import DomainError
from packages.core.event_stream import last_event_id
from packages.core.jobs import runtime
from packages.core.media import image_thumbnail, sha256_file
from packages.core.paths import inside_home
from packages.scene_generation import events, frames, gate, queries
from packages.scene_generation.presets import preset
from packages.visual_pipeline import queries as generation_queries
from packages.visual_pipeline.jobs import enqueue_generation
from packages.visual_pipeline.schemas import GenerationCreate
from packages.visual_pipeline.service import insert_generations

log = logging.getLogger(__name__)
TERMINAL = ("succeeded", "failed", "cancelled")
GENERATION_DONE = frozenset({"generation.completed", "generation.failed", "generation.cancelled"})
STEP_GROWTH = 0.25  # each retry: style steps x (1 + 0.25 per earlier attempt)


class Stop(Exception):
    """The scene was cancelled (or removed): the job ends, leaving the rows as they are."""


class ShotFailed(Exception):
    pass


class OverBudget(ShotFailed):
    """A generation of the shot was refused by the budget: the scene stops, partial."""


def _refused(gen) -> None:
    if gen is not None and gen["status"] == "failed" and gen["error_code"] == "budget_exceeded":
        raise OverBudget(gen["error"] or "over budget")


# -- rows and events ----------------------------------------------------------------------------

async def _scene(scene_id: int):
    async with runtime.acquire() as conn:
        return await queries.get_scene(conn, scene_id)


async def _running(scene_id: int):
    scene = await _scene(scene_id)
    if scene is None or scene["status"] not in ("queued", "generating", "assembling"):
        raise Stop()
    return scene


async def set_scene(scene, event=None, **fields) -> None:
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            current = await queries.get_scene(conn, scene["id"], for_update=True)
            if current is None or current["status"] == "cancelled":
                raise Stop()
            await queries.update_scene(conn, scene["id"], fields)
            fresh = await queries.get_scene(conn, scene["id"])
            await tx.emit(event or events.SceneProgress(project_id=scene["project_id"], scene_id=scene["id"],
                                                        status=fresh["status"], progress=fresh["progress"],
                                                        step=fresh["step"]))


async def _set_shot(scene, shot_id: int, step: str = "", **fields):
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            await queries.update_shot(conn, shot_id, fields)
            shot = await queries.get_shot(conn, shot_id)
            await tx.emit(_shot_event(scene, shot, step))
    return shot


def _shot_event(scene, shot, step: str) -> events.ShotProgress:
    return events.ShotProgress(
        project_id=scene["project_id"], scene_id=scene["id"], shot_id=shot["id"], position=shot["position"],
        status=shot["status"], attempt=shot["attempt"], engine=shot["engine"], quality_score=shot["quality_score"],
        threshold=shot["threshold"], gate_passed=shot["gate_passed"], generation_id=shot["generation_id"], step=step)


# -- waiting on a generation --------------------------------------------------------------------

async def _next_event(gen_id: int, after: int, project_id: int, timeout: float = 30.0) -> None:
    """Returns at the first stored event after `after` that ends this generation or cancels a scene
    (or after `timeout`, to look at the row again)."""
    hub = runtime.hub
    if hub is None:  # no event hub in this process (a bare script): look again shortly
        await asyncio.sleep(0.5)
        return
    async with contextlib.aclosing(hub.subscribe(after, project_id, ping=timeout)) as stream:
        async for event in stream:
            if event is None or event.type == "scene.cancelled":
                return
            if event.type in GENERATION_DONE and event.payload.get("generation_id") == gen_id:
                return


async def wait_generation(gen_id: int, *, resumed: bool = False):
    """The generation's row once it is over. `resumed`: a job found it in flight after a restart,
    so its own job is deferred again (a no-op when that job is still queued)."""
    if resumed:
        await enqueue_generation(gen_id)
    while True:
        async with runtime.acquire() as conn:
            after = await last_event_id(conn)  # before reading the row: no end can slip between
            gen = await generation_queries.get_generation(conn, gen_id)
        if gen is None or gen["status"] in TERMINAL:
            return gen
        await _next_event(gen_id, after, gen["project_id"])


# -- one shot -----------------------------------------------------------------------------------

def _scene_dir(settings, scene) -> Path:
    return inside_home(settings, settings.output_dir / scene["project_slug"] / "scenes" / f"scene{scene['id']}")


async def _output_file(output_id: int | None) -> Path | None:
    if output_id is None:
        return None
    async with runtime.acquire() as conn:
        path = await queries.output_path(conn, output_id)
    return inside_home(runtime.settings, runtime.settings.home / path) if path else None


async def _subject(scene, shot) -> tuple[int | None, str, dict | None]:
    """(character id, name, appearance) of the shot's first character, if any."""
    if not shot["character_ids"]:
        return None, scene["title"], None
    async with runtime.acquire() as conn:
        character = await character_queries.get_character(conn, shot["character_ids"][0])
    if character is None:
        return None, scene["title"], None
    return character["id"], character["name"], character["appearance_data"]


def _prompt(scene, shot) -> str:
    text = shot["prompt"].strip() or scene["description"].strip() or scene["title"]
    extras = [v for v in (scene["location"], scene["time_of_day"], scene["weather"], shot["camera_angle"]) if v]
    return ", ".join([text, *extras])[:2000]


async def _create(scene, shot, body: GenerationCreate, fields: dict, step: str) -> int:
    """Inserts the generation and points the shot at it in one transaction, then defers its job."""
    async with runtime.acquire() as conn:
        try:
            async with transaction(conn) as tx:
                [gen_id] = await insert_generations(conn, runtime.settings, body, origin={
                    "scene_id": scene["id"], "shot_id": shot["id"],
                    "animatic_motion": preset(shot["shot_type"]).animatic_motion})
                await queries.update_shot(conn, shot["id"], {**fields(gen_id)})
                fresh = await queries.get_shot(conn, shot["id"])
                await tx.emit(_shot_event(scene, fresh, step))
        except DomainError as exc:
            raise ShotFailed(exc.detail) from None
    await enqueue_generation(gen_id)
    return gen_id


async def _start_image(scene, shot, previous) -> int:
    """The output id of the image the shot starts from."""
    if shot["start_output_id"] is not None:
        return shot["start_output_id"]
    if previous is not None:
        start = previous["last_frame_output_id"]
    elif shot["source_output_id"] is not None:
        start = shot["source_output_id"]
    else:  # generated first from the shot's prompt
        gen_id, resumed = shot["image_generation_id"], True
        if gen_id is None:
            character_id, _, _ = await _subject(scene, shot)
            body = GenerationCreate(kind="image", character_id=character_id, project_id=scene["project_id"],
                                    prompt=_prompt(scene, shot), role="keyframe")  # a keyframe: the fast GPUs
            gen_id = await _create(scene, shot, body, lambda g: {"image_generation_id": g, "status": "generating"},
                                   "generating the start image")
            resumed = False
        gen = await wait_generation(gen_id, resumed=resumed)
        if gen["status"] == "failed" and gen["error_code"] == "budget_exceeded":
            await _set_shot(scene, shot["id"], image_generation_id=None)
            _refused(gen)
        if gen["status"] == "cancelled":
            await _running(scene["id"])
            await _set_shot(scene, shot["id"], image_generation_id=None)
            raise ShotFailed("the start image's generation was cancelled")
        if gen["status"] != "succeeded" or not gen["outputs"]:
            raise ShotFailed(f"the start image could not be generated: {gen['error']}")
        start = gen["outputs"][0]
    if start is None:
        raise ShotFailed("the previous shot has no last frame")
    await _set_shot(scene, shot["id"], start_output_id=start)
    return start


async def _style_steps(project_id: int) -> int | None:
    async with runtime.acquire() as conn:
        style = await character_queries.default_style_for_project(conn, project_id)
    return style["steps"] if style else None


async def _attempt(scene, shot, start: int, number: int) -> int:
    """Submits attempt `number`: a new seed, and more steps after the first."""
    base = scene["steps"] or await _style_steps(scene["project_id"])  # the pilot's winner may set them
    steps = min(150, round(base * (1 + STEP_GROWTH * (number - 1)))) if base else None
    seed = random.randrange(2**31)
    character_id, _, _ = await _subject(scene, shot)
    motion = shot["motion_prompt"].strip() or preset(shot["shot_type"]).motion_prompts[0]
    body = GenerationCreate(kind="video", character_id=character_id, project_id=scene["project_id"],
                            prompt=_prompt(scene, shot), source_output_id=start, motion_prompt=motion[:1000],
                            duration_s=shot["duration_s"], seed=seed, steps=steps, engine=scene["engine"],
                            role="worker",  # bulk shots: the worker GPUs, scenes in parallel
                            negative_extra=shot["negative_prompt"].strip()[:1000] or None)
    return await _create(scene, shot, body, lambda g: {
        "generation_id": g, "attempt": number, "status": "generating", "seed": seed, "steps": steps,
        "threshold": gate.threshold(number), "error": None}, f"attempt {number}: rendering")


async def _review(scene, shot, gen, number: int) -> dict:
    """Scores the attempt's last frame; the attempt's record (kept on the shot)."""
    record = {"attempt": number, "generation_id": gen["id"], "seed": gen["params"].get("seed"),
              "steps": gen["params"].get("steps"), "engine": gen["engine"], "score": None,
              "threshold": gate.threshold(number), "passed": False, "reviewer": None, "error": None,
              "video_output_id": None}
    if gen["status"] != "succeeded" or not gen["outputs"]:
        return {**record, "error": gen["error"] or "the generation gave no video"}
    await _set_shot(scene, shot["id"], f"attempt {number}: reviewing", status="reviewing", engine=gen["engine"])
    video = await _output_file(gen["outputs"][0])
    frame = _scene_dir(runtime.settings, scene) / f"shot{shot['id']}_a{number}_last.png"
    try:
        await frames.last_frame(video, frame, runtime.settings.ffmpeg_binary)
    except ValueError as exc:
        return {**record, "error": str(exc)}
    _, name, appearance = await _subject(scene, shot)
    # the frame's thumbnail is made while the frame is scored (it is needed if this attempt is kept)
    score, _ = await asyncio.gather(gate.score_frame(runtime.settings, frame, name, appearance),
                                    _prepare_frame(frame))
    return {**record, "video_output_id": gen["outputs"][0], "score": score.value, "reviewer": score.reviewer,
            "error": score.error, "passed": gate.passes(score.value, record["threshold"])}


_prepared: dict[Path, tuple[str, Path, tuple[int, int]]] = {}  # frames prepared while scored, by path


async def _frame_file(frame: Path) -> tuple[str, Path, tuple[int, int]]:
    """(sha256, thumbnail, size) of an extracted frame; the thumbnail is written by its digest."""
    if frame in _prepared:
        return _prepared.pop(frame)

    def work():
        digest = sha256_file(frame)
        thumb = runtime.settings.output_dir / "thumbnails" / digest[:2] / f"{digest}.webp"
        return digest, thumb, image_thumbnail(frame, thumb)

    return await asyncio.to_thread(work)


async def _prepare_frame(frame: Path) -> None:
    _prepared[frame] = await _frame_file(frame)


async def _keep(scene, shot, best: dict, attempts: list[dict]):
    """The best attempt becomes the shot: its video, and its last frame as an image output (what
    the next shot starts from); the attempts are recorded in the same update."""
    settings = runtime.settings
    frame = _scene_dir(settings, scene) / f"shot{shot['id']}_a{best['attempt']}_last.png"
    if not frame.is_file():
        await frames.last_frame(await _output_file(best["video_output_id"]), frame, settings.ffmpeg_binary)
    digest, thumb, (width, height) = await _frame_file(frame)  # usually prepared during the review
    for other in attempts:  # the attempts not kept leave nothing behind in memory
        _prepared.pop(frame.with_name(f"shot{shot['id']}_a{other['attempt']}_last.png"), None)
    async with runtime.acquire() as conn:
        frame_id = await generation_queries.insert_output(conn, {
            "project_id": scene["project_id"], "character_id": None, "generation_id": None, "kind": "image",
            "path": str(frame.relative_to(settings.home)), "thumbnail": str(thumb.relative_to(settings.home)),
            "width": width, "height": height, "duration_s": None, "bytes": frame.stat().st_size, "sha256": digest})
    return await _set_shot(
        scene, shot["id"], "done" if best["passed"] else "kept the best attempt below its gate", status="done",
        attempts=attempts,
        video_output_id=best["video_output_id"], last_frame_output_id=frame_id, engine=best["engine"],
        seed=best["seed"], steps=best["steps"], quality_score=best["score"], threshold=best["threshold"],
        gate_passed=best["passed"], is_animatic=best["engine"] == "animatic", generation_id=best["generation_id"],
        error=None)


async def run_shot(scene, shot, previous):
    """Runs the shot to done (returns its row) or raises ShotFailed / Stop."""
    start = await _start_image(scene, shot, previous)
    attempts = list(shot["attempts"])
    current = shot["generation_id"]
    while not attempts or not (attempts[-1]["passed"] or len(attempts) >= gate.MAX_ATTEMPTS):
        number = len(attempts) + 1
        resumed = current is not None and all(a["generation_id"] != current for a in attempts)
        if not resumed:
            await _running(scene["id"])
            current = await _attempt(scene, shot, start, number)
        gen = await wait_generation(current, resumed=resumed)
        _refused(gen)
        if gen["status"] == "cancelled":  # the scene's cancel, or someone else's: this attempt again
            await _running(scene["id"])
            current = None
            continue
        record = await _review(scene, shot, gen, number)
        attempts.append(record)
        if record["passed"] or len(attempts) >= gate.MAX_ATTEMPTS:
            break  # recorded with the outcome below, in one update
        shot = await _set_shot(scene, shot["id"], f"attempt {number}: below gate", attempts=attempts,
                               quality_score=record["score"], gate_passed=False)
    scored = [a for a in attempts if a["score"] is not None and a["video_output_id"] is not None]
    if not scored:
        await _set_shot(scene, shot["id"], attempts=attempts)
        raise ShotFailed("no attempt could be scored: " + "; ".join(a["error"] or "?" for a in attempts))
    return await _keep(scene, shot, max(scored, key=lambda a: (a["passed"], a["score"])), attempts)


# -- the scene ----------------------------------------------------------------------------------

async def _within_budget(scene, shot, index: int, total: int) -> bool:
    """Before a shot that has nothing in flight: would it take the project or an episode of the scene
    past its budget? Then the scene stops at the last finished shot, marked partial."""
    from packages.production.budgets import check_shot

    if shot["status"] not in ("pending", "failed"):
        return True  # resumed mid-shot: its generation was admitted already
    async with runtime.acquire() as conn:
        verdict = await check_shot(conn, scene["id"], shot["duration_s"], scene.get("engine"))
    if not verdict.allowed:
        await set_scene(scene, status="partial", error=None,
                        step=f"stopped by the budget after {index} of {total} shots: {verdict.reason}")
    return verdict.allowed


async def run_scene(scene_id: int) -> None:
    from packages.scene_generation.finish import assemble

    try:
        scene = await _running(scene_id)
        async with runtime.acquire() as conn:
            shots = await queries.list_shots(conn, scene_id)
        await set_scene(scene, status="generating", error=None,
                        progress=sum(s["status"] == "done" for s in shots) / len(shots), step="generating shots")
        previous = None
        for index, shot in enumerate(shots):
            if shot["status"] != "done":
                if not await _within_budget(scene, shot, index, len(shots)):
                    return
                await set_scene(scene, step=f"shot {index + 1} of {len(shots)}")
                try:
                    shot = await run_shot(scene, shot, previous)
                except OverBudget as exc:  # the shot is left to run again once the budget allows
                    await _set_shot(scene, shot["id"], "over budget", status="pending", generation_id=None)
                    await set_scene(scene, status="partial", error=None,
                                    step=f"stopped by the budget after {index} of {len(shots)} shots: {exc}")
                    return
                except ShotFailed as exc:
                    await _set_shot(scene, shot["id"], "failed", status="failed", error=str(exc))
                    await set_scene(scene, events.SceneFailed(project_id=scene["project_id"], scene_id=scene_id,
                                                              error=f"shot {index + 1}: {exc}"),
                                    status="failed", error=f"shot {index + 1}: {exc}", step="failed")
                    return
                await set_scene(scene, progress=(index + 1) / len(shots))
            previous = shot
        await assemble(scene_id)
    except Stop:
        log.info("scene %s stopped (cancelled or removed)", scene_id)
