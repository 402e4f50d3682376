"""Typed in-process EventBus. Events are stored in `events` in the emitting transaction, a NOTIFY
wakes the stream of every process at commit, and in-process subscribers run after the commit.

Events are named `domain.action`, carry ids and the project id. Anything that must survive a crash
is a row or a job; a subscriber only reacts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import ClassVar

import asyncpg
from pydantic import BaseModel

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "anime_studio_events"


class Event(BaseModel):
    type: ClassVar[str]
    project_id: int | None = None

    def payload(self) -> dict:
        return self.model_dump(mode="json")


class StoredEvent(BaseModel):
    id: int
    type: str
    project_id: int | None
    payload: dict
    at: datetime


Handler = Callable[[StoredEvent], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: str, handler: Handler) -> None:
        """`event_type` is a name such as `image.approved`, or `*` for every event."""
        self._handlers[event_type].append(handler)

    async def publish(self, event: StoredEvent) -> None:
        for handler in [*self._handlers.get(event.type, ()), *self._handlers.get("*", ())]:
            try:
                await handler(event)
            except Exception:  # a reacting handler never breaks the request that emitted
                log.exception("event handler %s failed for %s #%s", handler, event.type, event.id)


bus = EventBus()


async def store_event(conn: asyncpg.Connection, event: Event) -> StoredEvent:
    row = await conn.fetchrow(  # one round trip: the row, and the NOTIFY that is sent at commit
        "WITH e AS (INSERT INTO events (type, project_id, payload) VALUES ($1, $2, $3) RETURNING id, at) "
        "SELECT e.id, e.at, pg_notify($4, e.id || ':' || $1) FROM e",
        event.type, event.project_id, event.payload(), NOTIFY_CHANNEL,
    )
    return StoredEvent(id=row["id"], type=event.type, project_id=event.project_id,
                       payload=event.payload(), at=row["at"])
