"""SQL of the GPU farm's scene commands: pilots, their strategies, a scene's chosen strategy and
its shots' hero passes. Functions take a connection; none commits."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

PILOT_COLUMNS = frozenset({"status", "winner_id", "decided_by", "critic", "critic_notes", "step", "error"})
STRATEGY_COLUMNS = frozenset({"budget_s", "spent_s", "status", "shots", "qa_average", "pass_rate",
                              "cost_per_passed_s", "note"})
HERO_COLUMNS = frozenset({"hero_status", "hero_generation_id", "hero_output_id", "hero_error", "video_output_id"})


async def insert_pilot(conn, scene_id: int, k_shots: int, budget_s: float | None, continue_scene: bool,
                       critic_model: str | None = None) -> int:
    return await conn.fetchval(
        "INSERT INTO pilots (scene_id, k_shots, budget_s, continue_scene, critic_model, step) "
        "VALUES ($1, $2, $3, $4, $5, 'queued') RETURNING id", scene_id, k_shots, budget_s, continue_scene, critic_model)


async def insert_strategy(conn, pilot_id: int, position: int, label: str, engine: str, steps: int | None,
                          budget_s: float | None) -> int:
    return await conn.fetchval(
        "INSERT INTO pilot_strategies (pilot_id, position, label, engine, steps, budget_s) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", pilot_id, position, label, engine, steps, budget_s)


async def get_pilot(conn, pilot_id: int, *, for_update: bool = False):
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT * FROM pilots WHERE id = $1{lock}", pilot_id)


async def list_pilots(conn, scene_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM pilots WHERE scene_id = $1 ORDER BY id DESC", scene_id)


async def active_pilot(conn, scene_id: int):
    return await conn.fetchrow("SELECT * FROM pilots WHERE scene_id = $1 AND status IN ('queued', 'running')",
                               scene_id)


async def list_strategies(conn, pilot_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM pilot_strategies WHERE pilot_id = $1 ORDER BY position", pilot_id)


async def update_pilot(conn, pilot_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("pilots", "id", fields, PILOT_COLUMNS, returning="id")
        await conn.execute(sql, pilot_id, *values)


async def update_strategy(conn, strategy_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("pilot_strategies", "id", fields, STRATEGY_COLUMNS, returning="id")
        await conn.execute(sql, strategy_id, *values)


async def set_scene_strategy(conn, scene_id: int, engine: str | None, steps: int | None) -> None:
    await conn.execute("UPDATE scenes SET engine = $2, steps = $3 WHERE id = $1", scene_id, engine, steps)


async def adopt_shot(conn, shot_id: int, fields: dict) -> None:
    """A pilot's rendering becomes the shot (done), as the scene job would have left it."""
    await conn.execute(
        """UPDATE shots SET status = 'done', start_output_id = $2, generation_id = $3, attempt = 1, attempts = $4,
                  video_output_id = $5, last_frame_output_id = $6, engine = $7, seed = $8, steps = $9,
                  quality_score = $10, threshold = $11, gate_passed = $12, is_animatic = $7 = 'animatic',
                  error = NULL, hero_status = 'none', hero_generation_id = NULL, hero_output_id = NULL,
                  hero_error = NULL
           WHERE id = $1""",
        shot_id, fields["start_output_id"], fields["generation_id"], fields["attempts"], fields["video_output_id"],
        fields["last_frame_output_id"], fields["engine"], fields["seed"], fields["steps"], fields["score"],
        fields["threshold"], fields["passed"])


async def reset_shots_after(conn, scene_id: int, position: int) -> None:
    """Shots after `position` are generated again (they chain from a shot that changed)."""
    await conn.execute(
        """UPDATE shots SET status = 'pending', image_generation_id = NULL, start_output_id = NULL,
                  generation_id = NULL, attempt = 0, attempts = '[]', video_output_id = NULL,
                  last_frame_output_id = NULL, quality_score = NULL, threshold = NULL, gate_passed = NULL,
                  is_animatic = false, error = NULL, hero_status = 'none', hero_generation_id = NULL,
                  hero_output_id = NULL, hero_error = NULL
           WHERE scene_id = $1 AND position > $2""", scene_id, position)


async def update_hero(conn, shot_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("shots", "id", fields, HERO_COLUMNS, returning="id")
        await conn.execute(sql, shot_id, *values)


async def hero_shots(conn, scene_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM shots WHERE scene_id = $1 AND hero_status IN ('queued', 'rendering') "
                            "ORDER BY position", scene_id)
