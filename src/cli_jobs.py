"""What the CLI's long commands (`generate`, `demo`) share: the job runtime a server would have
(pool, event hub, job app), and a worker in this process whenever no other is alive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import procrastinate
import typer

from packages.core.db import create_pool
from packages.core.event_stream import EventHub
from packages.core.jobs import live_workers, open_job_app, run_worker, runtime
from packages.core.settings import Settings

WORKER_CHECK_S = 5.0


@contextlib.asynccontextmanager
async def job_runtime(url: str, settings: Settings, *,
                      pool_size: int) -> AsyncIterator[tuple[asyncpg.Pool, procrastinate.App]]:
    """The pool, event hub and job app of this process for the length of one command."""
    from packages.visual_pipeline.pool import clients

    pool = await create_pool(url, min_size=1, max_size=pool_size)
    runtime.pool, runtime.settings = pool, settings
    runtime.hub = EventHub(pool, url)
    await runtime.hub.start()
    try:
        async with open_job_app(url) as job_app:
            yield pool, job_app
    finally:
        await clients.close()
        await runtime.hub.stop()
        await pool.close()
        runtime.pool = runtime.hub = None


@contextlib.asynccontextmanager
async def worked_here_if_unattended(pool: asyncpg.Pool, job_app: procrastinate.App, settings: Settings, *,
                                    name: str, concurrency: int) -> AsyncIterator[None]:
    """Works the jobs in this process as soon as no worker is alive: at once when no server runs,
    or later when the server that was working them stops (or dies: its heartbeat runs out).
    Stopped on leaving, while the job app is still open (it stops gracefully through it)."""
    async def keep() -> None:
        while True:
            async with pool.acquire() as conn:
                if not await live_workers(conn, settings.stalled_job_s):
                    break
            await asyncio.sleep(WORKER_CHECK_S)
        typer.echo("no worker is running: working the jobs in this process")
        await run_worker(job_app, concurrency=concurrency, stalled_after=settings.stalled_job_s, name=name)

    keeper = asyncio.create_task(keep())
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
