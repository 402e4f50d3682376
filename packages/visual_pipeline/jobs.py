"""Background work of the generation engine: one job per generation, and the periodic backend
refresh (health, VRAM, queue, capabilities) that also re-queues generations whose job was lost."""

from __future__ import annotations

import procrastinate

from packages.core.jobs import defer_once, runtime
from packages.production.budgets import admit_generation
from packages.visual_pipeline import engine, pool

generation_jobs = procrastinate.Blueprint()
RUN_TASK = "generation:run"


@generation_jobs.task(name="run", queue="generation")
async def run_generation(generation_id: int) -> None:
    async with runtime.acquire() as conn:  # the budget admits it (reserving its estimate) before it submits
        verdict = await admit_generation(conn, generation_id)
    if not verdict.allowed:
        await engine._fail(generation_id, f"Over budget: {verdict.reason}", "budget_exceeded")
        return
    await engine.execute(generation_id)


async def enqueue_generation(generation_id: int) -> None:
    """Defers the generation's job unless one is already waiting (the lock keeps it to one at a time)."""
    await defer_once(RUN_TASK, f"generation-{generation_id}", generation_id=generation_id)


@generation_jobs.periodic(cron="* * * * *")
@generation_jobs.task(name="refresh_backends", queue="maintenance", queueing_lock="generation:refresh_backends")
async def refresh_backends(timestamp: int) -> None:
    await pool.refresh_all(runtime.pool)
    async with runtime.acquire() as conn:
        orphans = await conn.fetch(
            """SELECT g.id FROM generations g
               WHERE g.status IN ('queued', 'running') AND g.updated_at < now() - interval '60 seconds'
                 AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = $1
                                 AND j.status IN ('todo', 'doing') AND (j.args->>'generation_id')::bigint = g.id)""",
            RUN_TASK)
    for row in orphans:
        await enqueue_generation(row["id"])
