"""Background work of LoRA training: one job per run on the `training` queue (so a GPU machine can
work only these: `anime-studio worker --queue training`), and a sweep that re-queues runs whose
job was lost. A retried job of a running run resumes from the run's last epoch checkpoint."""

from __future__ import annotations

import procrastinate

from packages.core.jobs import defer_once, runtime
from packages.lora_training import runner

training_jobs = procrastinate.Blueprint()
RUN_TASK = "training:run"


@training_jobs.task(name="run", queue="training")
async def run_training(run_id: int) -> None:
    await runner.execute(run_id)


async def enqueue_run(run_id: int) -> None:
    """Defers the run's job unless one is already waiting (the lock keeps it to one at a time)."""
    await defer_once(RUN_TASK, f"training-{run_id}", run_id=run_id)


@training_jobs.periodic(cron="* * * * *")
@training_jobs.task(name="sweep", queue="maintenance", queueing_lock="training:sweep")
async def sweep(timestamp: int) -> None:
    """Re-queues queued or running runs that have no job waiting or running (a defer lost in a crash)."""
    async with runtime.acquire() as conn:
        orphans = await conn.fetch(
            """SELECT r.id FROM training_runs r
               WHERE r.status IN ('queued', 'running') AND r.updated_at < now() - interval '60 seconds'
                 AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = $1
                                 AND j.status IN ('todo', 'doing') AND (j.args->>'run_id')::bigint = r.id)""",
            RUN_TASK)
    for row in orphans:
        await enqueue_run(row["id"])
