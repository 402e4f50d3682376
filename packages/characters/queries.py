"""SQL of the characters domain. Functions take a connection; none commits (the service owns
the transaction)."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

# A character with what its responses and file paths need: its project's slug, how many
# reference images it has and the first one (the cover).
CHARACTER_COLUMNS = """
    c.id, c.project_id, p.slug AS project_slug, c.name, c.slug, c.design_prompt, c.appearance_data,
    c.lora_id, c.voice, c.archived, c.created_at, c.updated_at,
    (SELECT count(*) FROM reference_images r WHERE r.character_id = c.id) AS reference_count,
    (SELECT r.id FROM reference_images r WHERE r.character_id = c.id ORDER BY r.id LIMIT 1) AS cover_image_id
"""

# The columns a PATCH may set (core.sql.update_statement refuses any other).
UPDATABLE = frozenset({"name", "design_prompt", "appearance_data", "voice"})

REFERENCE_COLUMNS = ("id, character_id, filename, original_name, content_type, sha256, width, height, bytes, "
                     "created_at")


async def get_character(conn: asyncpg.Connection, character_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CHARACTER_COLUMNS} FROM characters c JOIN projects p ON p.id = c.project_id WHERE c.id = $1",
        character_id)


async def get_character_by_slug(conn: asyncpg.Connection, project_id: int, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {CHARACTER_COLUMNS} FROM characters c JOIN projects p ON p.id = c.project_id "
        "WHERE c.project_id = $1 AND c.slug = $2", project_id, slug)


async def list_characters(conn: asyncpg.Connection, *, project_id: int, archived: bool, q: str | None,
                          limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    where = ("c.project_id = $1 AND c.archived = $2 "
             "AND ($3::text IS NULL OR strpos(lower(c.name), lower($3::text)) > 0)")
    # The page of ids first (index order), so the per-character subqueries run for the page only.
    rows = await conn.fetch(
        f"WITH page AS (SELECT c.id FROM characters c WHERE {where} ORDER BY lower(c.name), c.id LIMIT $4 OFFSET $5) "
        f"SELECT {CHARACTER_COLUMNS} FROM page JOIN characters c ON c.id = page.id "
        "JOIN projects p ON p.id = c.project_id ORDER BY lower(c.name), c.id",
        project_id, archived, q, limit, offset)
    total = await conn.fetchval(f"SELECT count(*) FROM characters c WHERE {where}", project_id, archived, q)
    return rows, total


async def project_exists(conn: asyncpg.Connection, project_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id)


async def insert_character(conn: asyncpg.Connection, *, project_id: int, name: str, slug: str, design_prompt: str,
                           appearance_data: dict, voice: str | None) -> int:
    return await conn.fetchval(
        "INSERT INTO characters (project_id, name, slug, design_prompt, appearance_data, voice) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        project_id, name, slug, design_prompt, appearance_data, voice)


async def update_character(conn: asyncpg.Connection, character_id: int, changes: dict) -> None:
    if changes:
        sql, values = update_statement("characters", "id", changes, UPDATABLE, returning="id")
        await conn.execute(sql, character_id, *values)


async def set_archived(conn: asyncpg.Connection, character_id: int, archived: bool) -> bool:
    """True when the flag changed (archiving an archived character changes nothing)."""
    changed = await conn.fetchval(
        "UPDATE characters SET archived = $2 WHERE id = $1 AND archived <> $2 RETURNING id", character_id, archived)
    return changed is not None


async def default_style_for_project(conn: asyncpg.Connection, project_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT s.* FROM projects p JOIN generation_styles s ON s.id = p.default_style_id WHERE p.id = $1",
        project_id)


# Reference images

async def list_reference_images(conn: asyncpg.Connection, character_id: int, *, limit: int,
                                offset: int) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        f"SELECT {REFERENCE_COLUMNS} FROM reference_images WHERE character_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        character_id, limit, offset)
    total = await conn.fetchval("SELECT count(*) FROM reference_images WHERE character_id = $1", character_id)
    return rows, total


async def reference_image_by_sha(conn: asyncpg.Connection, character_id: int, sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REFERENCE_COLUMNS} FROM reference_images WHERE character_id = $1 AND sha256 = $2",
        character_id, sha256)


async def insert_reference_image(conn: asyncpg.Connection, *, character_id: int, filename: str, original_name: str,
                                 content_type: str, sha256: str, width: int, height: int,
                                 size: int) -> asyncpg.Record | None:
    """The new row, or None when the character already has these bytes (a concurrent upload)."""
    return await conn.fetchrow(
        "INSERT INTO reference_images (character_id, filename, original_name, content_type, sha256, width, height, "
        "bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (character_id, sha256) DO NOTHING "
        f"RETURNING {REFERENCE_COLUMNS}",
        character_id, filename, original_name, content_type, sha256, width, height, size)


async def delete_reference_image(conn: asyncpg.Connection, character_id: int,
                                 image_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"DELETE FROM reference_images WHERE id = $1 AND character_id = $2 RETURNING {REFERENCE_COLUMNS}",
        image_id, character_id)


async def reference_image_with_slugs(conn: asyncpg.Connection, image_id: int) -> asyncpg.Record | None:
    """A reference image with the slugs that locate its file."""
    return await conn.fetchrow(
        "SELECT r.id, r.filename, r.content_type, c.slug AS character_slug, p.slug AS project_slug "
        "FROM reference_images r JOIN characters c ON c.id = r.character_id JOIN projects p ON p.id = c.project_id "
        "WHERE r.id = $1",
        image_id)
