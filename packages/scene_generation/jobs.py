"""Background work of the Scene Builder: one durable job per scene. The lock keeps one job per
scene at a time (its shots are serial: each chains from the one before); different scenes run at
once. A stalled job is retried by the worker's recovery and resumes from the rows."""

from __future__ import annotations

import procrastinate

from packages.core.jobs import defer_once

scene_jobs = procrastinate.Blueprint()
RUN_TASK = "scene:run"


@scene_jobs.task(name="run", queue="scene")
async def run_scene(scene_id: int) -> None:
    from packages.scene_generation.progressive import run_scene as run

    await run(scene_id)


async def enqueue_scene(scene_id: int) -> None:
    await defer_once(RUN_TASK, f"scene-{scene_id}", scene_id=scene_id)
