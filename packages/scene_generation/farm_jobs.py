"""Background work of the GPU farm's scene commands: one durable job per pilot and one per scene's
hero pass (the lock keeps each to one at a time); both resume from their rows."""

from __future__ import annotations

import procrastinate

farm_jobs = procrastinate.Blueprint()


@farm_jobs.task(name="run_pilot", queue="scene")
async def run_pilot(pilot_id: int) -> None:
    from packages.scene_generation.pilots_run import run

    await run(pilot_id)


@farm_jobs.task(name="hero_pass", queue="scene")
async def hero_pass(scene_id: int) -> None:
    from packages.scene_generation.hero import run

    await run(scene_id)
