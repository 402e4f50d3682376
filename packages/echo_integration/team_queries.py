"""SQL of the creative team: sessions, their messages, each project's role models, and the rows a
session's context is read from."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

SESSION_COLUMNS = ("id, project_id, target, brief, max_rounds, status, phase, round, plan_params, question, models, "
                   "error, result, created_at, updated_at")
MESSAGE_COLUMNS = "id, session_id, speaker, phase, round, content, structured, created_at"
UPDATABLE = frozenset({"status", "phase", "round", "plan_params", "question", "error", "result"})


async def insert_session(conn: asyncpg.Connection, project_id: int, target: dict, brief: str, max_rounds: int,
                         models: dict) -> asyncpg.Record:
    return await conn.fetchrow(
        f"INSERT INTO team_sessions (project_id, target, brief, max_rounds, models) VALUES ($1, $2, $3, $4, $5) "
        f"RETURNING {SESSION_COLUMNS}", project_id, target, brief, max_rounds, models)


async def get_session(conn: asyncpg.Connection, session_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {SESSION_COLUMNS} FROM team_sessions WHERE id = $1{lock}", session_id)


async def list_sessions(conn: asyncpg.Connection, project_id: int, limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {SESSION_COLUMNS} FROM team_sessions WHERE project_id = $1 "
                            "ORDER BY id DESC LIMIT $2", project_id, limit)


async def update_session(conn: asyncpg.Connection, session_id: int, fields: dict) -> asyncpg.Record:
    sql, values = update_statement("team_sessions", "id", fields, UPDATABLE, returning=SESSION_COLUMNS)
    return await conn.fetchrow(sql, session_id, *values)


async def next_message_id(conn: asyncpg.Connection) -> int:
    """An id for a message about to be spoken (its tokens stream under it before the row exists)."""
    return await conn.fetchval("SELECT nextval(pg_get_serial_sequence('team_messages', 'id'))")


async def insert_message(conn: asyncpg.Connection, session_id: int, speaker: str, phase: str, round_: int,
                         content: str, structured: dict | None, message_id: int | None = None) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO team_messages (id, session_id, speaker, phase, round, content, structured) "
        "VALUES (coalesce($1, nextval(pg_get_serial_sequence('team_messages', 'id'))), $2, $3, $4, $5, $6, $7) "
        f"RETURNING {MESSAGE_COLUMNS}", message_id, session_id, speaker, phase, round_, content, structured)


async def list_messages(conn: asyncpg.Connection, session_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {MESSAGE_COLUMNS} FROM team_messages WHERE session_id = $1 ORDER BY id",
                            session_id)


async def get_models(conn: asyncpg.Connection, project_id: int) -> dict | None:
    return await conn.fetchval("SELECT models FROM team_models WHERE project_id = $1", project_id)


async def put_models(conn: asyncpg.Connection, project_id: int, models: dict) -> None:
    await conn.execute("INSERT INTO team_models (project_id, models) VALUES ($1, $2) "
                       "ON CONFLICT (project_id) DO UPDATE SET models = EXCLUDED.models", project_id, models)


# -- context ------------------------------------------------------------------------------------

async def project_by_slug(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, name, slug, genre, premise, description FROM projects WHERE slug = $1",
                               slug)


async def project(conn: asyncpg.Connection, project_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, name, slug, genre, premise, description FROM projects WHERE id = $1",
                               project_id)


async def style(conn: asyncpg.Connection, project_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT s.name, s.width, s.height, s.steps, s.cfg, s.architecture, s.positive_template, s.negative_template "
        "FROM projects p JOIN generation_styles s ON s.id = p.default_style_id WHERE p.id = $1", project_id)


async def world(conn: asyncpg.Connection, project_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT setting, art_direction, cinematography, palettes, negative_guidance "
                               "FROM world_settings WHERE project_id = $1", project_id)


async def character(conn: asyncpg.Connection, project_id: int, *, slug: str | None = None,
                    character_id: int | None = None) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, name, slug, design_prompt, appearance_data, archived FROM characters "
        "WHERE project_id = $1 AND (slug = $2 OR id = $3)", project_id, slug, character_id)


async def shot(conn: asyncpg.Connection, shot_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT sh.id, sh.scene_id, sh.shot_type, sh.camera_angle, sh.duration_s, sh.prompt, sh.negative_prompt, "
        "sh.motion_prompt, sh.transition, sh.dialogue_text, sh.character_ids, s.project_id, s.title AS scene_title, "
        "s.description AS scene_description, s.location, s.time_of_day, s.weather, s.mood "
        "FROM shots sh JOIN scenes s ON s.id = sh.scene_id WHERE sh.id = $1", shot_id)


async def character_names(conn: asyncpg.Connection, ids: list[int]) -> list[str]:
    return [r["name"] for r in await conn.fetch("SELECT name FROM characters WHERE id = ANY($1::bigint[]) "
                                                "ORDER BY id", ids)]
