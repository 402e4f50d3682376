"""The pilot job: each strategy renders the scene's first K shots in turn (strategy after strategy,
so the farm's worker GPUs are never split between a pilot and itself), each shot chained from the
strategy's previous last frame, shot 1 from the shot's source image or one keyframe generated for
all strategies (on a `keyframe` backend). A strategy stops when its budget slice is spent. Each
shot's record (generation, GPU-seconds, last-frame score against the first-attempt gate) is kept
on the strategy row as it finishes, so a restarted job goes on after the last recorded shot.
Then the critic decides (pilots_critic.judge: the rules, then the pilot's Ollama model if it names
one, asked outside any transaction) and the scene continues with the winner."""

from __future__ import annotations

import logging
import random

from packages.core.db import transaction
from packages.core.jobs import runtime
from packages.scene_generation import farm_queries, frames, gate, pilots, pilots_critic, queries
from packages.scene_generation.presets import preset
from packages.scene_generation.progressive import _frame_file, _output_file, _prompt, _scene_dir, _subject, wait_generation
from packages.visual_pipeline import queries as generation_queries
from packages.visual_pipeline.jobs import enqueue_generation
from packages.visual_pipeline.schemas import GenerationCreate
from packages.visual_pipeline.service import insert_generations

log = logging.getLogger(__name__)


class Stopped(Exception):
    """The pilot was cancelled (or its scene removed)."""


async def _pilot(pilot_id: int):
    async with runtime.acquire() as conn:
        pilot = await farm_queries.get_pilot(conn, pilot_id)
    if pilot is None or pilot["status"] not in ("queued", "running"):
        raise Stopped()
    return pilot


async def _set(scene, pilot_id: int, status: str = "running", step: str = "", **fields) -> None:
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            current = await farm_queries.get_pilot(conn, pilot_id, for_update=True)
            if current is None or current["status"] not in ("queued", "running"):
                raise Stopped()
            await farm_queries.update_pilot(conn, pilot_id, {"status": status, "step": step, **fields})
            await tx.emit(pilots._event(scene, pilot_id, status, step))


async def _generate(scene, body: GenerationCreate, origin: dict):
    async with runtime.acquire() as conn:
        [gen_id] = await insert_generations(conn, runtime.settings, body, origin=origin)
    await enqueue_generation(gen_id)
    return await wait_generation(gen_id)


async def _keyframe(scene, shot) -> int:
    """The image shot 1 starts from, the same for every strategy (kept as the shot's start)."""
    if shot["start_output_id"] is not None or shot["source_output_id"] is not None:
        return shot["start_output_id"] or shot["source_output_id"]
    character_id, _, _ = await _subject(scene, shot)
    gen = await _generate(scene, GenerationCreate(kind="image", character_id=character_id, project_id=scene["project_id"],
                                                  prompt=_prompt(scene, shot), role="keyframe"),
                          {"scene_id": scene["id"], "shot_id": shot["id"]})
    if gen is None or gen["status"] != "succeeded" or not gen["outputs"]:
        raise ValueError(f"the keyframe could not be generated: {gen['error'] if gen else 'removed'}")
    async with runtime.acquire() as conn:
        await conn.execute("UPDATE shots SET start_output_id = $2 WHERE id = $1", shot["id"], gen["outputs"][0])
    return gen["outputs"][0]


async def _render(scene, pilot_id: int, strategy, shot, start: int) -> dict:
    """One pilot shot of the strategy: rendered on a worker, its last frame extracted and scored."""
    seed = random.randrange(2**31)
    character_id, name, appearance = await _subject(scene, shot)
    motion = shot["motion_prompt"].strip() or preset(shot["shot_type"]).motion_prompts[0]
    body = GenerationCreate(kind="video", character_id=character_id, project_id=scene["project_id"],
                            prompt=_prompt(scene, shot), source_output_id=start, motion_prompt=motion[:1000],
                            duration_s=shot["duration_s"], seed=seed, steps=strategy["steps"],
                            engine=strategy["engine"], role="worker",
                            negative_extra=shot["negative_prompt"].strip()[:1000] or None)
    gen = await _generate(scene, body, {"scene_id": scene["id"], "shot_id": shot["id"], "pilot_id": pilot_id,
                                        "strategy_id": strategy["id"]})
    record = {"shot_id": shot["id"], "position": shot["position"], "generation_id": gen["id"] if gen else None,
              "engine": gen["engine"] if gen else None, "seed": seed, "steps": strategy["steps"],
              "duration_s": shot["duration_s"], "gpu_seconds": float(gen["gpu_seconds"] or 0) if gen else 0.0,
              "score": None, "threshold": pilots.gate_threshold(), "passed": False, "reviewer": None,
              "start_output_id": start, "video_output_id": None, "last_frame_output_id": None, "error": None}
    if gen is None or gen["status"] != "succeeded" or not gen["outputs"]:
        return {**record, "error": (gen["error"] if gen else None) or "the generation gave no video"}
    settings = runtime.settings
    frame = _scene_dir(settings, scene) / f"pilot{pilot_id}_s{strategy['id']}_shot{shot['id']}_last.png"
    try:
        await frames.last_frame(await _output_file(gen["outputs"][0]), frame, settings.ffmpeg_binary)
    except ValueError as exc:
        return {**record, "error": str(exc)}
    score = await gate.score_frame(settings, frame, name, appearance)
    digest, thumb, (width, height) = await _frame_file(frame)
    async with runtime.acquire() as conn:
        frame_id = await generation_queries.insert_output(conn, {
            "project_id": scene["project_id"], "character_id": None, "generation_id": None, "kind": "image",
            "path": str(frame.relative_to(settings.home)), "thumbnail": str(thumb.relative_to(settings.home)),
            "width": width, "height": height, "duration_s": None, "bytes": frame.stat().st_size, "sha256": digest})
    return {**record, "score": score.value, "reviewer": score.reviewer, "error": score.error,
            "passed": gate.passes(score.value, record["threshold"]), "video_output_id": gen["outputs"][0],
            "last_frame_output_id": frame_id}


async def _strategy(scene, pilot, strategy, shots) -> None:
    records, spent = list(strategy["shots"]), float(strategy["spent_s"])
    done = {r["shot_id"] for r in records}
    previous = records[-1]["last_frame_output_id"] if records else None
    for index, shot in enumerate(shots):
        if shot["id"] in done:
            continue
        if strategy["budget_s"] is not None and spent >= strategy["budget_s"]:
            note = f"its budget slice ({strategy['budget_s']:g} GPU-s) was spent after {len(records)} shots"
            async with runtime.acquire() as conn:
                await farm_queries.update_strategy(conn, strategy["id"], {"note": note})
            return
        start = await _keyframe(scene, shot) if index == 0 else previous
        if start is None:
            return  # the shot before gave no frame to chain from: this strategy ends here
        await _set(scene, pilot["id"], step=f"{strategy['label']}: shot {index + 1} of {len(shots)}")
        record = await _render(scene, pilot["id"], strategy, shot, start)
        records.append(record)
        spent += record["gpu_seconds"]
        previous = record["last_frame_output_id"]
        async with runtime.acquire() as conn:
            async with transaction(conn) as tx:
                await farm_queries.update_strategy(conn, strategy["id"], {
                    "shots": records, "spent_s": round(spent, 4), **pilots.scores(records, spent)})
                await tx.emit(pilots._event(scene, pilot["id"], "running",
                                            f"{strategy['label']}: shot {index + 1} scored"))
        await _pilot(pilot["id"])  # cancelled meanwhile: stop here


async def run(pilot_id: int) -> None:
    try:
        pilot = await _pilot(pilot_id)
        async with runtime.acquire() as conn:
            scene = await queries.get_scene(conn, pilot["scene_id"])
            shots = (await queries.list_shots(conn, pilot["scene_id"]))[:pilot["k_shots"]]
            strategies = await farm_queries.list_strategies(conn, pilot_id)
        await _set(scene, pilot_id, step="rendering")
        for strategy in strategies:
            try:
                await _strategy(scene, pilot, strategy, shots)
            except ValueError as exc:  # no keyframe: nothing can start
                await _set(scene, pilot_id, "failed", str(exc), error=str(exc))
                return
        async with runtime.acquire() as conn:
            strategies = [dict(s) for s in await farm_queries.list_strategies(conn, pilot_id)]
        if pilot["critic_model"]:
            await _set(scene, pilot_id, step=f"critic: asking {pilot['critic_model']}")
        # no connection held while the model thinks (seconds); the decision re-reads the pilot
        judgement = await pilots_critic.judge(runtime.settings, pilot["critic_model"], strategies, pilot["k_shots"],
                                              scene["accept_animatics"])
        winner, notes = judgement.winner, judgement.notes
        async with runtime.acquire() as conn:
            async with transaction(conn) as tx:
                current = await farm_queries.get_pilot(conn, pilot_id, for_update=True)
                if current is None or current["status"] not in ("queued", "running"):
                    raise Stopped()
                if winner is None:
                    await farm_queries.update_pilot(conn, pilot_id, {"status": "failed", "critic_notes": notes,
                                                                     "error": notes[:2000], "step": "failed"})
                    await tx.emit(pilots._event(scene, pilot_id, "failed", "failed"))
                    return
                await pilots.decide(conn, tx, scene, current, winner, "critic", notes, judgement.critic)
            if pilot["continue_scene"]:
                await pilots.continue_scene(conn, scene["id"])
    except Stopped:
        log.info("pilot %s stopped (cancelled or removed)", pilot_id)
