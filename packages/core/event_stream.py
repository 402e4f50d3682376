"""Live event stream: one LISTEN connection per process fans stored events out to SSE clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
import orjson

from packages.core.events import NOTIFY_CHANNEL, StoredEvent

log = logging.getLogger(__name__)
BATCH = 500
EVENT_COLUMNS = "id, type, project_id, payload, at"


async def events_after(conn: asyncpg.Connection, after: int, project_id: int | None, limit: int = BATCH):
    rows = await conn.fetch(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 AND ($2::bigint IS NULL OR project_id = $2 OR project_id IS NULL) "
        "ORDER BY id LIMIT $3",
        after, project_id, limit,
    )
    return [StoredEvent(**dict(r)) for r in rows]


async def last_event_id(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")


async def count_events_after(conn: asyncpg.Connection, after: int, project_id: int | None) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM events WHERE id > $1 AND ($2::bigint IS NULL OR project_id = $2 OR project_id IS NULL)",
        after, project_id)


class EventHub:
    """Wakes every subscriber when a NOTIFY arrives (sent at commit by `store_event`).
    If the listening connection drops it reconnects; subscribers re-read from their last id,
    so nothing is missed."""

    def __init__(self, pool: asyncpg.Pool, url: str):
        self.pool, self.url = pool, url
        self._listener: asyncpg.Connection | None = None
        self._waiters: set[asyncio.Event] = set()  # stream subscribers: woken by every event
        self._typed: dict[asyncio.Event, frozenset[str]] = {}  # waiters for some event types only
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_listening(), name="event-hub")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _wake(self, _conn=None, _pid=None, _channel=None, payload: str | None = None) -> None:
        for waiter in self._waiters:
            waiter.set()
        event_type = payload.partition(":")[2] if payload else None
        if event_type is None:  # a catch-up wake after reconnecting: everyone looks again
            for waiter in self._typed:
                waiter.set()
        else:
            self.pass_on(event_type)

    def pass_on(self, event_type: str) -> None:
        """Wakes the longest-waiting waiter for this event type (one per event: a freed slot serves
        one job). A waiter that finds nothing to do passes the wake on by calling this again."""
        for waiter, types in self._typed.items():
            if event_type in types and not waiter.is_set():
                waiter.set()
                return

    async def _keep_listening(self) -> None:
        while True:
            try:
                # its own connection, not a pool slot: it is held for the life of the process
                self._listener = await asyncpg.connect(self.url)
                await self._listener.add_listener(NOTIFY_CHANNEL, self._wake)
                self._wake()  # catch up anything committed while we were not listening
                while not self._listener.is_closed():
                    await asyncio.sleep(5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event listener lost its connection (%s); reconnecting", exc)
            finally:
                if self._listener is not None:
                    with contextlib.suppress(Exception):
                        await self._listener.close(timeout=2)
                    self._listener = None
            await asyncio.sleep(1)

    async def wait(self, types: frozenset[str], timeout: float) -> bool:
        """Waits, in line with the other waiters, for an event of one of `types` (in any process);
        True when woken by one, False after `timeout` seconds."""
        waiter = asyncio.Event()
        self._typed[waiter] = types
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._typed.pop(waiter, None)

    async def subscribe(self, after: int, project_id: int | None, ping: float = 15.0) -> AsyncIterator[StoredEvent | None]:
        """Yields stored events with id > after, forever; yields None as a keep-alive tick."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            while True:
                waiter.clear()
                async with self.pool.acquire() as conn:
                    batch = await events_after(conn, after, project_id)
                for event in batch:
                    after = event.id
                    yield event
                if len(batch) == BATCH:
                    continue
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=ping)
                except TimeoutError:
                    yield None
        finally:
            self._waiters.discard(waiter)


def sse_message(event: StoredEvent) -> dict:
    return {"id": str(event.id), "event": event.type, "data": orjson.dumps(event.model_dump(mode="json")).decode()}
