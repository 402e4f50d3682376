"""The live event stream against a real PostgreSQL: events reach subscribers in full even when
transactions commit in another order than they drew their event ids."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from packages.core.events import NOTIFY_CHANNEL


async def insert_event(conn: asyncpg.Connection, kind: str) -> int:
    return await conn.fetchval(
        "WITH e AS (INSERT INTO events (type, project_id, payload) VALUES ($1, NULL, '{}') RETURNING id) "
        "SELECT e.id FROM e, pg_notify($2, e.id || ':' || $1) n", kind, NOTIFY_CHANNEL)


async def next_events(stream, count: int, timeout: float = 10) -> list[str]:
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        async for event in stream:
            if event is not None:
                seen.append(event.type)
                if len(seen) == count:
                    return seen
    return seen


async def test_an_event_that_commits_late_is_still_delivered(app, database_url):
    """A transaction that inserted its event first but commits after a later event was streamed
    (its id is below the cursor by then) still reaches the open stream, once."""
    hub, pool = app.state.event_hub, app.state.pool
    async with pool.acquire() as conn:
        after = await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")
    slow = await asyncpg.connect(database_url)
    try:
        async with contextlib.aclosing(hub.subscribe(after, None, ping=0.2)) as stream:
            tx = slow.transaction()
            await tx.start()
            early = await insert_event(slow, "test.slow")  # drawn first, committed last
            async with pool.acquire() as conn:
                late = await insert_event(conn, "test.fast")
            assert early < late
            assert await next_events(stream, 1) == ["test.fast"]
            await tx.commit()
            assert await next_events(stream, 1) == ["test.slow"]
            async with pool.acquire() as conn:
                await insert_event(conn, "test.after")
            assert await next_events(stream, 1) == ["test.after"]  # and nothing twice
    finally:
        await slow.close()
