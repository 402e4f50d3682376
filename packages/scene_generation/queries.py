"""SQL of the Scene Builder. Functions take a connection; none commits."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

SCENE_COLUMNS = frozenset({"title", "description", "location", "time_of_day", "weather", "mood",
                           "target_duration_s", "music_mode", "accept_animatics", "status", "progress", "step",
                           "error", "output_path", "duration_s", "music_path", "dialogue_path"})
SHOT_COLUMNS = frozenset({"shot_type", "camera_angle", "duration_s", "prompt", "negative_prompt", "motion_prompt",
                          "character_ids", "source_output_id", "dialogue_character_id", "dialogue_text",
                          "transition", "transition_s", "status", "image_generation_id", "start_output_id",
                          "generation_id", "attempt", "attempts", "video_output_id", "last_frame_output_id",
                          "engine", "seed", "steps", "quality_score", "threshold", "gate_passed", "is_animatic",
                          "error"})
SCENE_SELECT = """
SELECT s.*, p.slug AS project_slug,
       (SELECT count(*) FROM shots t WHERE t.scene_id = s.id) AS shot_count,
       (SELECT count(*) FROM shots t WHERE t.scene_id = s.id AND t.status = 'done') AS shots_done,
       EXISTS (SELECT 1 FROM shots t WHERE t.scene_id = s.id AND t.is_animatic) AS has_animatics
FROM scenes s JOIN projects p ON p.id = s.project_id
"""


async def insert_scene(conn, project_id: int, fields: dict, storyline_id: int | None = None) -> int:
    """Appended after the project's last scene."""
    return await conn.fetchval(
        """INSERT INTO scenes (project_id, storyline_id, position, title, description, location, time_of_day,
                               weather, mood, target_duration_s, music_mode, accept_animatics)
           VALUES ($1, $2, (SELECT coalesce(max(position), 0) + 1 FROM scenes WHERE project_id = $1),
                   $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id""",
        project_id, storyline_id, fields["title"], fields["description"], fields["location"], fields["time_of_day"],
        fields["weather"], fields["mood"], fields["target_duration_s"], fields["music_mode"],
        fields["accept_animatics"])


async def get_scene(conn, scene_id: int, *, for_update: bool = False):
    if for_update:
        await conn.execute("SELECT 1 FROM scenes WHERE id = $1 FOR UPDATE", scene_id)
    return await conn.fetchrow(f"{SCENE_SELECT} WHERE s.id = $1", scene_id)


async def list_scenes(conn, project_id: int, limit: int, offset: int):
    rows = await conn.fetch(f"{SCENE_SELECT} WHERE s.project_id = $1 ORDER BY s.position, s.id LIMIT $2 OFFSET $3",
                            project_id, limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM scenes WHERE project_id = $1", project_id)


async def count_scenes(conn, project_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM scenes WHERE project_id = $1", project_id)


async def update_scene(conn, scene_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("scenes", "id", fields, SCENE_COLUMNS, returning="id")
        await conn.execute(sql, scene_id, *values)


async def delete_scene(conn, scene_id: int) -> None:
    await conn.execute("DELETE FROM scenes WHERE id = $1", scene_id)


# -- shots ------------------------------------------------------------------------------------

async def list_shots(conn, scene_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM shots WHERE scene_id = $1 ORDER BY position", scene_id)


async def get_shot(conn, shot_id: int):
    return await conn.fetchrow("SELECT * FROM shots WHERE id = $1", shot_id)


async def insert_shot(conn, scene_id: int, position: int, fields: dict) -> int:
    """Opens a gap at `position` (the caller holds the scene's lock) and inserts there."""
    await conn.execute("UPDATE shots SET position = position + 1 WHERE scene_id = $1 AND position >= $2",
                       scene_id, position)
    return await conn.fetchval(
        """INSERT INTO shots (scene_id, position, shot_type, camera_angle, duration_s, prompt, negative_prompt,
                              motion_prompt, character_ids, source_output_id, dialogue_character_id, dialogue_text,
                              transition, transition_s)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id""",
        scene_id, position, fields["shot_type"], fields["camera_angle"], fields["duration_s"], fields["prompt"],
        fields["negative_prompt"], fields["motion_prompt"], fields["character_ids"], fields["source_output_id"],
        fields["dialogue_character_id"], fields["dialogue_text"], fields["transition"], fields["transition_s"])


async def update_shot(conn, shot_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("shots", "id", fields, SHOT_COLUMNS, returning="id")
        await conn.execute(sql, shot_id, *values)


async def delete_shot(conn, shot) -> None:
    await conn.execute("DELETE FROM shots WHERE id = $1", shot["id"])
    await conn.execute("UPDATE shots SET position = position - 1 WHERE scene_id = $1 AND position > $2",
                       shot["scene_id"], shot["position"])


async def move_shot(conn, shot, position: int) -> None:
    """Moves one shot to `position`, shifting those between (the unique position is deferred)."""
    old = shot["position"]
    if position == old:
        return
    if position < old:
        await conn.execute("UPDATE shots SET position = position + 1 WHERE scene_id = $1 AND position >= $2 "
                           "AND position < $3", shot["scene_id"], position, old)
    else:
        await conn.execute("UPDATE shots SET position = position - 1 WHERE scene_id = $1 AND position > $2 "
                           "AND position <= $3", shot["scene_id"], old, position)
    await conn.execute("UPDATE shots SET position = $2 WHERE id = $1", shot["id"], position)


async def reset_shots_from(conn, scene_id: int, position: int) -> None:
    """The shot at `position` and every later one go back to pending (later shots chain from it)."""
    await conn.execute(
        """UPDATE shots SET status = 'pending', image_generation_id = NULL, start_output_id = NULL,
                  generation_id = NULL, attempt = 0, attempts = '[]', video_output_id = NULL,
                  last_frame_output_id = NULL, engine = NULL, seed = NULL, steps = NULL, quality_score = NULL,
                  threshold = NULL, gate_passed = NULL, is_animatic = false, error = NULL
           WHERE scene_id = $1 AND position >= $2""", scene_id, position)


async def project_characters(conn, project_id: int, ids: list[int]) -> set[int]:
    rows = await conn.fetch("SELECT id FROM characters WHERE project_id = $1 AND id = ANY($2::bigint[])",
                            project_id, ids)
    return {r["id"] for r in rows}


async def project_image_output(conn, project_id: int, output_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outputs WHERE id = $1 AND project_id = $2 "
                               "AND kind = 'image')", output_id, project_id)


async def output_path(conn, output_id: int) -> str | None:
    return await conn.fetchval("SELECT path FROM outputs WHERE id = $1", output_id)
