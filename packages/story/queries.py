"""SQL of the story domain. Functions take a connection; none commits."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

PROJECT_ORDER = "ORDER BY lower(p.name), p.id"


def _projects_of(page_sql: str) -> str:
    """Projects whose ids `page_sql` (a query yielding `id`) picks, with their style name, active
    character count and cover image, each computed once for the page rather than per row."""
    return f"""
    WITH page AS ({page_sql}),
    counts AS (SELECT c.project_id, count(*) AS n FROM characters c
               WHERE c.project_id IN (SELECT id FROM page) AND NOT c.archived GROUP BY c.project_id),
    covers AS (SELECT DISTINCT ON (c.project_id) c.project_id, r.id AS image_id
               FROM characters c JOIN reference_images r ON r.character_id = c.id
               WHERE c.project_id IN (SELECT id FROM page) AND NOT c.archived
               ORDER BY c.project_id, c.id, r.id)
    SELECT p.id, p.name, p.slug, p.description, p.genre, p.premise, p.content_rating, p.status,
           p.default_style_id, s.name AS default_style_name, p.created_at, p.updated_at,
           coalesce(counts.n, 0) AS character_count,
           'reference-images/' || covers.image_id || '/file' AS cover_url
    FROM page JOIN projects p ON p.id = page.id
    LEFT JOIN generation_styles s ON s.id = p.default_style_id
    LEFT JOIN counts ON counts.project_id = p.id
    LEFT JOIN covers ON covers.project_id = p.id
    {PROJECT_ORDER}"""


PROJECT_BY_ID = _projects_of("SELECT $1::bigint AS id")
PROJECT_BY_SLUG = _projects_of("SELECT id FROM projects WHERE slug = $1")
PROJECT_COLUMNS = frozenset({"name", "description", "genre", "premise", "content_rating", "status",
                             "default_style_id", "status_before_archive"})


async def list_projects(conn, *, q: str | None, status: str | None, include_archived: bool, limit: int, offset: int):
    where = """
    WHERE ($1::text IS NULL OR p.name ILIKE '%' || $1 || '%' OR p.slug ILIKE '%' || $1 || '%')
      AND ($2::text IS NULL OR p.status = $2)
      AND ($3 OR $2::text = 'archived' OR p.status <> 'archived')
    """
    rows = await conn.fetch(_projects_of(f"SELECT p.id FROM projects p {where} {PROJECT_ORDER} LIMIT $4 OFFSET $5"),
                            q, status, include_archived, limit, offset)
    total = await conn.fetchval(f"SELECT count(*) FROM projects p {where}", q, status, include_archived)
    return rows, total


async def get_project(conn, project_id: int):
    return await conn.fetchrow(PROJECT_BY_ID, project_id)


async def get_project_by_slug(conn, slug: str):
    return await conn.fetchrow(PROJECT_BY_SLUG, slug)


async def project_exists(conn, project_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id)


async def insert_project(conn, fields: dict) -> int:
    return await conn.fetchval(
        "INSERT INTO projects (name, slug, description, genre, premise, content_rating, status, default_style_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        fields["name"], fields["slug"], fields["description"], fields["genre"], fields["premise"],
        fields["content_rating"], fields["status"], fields["default_style_id"])


async def update_project(conn, project_id: int, fields: dict):
    sql, values = update_statement("projects", "id", fields, PROJECT_COLUMNS, returning="id, status")
    return await conn.fetchrow(sql, project_id, *values)


# -- styles -----------------------------------------------------------------------------------

STYLE_COLUMNS = frozenset({"name", "checkpoint", "cfg", "steps", "sampler", "scheduler", "width", "height",
                           "positive_template", "negative_template", "architecture"})


async def list_styles(conn, limit: int, offset: int):
    rows = await conn.fetch("SELECT * FROM generation_styles ORDER BY lower(name), id LIMIT $1 OFFSET $2", limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM generation_styles")


async def get_style(conn, style_id: int):
    return await conn.fetchrow("SELECT * FROM generation_styles WHERE id = $1", style_id)


async def style_exists(conn, style_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM generation_styles WHERE id = $1)", style_id)


async def insert_style(conn, fields: dict):
    columns = sorted(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    for column in columns:
        assert column in STYLE_COLUMNS, column
    return await conn.fetchrow(
        f"INSERT INTO generation_styles ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
        *[fields[c] for c in columns])


async def update_style(conn, style_id: int, fields: dict):
    sql, values = update_statement("generation_styles", "id", fields, STYLE_COLUMNS)
    return await conn.fetchrow(sql, style_id, *values)


async def style_in_use(conn, style_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE default_style_id = $1)", style_id)


async def delete_style(conn, style_id: int) -> bool:
    return await conn.fetchval("DELETE FROM generation_styles WHERE id = $1 RETURNING true", style_id) or False


# -- storylines -------------------------------------------------------------------------------

STORYLINE_COLUMNS = frozenset({"title", "summary", "theme", "tone", "target_audience", "arcs"})


async def list_storylines(conn, project_id: int, limit: int, offset: int):
    rows = await conn.fetch(
        "SELECT * FROM storylines WHERE project_id = $1 ORDER BY id LIMIT $2 OFFSET $3", project_id, limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM storylines WHERE project_id = $1", project_id)


async def get_storyline(conn, storyline_id: int):
    return await conn.fetchrow("SELECT * FROM storylines WHERE id = $1", storyline_id)


async def insert_storyline(conn, fields: dict):
    return await conn.fetchrow(
        "INSERT INTO storylines (project_id, title, summary, theme, tone, target_audience, arcs) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        fields["project_id"], fields["title"], fields["summary"], fields["theme"], fields["tone"],
        fields["target_audience"], fields["arcs"])


async def update_storyline(conn, storyline_id: int, fields: dict):
    sql, values = update_statement("storylines", "id", fields, STORYLINE_COLUMNS)
    return await conn.fetchrow(sql, storyline_id, *values)


async def delete_storyline(conn, storyline_id: int) -> None:
    await conn.execute("DELETE FROM storylines WHERE id = $1", storyline_id)


# -- world settings ---------------------------------------------------------------------------

async def get_world_settings(conn, project_id: int):
    return await conn.fetchrow("SELECT * FROM world_settings WHERE project_id = $1", project_id)


async def upsert_world_settings(conn: asyncpg.Connection, project_id: int, fields: dict):
    """Insert the project's world settings, or update only the given fields (one statement, so
    two people saving different fields at once both keep their change)."""
    return await conn.fetchrow(
        "INSERT INTO world_settings AS w (project_id, setting, art_direction, cinematography, palettes, negative_guidance) "
        "VALUES ($1, coalesce($2, ''), coalesce($3, ''), coalesce($4, ''), coalesce($5, '[]'::jsonb), coalesce($6, '')) "
        "ON CONFLICT (project_id) DO UPDATE SET "
        "setting = coalesce($2, w.setting), art_direction = coalesce($3, w.art_direction), "
        "cinematography = coalesce($4, w.cinematography), palettes = coalesce($5, w.palettes), "
        "negative_guidance = coalesce($6, w.negative_guidance) RETURNING *",
        project_id, fields.get("setting"), fields.get("art_direction"), fields.get("cinematography"),
        fields.get("palettes"), fields.get("negative_guidance"))
