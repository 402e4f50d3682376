"""The database: which URL, the asyncpg pool, the request connection, and transactions with events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
import orjson
from fastapi import Depends, Request

from packages.core.embedded import EmbeddedPostgres
from packages.core.settings import Settings


def resolve_database_url(settings: Settings, embedded: EmbeddedPostgres) -> str:
    """Vault when configured, else DATABASE_URL, else the embedded server (started here)."""
    if settings.vault_addr:
        from packages.core.vault import database_url_from_vault

        return database_url_from_vault(settings)
    if settings.database_url:
        return settings.database_url.get_secret_value()
    return embedded.start()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
        )


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    # Custom plans: our list queries have optional filters (`$1 IS NULL OR ...`) for which a cached
    # generic plan can be ten times slower than planning with the actual values (bench/api_reads.py).
    # random_page_cost 1.1 (local SSDs, not spinning disks): otherwise a deep page of a name-ordered
    # list sorts the whole table instead of walking the index.
    return await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60,
        server_settings={"plan_cache_mode": "force_custom_plan", "random_page_cost": "1.1"},
    )


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


Conn = Annotated[asyncpg.Connection, Depends(connection)]


class Transaction:
    """Handed out by `transaction()`; events emitted here are stored in the same transaction
    (so a rolled-back change never leaves an event) and published in-process after the commit."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.emitted: list = []

    async def emit(self, event) -> None:
        from packages.core.events import store_event

        self.emitted.append(await store_event(self.conn, event))


@asynccontextmanager
async def transaction(conn: asyncpg.Connection) -> AsyncIterator[Transaction]:
    from packages.core.events import bus

    tx = Transaction(conn)
    async with conn.transaction():
        yield tx
    for stored in tx.emitted:
        await bus.publish(stored)

