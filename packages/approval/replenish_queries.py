"""SQL of replenishment. Functions take a connection; none commits (packages/approval/replenish.py
owns the transactions)."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

TODAY = "(now() AT TIME ZONE 'utc')::date"  # the day a daily count belongs to (UTC, whatever the session's zone)
SETTINGS_COLUMNS = ("enabled, default_target, cooldown_s, daily_limit, max_consecutive_rejects, pending_buffer, "
                    "max_concurrent, batch_size")
SETTINGS_UPDATABLE = frozenset(SETTINGS_COLUMNS.split(", "))
ACTIVE = "('queued', 'running')"

# Consecutive rejects: the character's rejections after the latest approval and after the state's
# watermark (moved by resume and by a new target).
CONSECUTIVE = """
(SELECT count(*) FROM reviews r JOIN images i ON i.id = r.image_id
 WHERE i.character_id = c.id AND r.decision = 'rejected'
   AND r.id > greatest(coalesce(s.rejects_after_review_id, 0),
                       coalesce((SELECT max(r2.id) FROM reviews r2 JOIN images i2 ON i2.id = r2.image_id
                                 WHERE i2.character_id = c.id AND r2.decision = 'approved'), 0)))
"""

# One character as replenishment sees it: counts, today's batches, its stop and cooldown.
CHARACTER_VIEW = f"""
SELECT c.id AS character_id, c.slug AS character_slug, c.name AS character_name, c.project_id,
       p.slug AS project_slug, coalesce(s.target, st.default_target) AS target,
       (SELECT count(*) FROM images i WHERE i.character_id = c.id AND i.status = 'approved') AS approved,
       (SELECT count(*) FROM images i WHERE i.character_id = c.id AND i.status = 'pending') AS pending,
       (SELECT count(*) FROM generations g WHERE g.character_id = c.id AND g.status IN {ACTIVE}) AS in_flight,
       (SELECT count(*) FROM generations g WHERE g.character_id = c.id AND g.status IN {ACTIVE}
          AND g.replenishment_batch_id IS NOT NULL) AS batch_in_flight,
       (SELECT count(*) FROM images i JOIN generations g ON g.id = i.generation_id
        WHERE i.character_id = c.id AND i.status = 'pending' AND g.replenishment_batch_id IS NOT NULL) AS batch_pending,
       CASE WHEN s.day = {TODAY} THEN s.daily_count ELSE 0 END AS daily_count,
       {CONSECUTIVE} AS consecutive_rejects,
       s.last_run_at, s.last_run_at + make_interval(secs => st.cooldown_s) AS cooldown_until, s.stopped_reason,
       clock_timestamp() AS at
FROM characters c
JOIN projects p ON p.id = c.project_id
CROSS JOIN replenishment_settings st
LEFT JOIN replenishment_state s ON s.character_id = c.id
"""


async def get_settings(conn: asyncpg.Connection, *, for_update: bool = False):
    """The studio's one settings row; locked when deciding, so batch decisions are one at a time."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {SETTINGS_COLUMNS} FROM replenishment_settings WHERE id = 1{lock}")


async def update_settings(conn: asyncpg.Connection, fields: dict):
    sql, values = update_statement("replenishment_settings", "id", fields, SETTINGS_UPDATABLE,
                                   returning=SETTINGS_COLUMNS)
    return await conn.fetchrow(sql, 1, *values)


async def character_views(conn: asyncpg.Connection, project_id: int | None = None):
    """Every non-archived character (of the project, when given), with its state or the defaults."""
    return await conn.fetch(
        f"{CHARACTER_VIEW} WHERE NOT c.archived AND ($1::bigint IS NULL OR c.project_id = $1) "
        "ORDER BY p.slug, lower(c.name), c.id", project_id)


async def character_view(conn: asyncpg.Connection, character_id: int):
    """One character (archived ones too: the caller decides)."""
    return await conn.fetchrow(f"{CHARACTER_VIEW} WHERE c.id = $1", character_id)


async def find_character(conn: asyncpg.Connection, slug: str, project_id: int | None):
    """Characters with that slug (in the project, when given), archived ones last."""
    return await conn.fetch(
        "SELECT id, project_id, archived FROM characters WHERE slug = $1 AND ($2::bigint IS NULL OR project_id = $2) "
        "ORDER BY archived, id", slug, project_id)


async def character_flags(conn: asyncpg.Connection, character_id: int):
    return await conn.fetchrow("SELECT id, project_id, archived FROM characters WHERE id = $1", character_id)


async def characters_with_deficit(conn: asyncpg.Connection) -> list[int]:
    """Non-archived characters under their target that no sticky stop holds."""
    rows = await conn.fetch(
        "SELECT c.id FROM characters c CROSS JOIN replenishment_settings st "
        "LEFT JOIN replenishment_state s ON s.character_id = c.id "
        "WHERE NOT c.archived AND s.stopped_reason IS NULL AND coalesce(s.target, st.default_target) > "
        "(SELECT count(*) FROM images i WHERE i.character_id = c.id AND i.status = 'approved') ORDER BY c.id")
    return [r["id"] for r in rows]


async def lock_state(conn: asyncpg.Connection, character_id: int):
    """The character's state row (created with the defaults when missing), locked, its day rolled over."""
    await conn.execute("INSERT INTO replenishment_state (character_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       character_id)
    await conn.execute("SELECT 1 FROM replenishment_state WHERE character_id = $1 FOR UPDATE", character_id)
    await conn.execute(f"UPDATE replenishment_state SET day = {TODAY}, daily_count = 0 "
                       f"WHERE character_id = $1 AND day <> {TODAY}", character_id)


async def set_target(conn: asyncpg.Connection, character_id: int, target: int) -> None:
    """A new target clears a stop and restarts the count of consecutive rejects."""
    await conn.execute(
        "UPDATE replenishment_state SET target = $2, stopped_reason = NULL, consecutive_rejects = 0, "
        "rejects_after_review_id = (SELECT coalesce(max(id), 0) FROM reviews) WHERE character_id = $1",
        character_id, target)


async def resume(conn: asyncpg.Connection, character_id: int) -> None:
    await conn.execute(
        "UPDATE replenishment_state SET stopped_reason = NULL, consecutive_rejects = 0, "
        "rejects_after_review_id = (SELECT coalesce(max(id), 0) FROM reviews) "
        "WHERE character_id = $1", character_id)


async def record_rejects(conn: asyncpg.Connection, character_id: int, count: int, stop: bool) -> None:
    await conn.execute(
        "UPDATE replenishment_state SET consecutive_rejects = $2, "
        "stopped_reason = CASE WHEN $3 THEN 'consecutive_rejects' ELSE stopped_reason END WHERE character_id = $1",
        character_id, count, stop)


async def batches_in_flight(conn: asyncpg.Connection) -> int:
    """Batches studio-wide with a generation still queued or running."""
    return await conn.fetchval(
        f"SELECT count(DISTINCT replenishment_batch_id) FROM generations "
        f"WHERE status IN {ACTIVE} AND replenishment_batch_id IS NOT NULL")


async def insert_batch(conn: asyncpg.Connection, *, project_id: int, character_id: int, size: int, reason: str,
                       pending_before: int, in_flight_before: int, daily_before: int,
                       generation_ids: list[int]) -> int:
    batch_id = await conn.fetchval(
        "INSERT INTO replenishment_batches (project_id, character_id, size, reason, pending_before, in_flight_before, "
        "daily_before) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        project_id, character_id, size, reason, pending_before, in_flight_before, daily_before)
    await conn.execute("UPDATE generations SET replenishment_batch_id = $1 WHERE id = ANY($2::bigint[])",
                       batch_id, generation_ids)
    return batch_id


async def record_batch(conn: asyncpg.Connection, character_id: int, size: int) -> None:
    await conn.execute("UPDATE replenishment_state SET daily_count = daily_count + $2, last_run_at = now() "
                       "WHERE character_id = $1", character_id, size)


async def readiness(conn: asyncpg.Connection, project_id: int):
    return await conn.fetch(
        "SELECT c.id AS character_id, c.slug AS character_slug, c.name AS character_name, "
        "coalesce(s.target, st.default_target) AS target, "
        "(SELECT count(*) FROM images i WHERE i.character_id = c.id AND i.status = 'approved') AS approved "
        "FROM characters c CROSS JOIN replenishment_settings st LEFT JOIN replenishment_state s ON s.character_id = c.id "
        "WHERE c.project_id = $1 AND NOT c.archived ORDER BY lower(c.name), c.id", project_id)


async def find_project(conn: asyncpg.Connection, name: str):
    """A project by name (case-insensitive) or slug; an exact name beats a slug."""
    return await conn.fetch(
        "SELECT id, name FROM projects WHERE lower(name) = lower($1) OR slug = $1 "
        "ORDER BY (lower(name) = lower($1)) DESC, id", name)


# -- automatic reference images --------------------------------------------------------------

async def best_approved(conn: asyncpg.Connection, character_id: int, limit: int):
    """The character's best approved images for IP-Adapter: solo when known (a boolean true or a
    score >= 0.5; unknown is allowed), highest `scores.quality` first."""
    return await conn.fetch(
        "SELECT i.id, i.path, i.sha256, i.width, i.height FROM images i "
        "WHERE i.character_id = $1 AND i.status = 'approved' AND ("
        "  NOT (coalesce(i.scores, '{}'::jsonb) ? 'solo') OR jsonb_typeof(i.scores -> 'solo') = 'null' "
        "  OR (jsonb_typeof(i.scores -> 'solo') = 'boolean' AND (i.scores ->> 'solo')::boolean) "
        "  OR (jsonb_typeof(i.scores -> 'solo') = 'number' AND (i.scores ->> 'solo')::float8 >= 0.5)) "
        "ORDER BY CASE WHEN jsonb_typeof(i.scores -> 'quality') = 'number' THEN (i.scores ->> 'quality')::float8 END "
        "DESC NULLS LAST, i.id DESC LIMIT $2", character_id, limit)


async def lock_references(conn: asyncpg.Connection, character_id: int):
    """Serialises refreshes of one character's references; returns its reference images."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('approval.references'), $1::int)",
                       character_id % 2_147_483_647)
    return await conn.fetch("SELECT id, filename, sha256, automatic FROM reference_images WHERE character_id = $1 "
                            "ORDER BY id", character_id)


async def delete_references(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("DELETE FROM reference_images WHERE id = ANY($1::bigint[]) AND automatic", ids)


async def insert_automatic_reference(conn: asyncpg.Connection, *, character_id: int, filename: str,
                                     original_name: str, content_type: str, sha256: str, width: int, height: int,
                                     size: int) -> int | None:
    return await conn.fetchval(
        "INSERT INTO reference_images (character_id, filename, original_name, content_type, sha256, width, height, "
        "bytes, automatic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true) ON CONFLICT (character_id, sha256) DO NOTHING "
        "RETURNING id", character_id, filename, original_name, content_type, sha256, width, height, size)
