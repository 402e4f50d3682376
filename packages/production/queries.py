"""SQL of production control: spend per scope, cost totals, budgets, webhooks and deliveries.
A generation belongs to a scene through params.scene_id (set by the scene job), to an episode through
the episode's scenes; training runs count for their character's project only."""

from __future__ import annotations

import asyncpg

from packages.core.sql import update_statement

IN_FLIGHT = "status IN ('queued', 'running') AND gpu_seconds IS NULL"
# the generations of a project, or of one episode of it ($2)
SCOPE = """g.project_id = $1 AND ($2::bigint IS NULL OR (g.params ? 'scene_id'
           AND (g.params->>'scene_id')::bigint IN (SELECT scene_id FROM episode_scenes WHERE episode_id = $2)))"""


async def generation_spend(conn: asyncpg.Connection, project_id: int, episode_id: int | None):
    return await conn.fetchrow(f"""
        SELECT coalesce(sum(g.gpu_seconds), 0)::float8 AS gpu_seconds, coalesce(sum(g.cost), 0)::float8 AS cost,
               coalesce(sum(g.estimated_gpu_seconds) FILTER (WHERE {IN_FLIGHT}), 0)::float8 AS committed_gpu_seconds,
               coalesce(sum(g.estimated_cost) FILTER (WHERE {IN_FLIGHT}), 0)::float8 AS committed_cost,
               count(*) FILTER (WHERE {IN_FLIGHT} AND estimated_gpu_seconds IS NULL AND kind = 'image')
                   AS queued_images,
               coalesce(sum(coalesce((g.params->>'duration_s')::float8, 3)) FILTER (
                   WHERE {IN_FLIGHT} AND estimated_gpu_seconds IS NULL AND kind = 'video'
                         AND engine <> 'animatic'), 0)::float8 AS queued_video_s
        FROM generations g WHERE {SCOPE}""", project_id, episode_id)


async def training_spend(conn: asyncpg.Connection, project_id: int):
    """Finished runs' recorded seconds, and a running run's seconds so far."""
    return await conn.fetchrow("""
        SELECT coalesce(sum(coalesce(t.gpu_seconds, CASE WHEN t.status = 'running' AND t.started_at IS NOT NULL
                                     THEN extract(epoch FROM now() - t.started_at) END)), 0)::float8 AS gpu_seconds,
               coalesce(sum(t.cost), 0)::float8 AS cost, count(*) AS runs
        FROM training_runs t JOIN characters c ON c.id = t.character_id WHERE c.project_id = $1""", project_id)


async def pending_shot_seconds(conn: asyncpg.Connection, project_id: int, episode_id: int | None) -> float:
    """Seconds of video still to render in scenes that are queued or generating (shots with no
    generation in flight: those are counted with the generations)."""
    return await conn.fetchval("""
        SELECT coalesce(sum(s.duration_s), 0)::float8 FROM shots s JOIN scenes sc ON sc.id = s.scene_id
        WHERE sc.project_id = $1 AND sc.status IN ('queued', 'generating') AND s.status IN ('pending', 'failed')
          AND ($2::bigint IS NULL OR sc.id IN (SELECT scene_id FROM episode_scenes WHERE episode_id = $2))""",
        project_id, episode_id)


async def generations_spend(conn: asyncpg.Connection, ids: list[int]):
    return await conn.fetchrow(f"""
        SELECT coalesce(sum(g.gpu_seconds), 0)::float8 AS gpu_seconds, coalesce(sum(g.cost), 0)::float8 AS cost,
               coalesce(sum(g.estimated_gpu_seconds) FILTER (WHERE {IN_FLIGHT}), 0)::float8 AS committed_gpu_seconds,
               coalesce(sum(g.estimated_cost) FILTER (WHERE {IN_FLIGHT}), 0)::float8 AS committed_cost
        FROM generations g WHERE g.id = ANY($1::bigint[])""", ids)


async def recent_rates(conn: asyncpg.Connection, project_id: int, engine: str | None):
    """Average GPU-seconds of recent finished generations: per image, and per second of video
    (this project's first, then everyone's; of the engine when given)."""
    return await conn.fetchrow("""
        WITH recent AS (
            SELECT g.project_id = $1 AS own, g.kind, g.gpu_seconds,
                   g.gpu_seconds / greatest(coalesce((g.params->>'duration_s')::float8, 3), 0.1) AS per_video_s
            FROM generations g
            WHERE g.status = 'succeeded' AND g.gpu_seconds IS NOT NULL AND g.engine <> 'animatic'
              AND ($2::text IS NULL OR g.kind = 'image' OR g.engine = $2)
            ORDER BY g.id DESC LIMIT 500)
        SELECT coalesce(avg(gpu_seconds) FILTER (WHERE own AND kind = 'image'),
                        avg(gpu_seconds) FILTER (WHERE kind = 'image'))::float8 AS image_s,
               coalesce(avg(per_video_s) FILTER (WHERE own AND kind = 'video'),
                        avg(per_video_s) FILTER (WHERE kind = 'video'))::float8 AS video_s_per_s,
               (SELECT coalesce(max(rate_per_s), 0) FROM backends WHERE enabled)::float8 AS rate
        FROM recent""", project_id, engine)


# -- cost totals ---------------------------------------------------------------------------------

_GEN_SUMS = """coalesce(sum(g.gpu_seconds), 0)::float8 AS gpu_seconds, coalesce(sum(g.cost), 0)::float8 AS cost,
               count(g.id) AS generations"""
TOTALS = {
    "scene": f"""
        SELECT sc.id AS key_id, sc.title AS name, {_GEN_SUMS}, 0::bigint AS training_runs
        FROM scenes sc LEFT JOIN generations g ON g.params ? 'scene_id' AND (g.params->>'scene_id')::bigint = sc.id
        WHERE sc.project_id = $1 GROUP BY sc.id ORDER BY sc.position, sc.id""",
    "episode": f"""
        SELECT e.id AS key_id, e.title AS name, {_GEN_SUMS}, 0::bigint AS training_runs
        FROM episodes e LEFT JOIN episode_scenes es ON es.episode_id = e.id
             LEFT JOIN generations g ON g.params ? 'scene_id' AND (g.params->>'scene_id')::bigint = es.scene_id
        WHERE e.project_id = $1 GROUP BY e.id ORDER BY e.number, e.id""",
    "character": """
        SELECT c.id AS key_id, c.name,
               (coalesce(gs.gpu_seconds, 0) + coalesce(ts.gpu_seconds, 0))::float8 AS gpu_seconds,
               (coalesce(gs.cost, 0) + coalesce(ts.cost, 0))::float8 AS cost,
               coalesce(gs.generations, 0) AS generations, coalesce(ts.runs, 0) AS training_runs
        FROM characters c
        LEFT JOIN (SELECT character_id, sum(gpu_seconds) AS gpu_seconds, sum(cost) AS cost, count(*) AS generations
                   FROM generations WHERE project_id = $1 GROUP BY character_id) gs ON gs.character_id = c.id
        LEFT JOIN (SELECT character_id, sum(gpu_seconds) AS gpu_seconds, sum(cost) AS cost, count(*) AS runs
                   FROM training_runs GROUP BY character_id) ts ON ts.character_id = c.id
        WHERE c.project_id = $1 ORDER BY c.name, c.id""",
}


async def totals(conn: asyncpg.Connection, project_id: int, by: str):
    return await conn.fetch(TOTALS[by], project_id)  # `by` picks a constant statement (KeyError otherwise)


# -- budgets -------------------------------------------------------------------------------------

BUDGET_COLUMNS = 'id, project_id, episode_id, unit, "limit"::float8 AS "limit", warn_at, warned'


async def lock_budgets(conn: asyncpg.Connection, project_id: int, episode_ids: list[int]):
    """The scope's budgets, locked until the transaction ends, in id order (no deadlocks)."""
    return await conn.fetch(
        f"SELECT {BUDGET_COLUMNS} FROM budgets WHERE project_id = $1 "
        "AND (episode_id IS NULL OR episode_id = ANY($2::bigint[])) ORDER BY id FOR UPDATE",
        project_id, episode_ids)


async def get_budget(conn: asyncpg.Connection, project_id: int, episode_id: int | None):
    return await conn.fetchrow(
        f"SELECT {BUDGET_COLUMNS} FROM budgets WHERE project_id = $1 AND episode_id IS NOT DISTINCT FROM $2",
        project_id, episode_id)


async def upsert_budget(conn: asyncpg.Connection, project_id: int, episode_id: int | None, unit: str,
                        limit: float, warn_at: float):
    return await conn.fetchrow(
        f"""INSERT INTO budgets (project_id, episode_id, unit, "limit", warn_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT ON CONSTRAINT budgets_scope_unique DO UPDATE
            SET unit = EXCLUDED.unit, "limit" = EXCLUDED."limit", warn_at = EXCLUDED.warn_at, warned = false
            RETURNING {BUDGET_COLUMNS}""", project_id, episode_id, unit, limit, warn_at)


async def delete_budget(conn: asyncpg.Connection, project_id: int, episode_id: int | None) -> bool:
    return await conn.fetchval(
        "DELETE FROM budgets WHERE project_id = $1 AND episode_id IS NOT DISTINCT FROM $2 RETURNING id",
        project_id, episode_id) is not None


async def mark_warned(conn: asyncpg.Connection, budget_id: int) -> None:
    await conn.execute("UPDATE budgets SET warned = true WHERE id = $1", budget_id)


async def episodes_of_scene(conn: asyncpg.Connection, scene_id: int) -> list[int]:
    return [r["episode_id"] for r in await conn.fetch(
        "SELECT episode_id FROM episode_scenes WHERE scene_id = $1 ORDER BY episode_id", scene_id)]


async def get_episode(conn: asyncpg.Connection, episode_id: int):
    return await conn.fetchrow("SELECT id, project_id, title FROM episodes WHERE id = $1", episode_id)


async def project_exists(conn: asyncpg.Connection, project_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id)


async def reserve_generation(conn: asyncpg.Connection, gen_id: int, gpu_seconds: float, cost: float) -> None:
    await conn.execute("UPDATE generations SET estimated_gpu_seconds = $2, estimated_cost = $3 WHERE id = $1",
                       gen_id, gpu_seconds, cost)


async def generation_for_admission(conn: asyncpg.Connection, gen_id: int):
    return await conn.fetchrow(
        "SELECT id, project_id, kind, engine, status, params, gpu_seconds, estimated_gpu_seconds "
        "FROM generations WHERE id = $1 FOR UPDATE", gen_id)


async def record_training_cost(conn: asyncpg.Connection, run_id: int, rate: float) -> None:
    await conn.execute("UPDATE training_runs SET cost = round((gpu_seconds * $2)::numeric, 6) "
                       "WHERE id = $1 AND gpu_seconds IS NOT NULL AND cost IS NULL", run_id, rate)


# -- webhooks ------------------------------------------------------------------------------------

WEBHOOK_COLUMNS = "id, project_id, url, secret, event_types, enabled, description, created_at, updated_at"
WEBHOOK_UPDATABLE = frozenset({"url", "event_types", "enabled", "description"})
DELIVERY_COLUMNS = ("id, webhook_id, event_id, event_type, status, attempts, response_code, error, next_at, "
                    "delivered_at, created_at")


async def insert_webhook(conn: asyncpg.Connection, project_id: int, url: str, secret: str,
                         event_types: list[str], enabled: bool, description: str):
    return await conn.fetchrow(
        f"INSERT INTO webhooks (project_id, url, secret, event_types, enabled, description) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {WEBHOOK_COLUMNS}",
        project_id, url, secret, event_types, enabled, description)


async def get_webhook(conn: asyncpg.Connection, webhook_id: int):
    return await conn.fetchrow(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1", webhook_id)


async def list_webhooks(conn: asyncpg.Connection, project_id: int, limit: int, offset: int):
    rows = await conn.fetch(f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE project_id = $1 ORDER BY id "
                            "LIMIT $2 OFFSET $3", project_id, limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM webhooks WHERE project_id = $1", project_id)


async def update_webhook(conn: asyncpg.Connection, webhook_id: int, fields: dict):
    sql, values = update_statement("webhooks", "id", fields, WEBHOOK_UPDATABLE, returning=WEBHOOK_COLUMNS)
    return await conn.fetchrow(sql, webhook_id, *values)


async def delete_webhook(conn: asyncpg.Connection, webhook_id: int) -> None:
    await conn.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)


# the webhooks an event goes to: same project, enabled, created before it, and a matching type
# (exact, `domain.*` or `*`); webhook.* events never, except webhook.test to its own webhook
_FAN_OUT = """
    INSERT INTO webhook_deliveries (webhook_id, event_id, event_type)
    SELECT w.id, e.id, e.type FROM events e JOIN webhooks w ON w.project_id = e.project_id AND w.enabled
    WHERE {where} AND w.created_at <= e.at
      AND CASE WHEN e.type = 'webhook.test' THEN (e.payload->>'webhook_id')::bigint = w.id
               ELSE e.type NOT LIKE 'webhook.%' AND (e.type = ANY(w.event_types) OR '*' = ANY(w.event_types)
                    OR split_part(e.type, '.', 1) || '.*' = ANY(w.event_types)) END
    ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING
    RETURNING id"""


async def fan_out(conn: asyncpg.Connection, event_id: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(_FAN_OUT.format(where="e.id = $1"), event_id)]


async def fan_out_recent(conn: asyncpg.Connection, window: int) -> list[int]:
    """The sweep: deliveries missing for the last `window` events of the last 15 minutes (an event
    whose in-process reaction was lost with its process)."""
    where = "e.id > (SELECT coalesce(max(id), 0) FROM events) - $1 AND e.at > now() - interval '15 minutes'"
    return [r["id"] for r in await conn.fetch(_FAN_OUT.format(where=where), window)]


async def hooked_projects(conn: asyncpg.Connection) -> list[int]:
    return [r["project_id"] for r in await conn.fetch("SELECT DISTINCT project_id FROM webhooks WHERE enabled")]


async def due_deliveries(conn: asyncpg.Connection) -> list[int]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_at <= now() ORDER BY id LIMIT 1000")]


async def delivery_for_send(conn: asyncpg.Connection, delivery_id: int):
    return await conn.fetchrow("""
        SELECT d.id, d.status, d.attempts, d.event_id, d.event_type, w.id AS webhook_id, w.project_id, w.url,
               w.secret, w.enabled, e.type, e.payload, e.at, e.project_id AS event_project_id
        FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN events e ON e.id = d.event_id
        WHERE d.id = $1""", delivery_id)


async def update_delivery(conn: asyncpg.Connection, delivery_id: int, fields: dict):
    allowed = frozenset({"status", "attempts", "response_code", "error", "next_at", "delivered_at"})
    sql, values = update_statement("webhook_deliveries", "id", fields, allowed, returning=DELIVERY_COLUMNS)
    return await conn.fetchrow(sql, delivery_id, *values)


async def delivery_of(conn: asyncpg.Connection, webhook_id: int, event_id: int) -> int | None:
    return await conn.fetchval("SELECT id FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = $2",
                               webhook_id, event_id)


async def get_delivery(conn: asyncpg.Connection, delivery_id: int):
    return await conn.fetchrow(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1", delivery_id)


async def list_deliveries(conn: asyncpg.Connection, webhook_id: int, limit: int, offset: int):
    rows = await conn.fetch(f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 "
                            "ORDER BY id DESC LIMIT $2 OFFSET $3", webhook_id, limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1", webhook_id)
