"""SQL of the generation engine. Functions take a connection; none commits."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

BACKEND_SELECT = """
SELECT b.*, (SELECT count(*) FROM generations g WHERE g.backend_id = b.id AND g.holds_slot) AS running
FROM backends b
"""
BACKEND_COLUMNS = frozenset({"name", "roles", "enabled", "max_in_flight", "health", "last_seen", "last_error",
                             "capabilities", "vram_total", "vram_free", "queue_remaining", "rate_per_s"})


async def list_backends(conn) -> list[asyncpg.Record]:
    return await conn.fetch(f"{BACKEND_SELECT} ORDER BY b.name, b.id")


async def get_backend(conn, backend_id: int):
    return await conn.fetchrow(f"{BACKEND_SELECT} WHERE b.id = $1", backend_id)


async def insert_backend(conn, *, name: str, url: str, roles: list[str], enabled: bool, max_in_flight: int) -> int:
    return await conn.fetchval(
        "INSERT INTO backends (name, url, roles, enabled, max_in_flight) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        name, url, roles, enabled, max_in_flight)


async def seed_backend(conn, *, name: str, url: str) -> None:
    await conn.execute("INSERT INTO backends (name, url) VALUES ($1, $2) ON CONFLICT DO NOTHING", name, url)


async def update_backend(conn, backend_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("backends", "id", fields, BACKEND_COLUMNS, returning="id")
        await conn.execute(sql, backend_id, *values)


async def delete_backend(conn, backend_id: int) -> None:
    await conn.execute("DELETE FROM backends WHERE id = $1", backend_id)


async def dispatch_candidates(conn, role: str | None, exclude: list[int]) -> list[asyncpg.Record]:
    """Enabled, healthy backends (of the role, if given) with a free slot, least busy first."""
    return await conn.fetch(
        f"""SELECT * FROM ({BACKEND_SELECT}
              WHERE b.enabled AND b.health = 'ok' AND ($1::text IS NULL OR $1 = ANY (b.roles))
                AND NOT (b.id = ANY ($2::bigint[]))) c
            WHERE c.running < c.max_in_flight
            ORDER BY c.running, c.queue_remaining, c.id""",
        role, exclude)


async def lock_backend_slot(conn, backend_id: int) -> bool:
    """Locks the backend row (claims on one backend are serialised), then says whether a slot is
    free. Two statements: under READ COMMITTED the count must be read after the lock is held, or a
    claim that waited for the lock would count with a snapshot from before the other claim's commit."""
    if not await conn.fetchval("SELECT true FROM backends WHERE id = $1 AND enabled AND health = 'ok' FOR UPDATE",
                               backend_id):
        return False
    return await conn.fetchval(
        "SELECT (SELECT count(*) FROM generations WHERE backend_id = $1 AND holds_slot) < max_in_flight "
        "FROM backends WHERE id = $1", backend_id)


# -- generations ------------------------------------------------------------------------------

GENERATION_COLUMNS = frozenset({"workflow", "backend_id", "comfy_prompt_id", "comfy_client_id", "holds_slot", "status",
                                "progress",
                                "step", "attempts", "error", "error_code", "outputs", "gpu_seconds", "started_at",
                                "finished_at", "params", "engine"})
GENERATION_SELECT = """
SELECT g.*, c.name AS character_name, c.slug AS character_slug, b.name AS backend_name, p.slug AS project_slug
FROM generations g JOIN projects p ON p.id = g.project_id
LEFT JOIN characters c ON c.id = g.character_id LEFT JOIN backends b ON b.id = g.backend_id
"""


async def insert_generation(conn, *, project_id: int, character_id: int | None, kind: str, engine: str,
                            params: dict) -> int:
    return await conn.fetchval(
        "INSERT INTO generations (project_id, character_id, kind, engine, params) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id", project_id, character_id, kind, engine, params)


async def get_generation(conn, generation_id: int, *, for_update: bool = False):
    if for_update:
        await conn.execute("SELECT 1 FROM generations WHERE id = $1 FOR UPDATE", generation_id)
    return await conn.fetchrow(f"{GENERATION_SELECT} WHERE g.id = $1", generation_id)


async def take_slot(conn, generation_id: int, backend_id: int, fields: dict) -> bool:
    """Marks a queued generation running on the backend (with `fields`); False if it is not queued."""
    sql, values = update_statement("generations", "id", {"backend_id": backend_id, "status": "running",
                                                         "holds_slot": True, **fields},
                                   GENERATION_COLUMNS, returning="true", condition="status = 'queued'")
    return await conn.fetchval(sql, generation_id, *values) or False


async def release_slot(conn, generation_id: int, fields: dict) -> bool:
    """Gives back the slot the generation holds (with `fields` set) in one statement; False when it
    held no slot (released already, e.g. by a cancel)."""
    sql, values = update_statement("generations", "id", {"holds_slot": False, **fields}, GENERATION_COLUMNS,
                                   returning="true", condition="holds_slot")
    return await conn.fetchval(sql, generation_id, *values) or False


def _assignments(fields: dict, first: int) -> tuple[str, list]:
    for column in fields:
        if column not in GENERATION_COLUMNS:
            raise KeyError(f"{column} is not an updatable column of generations")
    return ", ".join(f"{column} = ${i}" for i, column in enumerate(fields, start=first)), list(fields.values())


async def transfer_slot(conn, *, release_id: int, release_fields: dict, backend_id: int, take_id: int,
                        take_fields: dict, executed: tuple, submitted: tuple, channel: str) -> list[asyncpg.Record]:
    """One statement (one round trip, atomic): the finished generation gives back its slot and the
    queued one takes it on the same backend (if the first still held it, the second is still queued
    and the backend is enabled and healthy), each with its event stored and notified. `executed`
    and `submitted` are (type, project_id, payload). Returns the stored events' (id, at, type):
    none when nothing was released, one when the slot was released but not taken, two when moved."""
    release_set, release_values = _assignments(release_fields, 11)
    take_set, take_values = _assignments(take_fields, 11 + len(release_values))
    return await conn.fetch(
        f"""WITH released AS (
                UPDATE generations SET holds_slot = false, {release_set} WHERE id = $1 AND holds_slot RETURNING id),
            taken AS (
                UPDATE generations SET backend_id = $2, status = 'running', holds_slot = true, {take_set}
                WHERE id = $3 AND status = 'queued' AND EXISTS (SELECT 1 FROM released)
                  AND EXISTS (SELECT 1 FROM backends WHERE id = $2 AND enabled AND health = 'ok')
                RETURNING id),
            stored AS (
                INSERT INTO events (type, project_id, payload) SELECT $4::text, $5::bigint, $6::jsonb FROM released
                UNION ALL SELECT $7::text, $8::bigint, $9::jsonb FROM taken
                RETURNING id, at, type)
            SELECT id, at, type, pg_notify($10, id || ':' || type) FROM stored ORDER BY id""",
        release_id, backend_id, take_id, *executed, *submitted, channel, *release_values, *take_values)


async def list_generations(conn, *, project_id: int, status: str | None, character_id: int | None,
                           limit: int, offset: int):
    where = ("WHERE g.project_id = $1 AND ($2::text IS NULL OR g.status = $2) "
             "AND ($3::bigint IS NULL OR g.character_id = $3)")
    rows = await conn.fetch(f"{GENERATION_SELECT} {where} ORDER BY g.id DESC LIMIT $4 OFFSET $5",
                            project_id, status, character_id, limit, offset)
    total = await conn.fetchval(f"SELECT count(*) FROM generations g {where}", project_id, status, character_id)
    return rows, total


async def update_generation(conn, generation_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("generations", "id", fields, GENERATION_COLUMNS, returning="id")
        await conn.execute(sql, generation_id, *values)


async def active_counts(conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM generations "
                            "WHERE status IN ('queued', 'running') GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


# -- outputs and dataset images ---------------------------------------------------------------

async def insert_output(conn, fields: dict) -> int:
    return await conn.fetchval(
        "INSERT INTO outputs (project_id, character_id, generation_id, kind, path, thumbnail, width, height, "
        "duration_s, bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (path) DO UPDATE SET thumbnail = EXCLUDED.thumbnail RETURNING id",
        fields["project_id"], fields["character_id"], fields["generation_id"], fields["kind"], fields["path"],
        fields["thumbnail"], fields["width"], fields["height"], fields["duration_s"], fields["bytes"],
        fields["sha256"])


async def insert_dataset_image(conn, fields: dict) -> int | None:
    """A pending generated image of a character; None when the same bytes are already in its dataset."""
    return await conn.fetchval(
        "INSERT INTO images (character_id, output_id, generation_id, path, thumbnail, sha256, width, height, source) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'generated') ON CONFLICT DO NOTHING RETURNING id",
        fields["character_id"], fields["output_id"], fields["generation_id"], fields["path"], fields["thumbnail"],
        fields["sha256"], fields["width"], fields["height"])


async def get_output(conn, output_id: int):
    return await conn.fetchrow("SELECT * FROM outputs WHERE id = $1", output_id)


GALLERY_SELECT = """
SELECT o.id, o.project_id, o.character_id, c.name AS character_name, o.generation_id, o.kind, o.width, o.height,
       o.duration_s, o.bytes, o.created_at, i.status AS dataset_status
FROM outputs o LEFT JOIN characters c ON c.id = o.character_id LEFT JOIN images i ON i.output_id = o.id
"""


async def gallery_item(conn, output_id: int):
    return await conn.fetchrow(f"{GALLERY_SELECT} WHERE o.id = $1", output_id)


async def gallery_page(conn, *, project_id: int, character_id: int | None, kind: str | None, status: str | None,
                       generation_id: int | None, since, until, before: tuple | None, limit: int):
    """Keyset page, newest first: `before` is the (created_at, id) of the last item already shown."""
    return await conn.fetch(
        f"""{GALLERY_SELECT}
            WHERE o.project_id = $1 AND ($2::bigint IS NULL OR o.character_id = $2)
              AND ($3::text IS NULL OR o.kind = $3) AND ($4::text IS NULL OR i.status = $4)
              AND ($5::timestamptz IS NULL OR o.created_at >= $5) AND ($6::timestamptz IS NULL OR o.created_at < $6)
              AND ($7::timestamptz IS NULL OR (o.created_at, o.id) < ($7, $8))
              AND ($10::bigint IS NULL OR o.generation_id = $10)
            ORDER BY o.created_at DESC, o.id DESC LIMIT $9""",
        project_id, character_id, kind, status, since, until,
        before[0] if before else None, before[1] if before else None, limit, generation_id)


async def character_images(conn, character_id: int, status: str | None, limit: int, offset: int):
    rows = await conn.fetch(
        "SELECT id, character_id, output_id, generation_id, width, height, source, status, caption, created_at "
        "FROM images WHERE character_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
        character_id, status, limit, offset)
    total = await conn.fetchval("SELECT count(*) FROM images WHERE character_id = $1 AND ($2::text IS NULL OR status = $2)",
                                character_id, status)
    return rows, total
