"""SQL of LoRA training. Functions take a connection; none commits."""

from __future__ import annotations

from packages.core.sql import update_statement

RUN_SELECT = """SELECT r.*, c.name AS character_name, c.project_id, l.id AS lora_id
    FROM training_runs r JOIN characters c ON c.id = r.character_id LEFT JOIN loras l ON l.run_id = r.id"""
RUN_COLUMNS = frozenset({"status", "step", "total_steps", "epoch", "total_epochs", "eta_s", "peak_memory_mb",
                         "output_path", "error", "log_tail", "started_at", "finished_at"})
LORA_SELECT = """SELECT l.*, (c.lora_id IS NOT DISTINCT FROM l.id) AS active
    FROM loras l JOIN characters c ON c.id = l.character_id"""


async def get_run(conn, run_id: int):
    return await conn.fetchrow(f"{RUN_SELECT} WHERE r.id = $1", run_id)


async def lock_run(conn, run_id: int):
    return await conn.fetchrow(f"{RUN_SELECT} WHERE r.id = $1 FOR UPDATE OF r", run_id)


async def list_runs(conn, *, character_id: int | None, limit: int, offset: int):
    rows = await conn.fetch(f"{RUN_SELECT} WHERE ($1::bigint IS NULL OR r.character_id = $1) "
                            "ORDER BY r.id DESC LIMIT $2 OFFSET $3", character_id, limit, offset)
    total = await conn.fetchval("SELECT count(*) FROM training_runs WHERE ($1::bigint IS NULL OR character_id = $1)",
                                character_id)
    return rows, total


async def active_run(conn, character_id: int):
    return await conn.fetchval("SELECT id FROM training_runs WHERE character_id = $1 AND status IN ('queued', 'running')",
                               character_id)


async def insert_run(conn, *, character_id: int, base_model: str, params: dict) -> int | None:
    """The new run's id; None when the character already has a queued or running run."""
    return await conn.fetchval(
        "INSERT INTO training_runs (character_id, base_model, params, total_epochs) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (character_id) WHERE status IN ('queued', 'running') DO NOTHING RETURNING id",
        character_id, base_model, params, params["epochs"])


async def update_run(conn, run_id: int, fields: dict) -> None:
    if fields:
        sql, values = update_statement("training_runs", "id", fields, RUN_COLUMNS, returning="id")
        await conn.execute(sql, run_id, *values)


async def start_attempt(conn, run_id: int) -> int | None:
    """Marks the run running for one more attempt; None when it was cancelled (or finished) meanwhile."""
    return await conn.fetchval("UPDATE training_runs SET attempts = attempts + 1, status = 'running', "
                               "started_at = coalesce(started_at, now()) "
                               "WHERE id = $1 AND status IN ('queued', 'running') AND NOT cancel_requested "
                               "RETURNING attempts", run_id)


async def request_cancel(conn, run_id: int) -> None:
    await conn.execute("UPDATE training_runs SET cancel_requested = true WHERE id = $1", run_id)


async def cancel_requested(conn, run_id: int) -> bool:
    return bool(await conn.fetchval("SELECT cancel_requested FROM training_runs WHERE id = $1", run_id))


async def append_loss(conn, run_id: int, points: list[dict]) -> None:
    """Adds loss points, dropping any at or before a step already recorded (a resumed run repeats none)."""
    await conn.execute(
        """UPDATE training_runs SET loss = loss || coalesce((
               SELECT jsonb_agg(p) FROM jsonb_array_elements($2::jsonb) p
               WHERE (p->>'step')::int > coalesce((SELECT max((q->>'step')::int) FROM jsonb_array_elements(loss) q), 0)
           ), '[]'::jsonb) WHERE id = $1""", run_id, points)


async def append_sample(conn, run_id: int, sample: dict) -> None:
    await conn.execute("UPDATE training_runs SET samples = samples || jsonb_build_array($2::jsonb) WHERE id = $1",
                       run_id, sample)


async def approved_images(conn, character_id: int):
    return await conn.fetch("SELECT id, path, caption FROM images WHERE character_id = $1 AND status = 'approved' "
                            "ORDER BY id", character_id)


async def count_approved(conn, character_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM images WHERE character_id = $1 AND status = 'approved'",
                               character_id)


async def insert_lora(conn, *, character_id: int, run_id: int, name: str, path: str, trigger: str | None,
                      architecture: str, rank: int, alpha: float) -> int:
    """The run's LoRA (one per run: a second export of the same run updates the same row)."""
    return await conn.fetchval(
        """INSERT INTO loras (character_id, run_id, name, path, trigger, architecture, rank, alpha)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (run_id) DO UPDATE SET name = EXCLUDED.name, path = EXCLUDED.path RETURNING id""",
        character_id, run_id, name, path, trigger, architecture, rank, alpha)


async def get_lora(conn, lora_id: int):
    return await conn.fetchrow(f"{LORA_SELECT} WHERE l.id = $1", lora_id)


async def list_loras(conn, character_id: int):
    return await conn.fetch(f"{LORA_SELECT} WHERE l.character_id = $1 ORDER BY l.id DESC", character_id)


async def set_active_lora(conn, character_id: int, lora_id: int) -> None:
    await conn.execute("UPDATE characters SET lora_id = $2 WHERE id = $1", character_id, lora_id)


async def active_lora(conn, character_id: int):
    """The character's active LoRA (name, trigger, architecture), or None."""
    return await conn.fetchrow("SELECT l.* FROM characters c JOIN loras l ON l.id = c.lora_id WHERE c.id = $1",
                               character_id)
