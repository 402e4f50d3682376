"""SQL of ingestion. Functions take a connection; none commits."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement


INGESTION_SELECT = "SELECT i.*, c.project_id FROM ingestions i JOIN characters c ON c.id = i.character_id"
INGESTION_COLUMNS = frozenset({"status", "progress", "step", "frames_found", "images_added", "duplicates_dropped",
                               "too_small_dropped", "files_skipped", "error", "error_code", "voice_sample",
                               "started_at", "finished_at", "work_dir"})


async def get_ingestion(conn, ingestion_id: int):
    return await conn.fetchrow(f"{INGESTION_SELECT} WHERE i.id = $1", ingestion_id)


async def list_ingestions(conn, *, character_id: int | None, limit: int, offset: int):
    rows = await conn.fetch(f"{INGESTION_SELECT} WHERE ($1::bigint IS NULL OR i.character_id = $1) "
                            "ORDER BY i.id DESC LIMIT $2 OFFSET $3", character_id, limit, offset)
    total = await conn.fetchval("SELECT count(*) FROM ingestions WHERE ($1::bigint IS NULL OR character_id = $1)",
                                character_id)
    return rows, total


async def insert_ingestion(conn, *, character_id: int, kind: str, source: str, status: str = "queued",
                           work_dir: str | None = None) -> int:
    return await conn.fetchval(
        "INSERT INTO ingestions (character_id, kind, source, status, work_dir) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id", character_id, kind, source, status, work_dir)


async def update_ingestion(conn, ingestion_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("ingestions", "id", fields, INGESTION_COLUMNS, returning="id")
        await conn.execute(sql, ingestion_id, *values)


async def known_images(conn, character_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT sha256, phash, ingestion_id FROM images WHERE character_id = $1", character_id)


async def insert_image(conn, row: dict) -> int | None:
    """The new image's id, or None when the character already has these bytes."""
    return await conn.fetchval(
        """INSERT INTO images (character_id, path, thumbnail, sha256, phash, width, height, source, status, ingestion_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9) ON CONFLICT DO NOTHING RETURNING id""",
        row["character_id"], row["path"], row["thumbnail"], row["sha256"], row["phash"], row["width"], row["height"],
        row["source"], row["ingestion_id"])
