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


GAP_WAIT_S = 30.0  # an id the cursor passed without seeing is looked for this long (its transaction may commit late)
MAX_GAPS = 10_000


async def _rows_after(conn: asyncpg.Connection, after: int, gaps: list[int], project_id: int | None):
    """Every event after the cursor or among the gaps, the other projects' ones without payload
    (their ids still close gaps)."""
    return await conn.fetch(
        "SELECT id, type, project_id, at, ($2::bigint IS NULL OR project_id = $2 OR project_id IS NULL) AS wanted, "
        "CASE WHEN ($2::bigint IS NULL OR project_id = $2 OR project_id IS NULL) THEN payload END AS payload "
        "FROM events WHERE id > $1 OR id = ANY ($3::bigint[]) ORDER BY id LIMIT $4",
        after, project_id, gaps, BATCH)


class Cursor:
    """Where a subscriber is in the events table. Event ids come from a sequence when a transaction
    inserts them, so a transaction that commits late makes an earlier id appear after later ones
    were read: the ids passed over are kept as gaps and looked for again for GAP_WAIT_S."""

    def __init__(self, after: int):
        self.after = after
        self.gaps: dict[int, float] = {}

    async def read(self, conn: asyncpg.Connection, project_id: int | None) -> tuple[list[StoredEvent], bool]:
        """The new events (late ones included) and whether more are waiting."""
        now = asyncio.get_running_loop().time()
        self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_WAIT_S}
        rows = await _rows_after(conn, self.after, list(self.gaps), project_id)
        top = self.after
        for row in rows:
            self.gaps.pop(row["id"], None)
            if row["id"] > top:
                missing = range(top + 1, row["id"])
                if len(self.gaps) + len(missing) <= MAX_GAPS:
                    self.gaps.update((i, now) for i in missing)
                top = row["id"]
        self.after = top
        events = [StoredEvent(id=r["id"], type=r["type"], project_id=r["project_id"], payload=r["payload"], at=r["at"])
                  for r in rows if r["wanted"]]
        return events, len(rows) == BATCH


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
        """Yields stored events with id > after, forever, and events that commit late with a lower
        id (Cursor); yields None as a keep-alive tick."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        cursor = Cursor(after)
        try:
            while True:
                waiter.clear()
                async with self.pool.acquire() as conn:
                    batch, more = await cursor.read(conn, project_id)
                for event in batch:
                    yield event
                if more:
                    continue
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=ping)
                except TimeoutError:
                    yield None
        finally:
            self._waiters.discard(waiter)


def sse_message(event: StoredEvent) -> dict:
    return {"id": str(event.id), "event": event.type, "data": orjson.dumps(event.model_dump(mode="json")).decode()}
