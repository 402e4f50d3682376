"""Background work of production control: one durable job per webhook delivery (its key is its
lock: one send at a time per delivery), and a periodic sweep that makes the deliveries of events
whose in-process reaction was lost and re-queues deliveries that are due but have no job."""

from __future__ import annotations

import procrastinate

from packages.core.jobs import runtime
from packages.production import queries, webhooks

production_jobs = procrastinate.Blueprint()
SWEEP_WINDOW = 10_000  # events looked at by the sweep (of the last 15 minutes)


@production_jobs.task(name="deliver", queue="webhooks")
async def deliver(delivery_id: int) -> str:
    return await webhooks.deliver(delivery_id)


@production_jobs.periodic(cron="* * * * *")
@production_jobs.task(name="sweep_deliveries", queue="maintenance", queueing_lock="production:sweep_deliveries")
async def sweep_deliveries(timestamp: int) -> int:
    async with runtime.acquire() as conn:
        await queries.fan_out_recent(conn, SWEEP_WINDOW)
        due = await queries.due_deliveries(conn)
    for delivery_id in due:
        await webhooks.enqueue(delivery_id)  # a no-op for one whose job is waiting
    return len(due)
