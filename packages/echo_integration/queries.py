"""SQL of Echo Brain: conversations, messages, the memory bookkeeping and the project rows that
become memory documents. Parameterised; never commits."""

from __future__ import annotations

import asyncpg

NOTES_LIMIT = 500
REVIEWS_LIMIT = 500

# -- projects -----------------------------------------------------------------------------------

async def project_by_slug(conn: asyncpg.Connection, slug: str):
    return await conn.fetchrow("SELECT id, slug, name, genre, premise, description, default_style_id "
                               "FROM projects WHERE slug = $1", slug)


async def project_slug(conn: asyncpg.Connection, project_id: int) -> str | None:
    return await conn.fetchval("SELECT slug FROM projects WHERE id = $1", project_id)


async def character_by_slug(conn: asyncpg.Connection, project_id: int, slug: str):
    return await conn.fetchrow("SELECT id, name, slug, design_prompt, appearance_data FROM characters "
                               "WHERE project_id = $1 AND slug = $2", project_id, slug)


async def project_style(conn: asyncpg.Connection, project_id: int):
    return await conn.fetchrow("SELECT s.name, s.positive_template, s.negative_template, s.architecture "
                               "FROM projects p JOIN generation_styles s ON s.id = p.default_style_id "
                               "WHERE p.id = $1", project_id)


async def storyline(conn: asyncpg.Connection, project_id: int, storyline_id: int | None):
    return await conn.fetchrow("SELECT * FROM storylines WHERE project_id = $1 AND ($2::bigint IS NULL OR id = $2) "
                               "ORDER BY id LIMIT 1", project_id, storyline_id)


async def world_settings(conn: asyncpg.Connection, project_id: int):
    return await conn.fetchrow("SELECT * FROM world_settings WHERE project_id = $1", project_id)


# -- conversations ------------------------------------------------------------------------------

_SUMMARY = ("SELECT c.id, c.project_id, c.title, c.created_at, c.updated_at, "
            "(SELECT count(*) FROM echo_messages m WHERE m.conversation_id = c.id) AS message_count "
            "FROM echo_conversations c ")


async def list_conversations(conn: asyncpg.Connection, project_id: int, limit: int = 200):
    return await conn.fetch(_SUMMARY + "WHERE c.project_id = $1 ORDER BY c.updated_at DESC, c.id DESC LIMIT $2",
                            project_id, limit)


async def get_conversation(conn: asyncpg.Connection, conversation_id: int):
    return await conn.fetchrow(_SUMMARY + "WHERE c.id = $1", conversation_id)


async def insert_conversation(conn: asyncpg.Connection, project_id: int, title: str, user_name: str) -> int:
    return await conn.fetchval("INSERT INTO echo_conversations (project_id, title, user_name) VALUES ($1, $2, $3) "
                               "RETURNING id", project_id, title, user_name)


async def set_title_if_empty(conn: asyncpg.Connection, conversation_id: int, title: str) -> None:
    await conn.execute("UPDATE echo_conversations SET title = $2 WHERE id = $1 AND title = ''", conversation_id, title)


async def touch_conversation(conn: asyncpg.Connection, conversation_id: int) -> None:
    await conn.execute("UPDATE echo_conversations SET updated_at = now() WHERE id = $1", conversation_id)


async def messages(conn: asyncpg.Connection, conversation_id: int):
    return await conn.fetch("SELECT id, role, content, sources, created_at FROM echo_messages "
                            "WHERE conversation_id = $1 ORDER BY id", conversation_id)


async def recent_messages(conn: asyncpg.Connection, conversation_id: int, limit: int):
    rows = await conn.fetch("SELECT id, role, content FROM echo_messages WHERE conversation_id = $1 "
                            "ORDER BY id DESC LIMIT $2", conversation_id, limit)
    return list(reversed(rows))


async def insert_message(conn: asyncpg.Connection, conversation_id: int, role: str, content: str,
                         sources: list[dict], model: str | None = None) -> int:
    return await conn.fetchval("INSERT INTO echo_messages (conversation_id, role, content, sources, model) "
                               "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                               conversation_id, role, content, sources, model)


# -- memory bookkeeping -------------------------------------------------------------------------

async def memory_hashes(conn: asyncpg.Connection, project_id: int) -> dict[tuple[str, int], str]:
    rows = await conn.fetch("SELECT kind, row_id, hash FROM memory_points WHERE project_id = $1", project_id)
    return {(r["kind"], r["row_id"]): r["hash"] for r in rows}


async def upsert_memory_hashes(conn: asyncpg.Connection, project_id: int, rows: list[tuple[str, int, str]]) -> None:
    await conn.executemany(
        "INSERT INTO memory_points (project_id, kind, row_id, hash) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (project_id, kind, row_id) DO UPDATE SET hash = EXCLUDED.hash",
        [(project_id, kind, row_id, digest) for kind, row_id, digest in rows])


async def delete_memory_hashes(conn: asyncpg.Connection, project_id: int, keys: list[tuple[str, int]]) -> None:
    await conn.executemany("DELETE FROM memory_points WHERE project_id = $1 AND kind = $2 AND row_id = $3",
                           [(project_id, kind, row_id) for kind, row_id in keys])


async def forget_project(conn: asyncpg.Connection, project_id: int) -> None:
    await conn.execute("DELETE FROM memory_points WHERE project_id = $1", project_id)


# -- the rows that become memory ----------------------------------------------------------------

async def memory_rows(conn: asyncpg.Connection, project_id: int) -> dict[str, list]:
    """Every row of the project that the memory holds, by kind."""
    return {
        "storyline": await conn.fetch(
            "SELECT id, title, summary, theme, tone, target_audience, arcs FROM storylines WHERE project_id = $1",
            project_id),
        "world": await conn.fetch(
            "SELECT id, setting, art_direction, cinematography, palettes, negative_guidance FROM world_settings "
            "WHERE project_id = $1", project_id),
        "character": await conn.fetch(
            "SELECT id, name, slug, design_prompt, appearance_data, voice FROM characters "
            "WHERE project_id = $1 AND NOT archived", project_id),
        "scene": await conn.fetch(
            "SELECT id, position, title, description, location, time_of_day, weather, mood FROM scenes "
            "WHERE project_id = $1", project_id),
        "shot": await conn.fetch(
            "SELECT sh.id, sh.scene_id, sh.position, sh.shot_type, sh.camera_angle, sh.prompt, sh.motion_prompt, "
            "sh.dialogue_text, s.title AS scene_title FROM shots sh JOIN scenes s ON s.id = sh.scene_id "
            "WHERE s.project_id = $1", project_id),
        "review": await conn.fetch(
            "SELECT r.id, r.decision, r.reason, r.note, r.reviewer, c.name AS character_name, i.id AS image_id "
            "FROM reviews r JOIN images i ON i.id = r.image_id JOIN characters c ON c.id = i.character_id "
            "WHERE c.project_id = $1 AND r.decision <> 'undone' AND (coalesce(r.reason, '') <> '' "
            "OR coalesce(r.note, '') <> '') ORDER BY r.id DESC LIMIT $2", project_id, REVIEWS_LIMIT),
        "note": await conn.fetch(
            "SELECT m.id, m.content, m.conversation_id, c.title AS conversation_title FROM echo_messages m "
            "JOIN echo_conversations c ON c.id = m.conversation_id WHERE c.project_id = $1 AND m.role = 'user' "
            "ORDER BY m.id DESC LIMIT $2", project_id, NOTES_LIMIT),
    }


async def project_ids(conn: asyncpg.Connection) -> list[int]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM projects ORDER BY id")]
