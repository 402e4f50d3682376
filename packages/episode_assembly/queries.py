"""SQL of episodes. Functions take a connection; none commits."""

from __future__ import annotations

from packages.core.sql import update_statement

EPISODE_COLUMNS = frozenset({"number", "title", "description", "story_arc", "status", "progress", "step", "error",
                             "fade_s", "output_path", "thumbnail_path", "duration_s", "link_mode",
                             "published_path", "published_files", "published_at"})
EPISODE_SELECT = """
SELECT e.*, p.slug AS project_slug, p.name AS project_name, p.created_at AS project_created_at,
       p.description AS project_description,
       (SELECT count(*) FROM episode_scenes x WHERE x.episode_id = e.id) AS scene_count
FROM episodes e JOIN projects p ON p.id = e.project_id
"""


async def project_id_by_slug(conn, slug: str) -> int | None:
    return await conn.fetchval("SELECT id FROM projects WHERE slug = $1", slug)


async def insert_episode(conn, project_id: int, number: int | None, fields: dict) -> int:
    """`number` None: after the project's highest. The caller holds the project's episode lock."""
    return await conn.fetchval(
        """INSERT INTO episodes (project_id, number, title, description, story_arc)
           VALUES ($1, coalesce($2, (SELECT coalesce(max(number), 0) + 1 FROM episodes WHERE project_id = $1)),
                   $3, $4, $5) RETURNING id""",
        project_id, number, fields["title"], fields["description"], fields["story_arc"])


async def lock_project_episodes(conn, project_id: int) -> None:
    """Serialises numbering within one project (transaction-scoped advisory lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('episodes:' || $1::bigint, 0))", project_id)


async def number_taken(conn, project_id: int, number: int, episode_id: int = 0) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM episodes WHERE project_id = $1 AND number = $2 "
                               "AND id <> $3)", project_id, number, episode_id)


async def get_episode(conn, episode_id: int, *, for_update: bool = False):
    if for_update:
        await conn.execute("SELECT 1 FROM episodes WHERE id = $1 FOR UPDATE", episode_id)
    return await conn.fetchrow(f"{EPISODE_SELECT} WHERE e.id = $1", episode_id)


async def list_episodes(conn, project_id: int, limit: int, offset: int):
    rows = await conn.fetch(f"{EPISODE_SELECT} WHERE e.project_id = $1 ORDER BY e.number LIMIT $2 OFFSET $3",
                            project_id, limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM episodes WHERE project_id = $1", project_id)


async def update_episode(conn, episode_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("episodes", "id", fields, EPISODE_COLUMNS, returning="id")
        await conn.execute(sql, episode_id, *values)


async def delete_episode(conn, episode_id: int) -> None:
    await conn.execute("DELETE FROM episodes WHERE id = $1", episode_id)


# -- the episode's scenes (one row per position) -----------------------------------------------

async def compact(conn, episode_id: int) -> None:
    """Positions 1..n in order again (a deleted scene leaves a gap); the caller holds the lock."""
    await conn.execute(
        """UPDATE episode_scenes x SET position = r.n
           FROM (SELECT id, row_number() OVER (ORDER BY position) AS n FROM episode_scenes WHERE episode_id = $1) r
           WHERE x.id = r.id AND x.position <> r.n""", episode_id)


async def scene_ids(conn, episode_id: int) -> list[int]:
    return [r["scene_id"] for r in await conn.fetch(
        "SELECT scene_id FROM episode_scenes WHERE episode_id = $1 ORDER BY position", episode_id)]


async def list_scenes(conn, episode_id: int):
    """The episode's scenes in order, with what the list shows of each."""
    return await conn.fetch(
        """SELECT x.position, s.id AS scene_id, s.title, s.status, s.duration_s, s.output_path,
                  s.output_path IS NOT NULL AS has_output,
                  (SELECT t.id FROM shots t WHERE t.scene_id = s.id AND t.start_output_id IS NOT NULL
                   ORDER BY t.position LIMIT 1) AS first_shot_id
           FROM episode_scenes x JOIN scenes s ON s.id = x.scene_id
           WHERE x.episode_id = $1 ORDER BY x.position""", episode_id)


async def scene_project(conn, scene_id: int) -> int | None:
    return await conn.fetchval("SELECT project_id FROM scenes WHERE id = $1", scene_id)


async def insert_scene(conn, episode_id: int, scene_id: int, position: int) -> None:
    """Opens a gap at `position` (the unique position is deferred) and inserts there."""
    await conn.execute("UPDATE episode_scenes SET position = position + 1 WHERE episode_id = $1 AND position >= $2",
                       episode_id, position)
    await conn.execute("INSERT INTO episode_scenes (episode_id, scene_id, position) VALUES ($1, $2, $3)",
                       episode_id, scene_id, position)


async def remove_scene(conn, episode_id: int, scene_id: int) -> bool:
    position = await conn.fetchval("DELETE FROM episode_scenes WHERE episode_id = $1 AND scene_id = $2 "
                                   "RETURNING position", episode_id, scene_id)
    if position is None:
        return False
    await conn.execute("UPDATE episode_scenes SET position = position - 1 WHERE episode_id = $1 AND position > $2",
                       episode_id, position)
    return True


async def set_order(conn, episode_id: int, ordered: list[int]) -> None:
    """Position i + 1 for ordered[i] (the same set of scenes; the unique position is deferred)."""
    await conn.execute(
        """UPDATE episode_scenes x SET position = o.n
           FROM unnest($2::bigint[]) WITH ORDINALITY AS o(scene_id, n)
           WHERE x.episode_id = $1 AND x.scene_id = o.scene_id AND x.position <> o.n""", episode_id, ordered)


async def assembly_inputs(conn, episode_id: int):
    """Each scene of the episode in order with its video's path (None when it has none)."""
    return await conn.fetch(
        """SELECT x.position, s.id AS scene_id, s.title, s.output_path, s.duration_s
           FROM episode_scenes x JOIN scenes s ON s.id = x.scene_id
           WHERE x.episode_id = $1 ORDER BY x.position""", episode_id)
