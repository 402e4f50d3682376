"""SQL of learning and auto-correction. Functions take a connection; none commits (the services
own the transaction). Everything learning shows is computed here on demand from images, reviews,
generations and corrections: no state is kept in memory."""

from __future__ import annotations

import asyncpg

# The character's decided images (approved or rejected now), each with the latest review that
# made that decision (human, model or metrics) for its order and reason.
DECIDED = """
decided AS (
    SELECT i.id, i.generation_id, i.status, coalesce(lr.reason, i.reasons[1]) AS reason,
           coalesce(lr.created_at, i.updated_at) AS decided_at, coalesce(lr.id, 0) AS review_id
    FROM images i
    LEFT JOIN LATERAL (SELECT r.id, r.reason, r.created_at FROM reviews r
                       WHERE r.image_id = i.id AND r.decision = i.status ORDER BY r.id DESC LIMIT 1) lr ON true
    WHERE i.character_id = $1 AND i.status IN ('approved', 'rejected')
)
"""

TOTALS = f"""
WITH {DECIDED}
SELECT count(*) AS decisions, count(*) FILTER (WHERE status = 'approved') AS approved,
       count(*) FILTER (WHERE status = 'rejected') AS rejected
FROM decided
"""

# Rolling rate over the latest $2 decisions against the rate of every decision before them.
DRIFT = f"""
WITH {DECIDED}, ranked AS (
    SELECT status, row_number() OVER (ORDER BY decided_at DESC, review_id DESC, id DESC) AS n FROM decided
)
SELECT count(*) FILTER (WHERE n <= $2) AS window_count,
       avg((status = 'approved')::int) FILTER (WHERE n <= $2)::float8 AS rolling_rate,
       count(*) FILTER (WHERE n > $2) AS baseline_count,
       avg((status = 'approved')::int) FILTER (WHERE n > $2)::float8 AS baseline_rate
FROM ranked
"""

# Seeds bucketed into 8 ranges of 2^29 over 0..2^32-1 (larger seeds fall in the last one).
SEED_BUCKET = 536870912

# The effective values each generated, decided image was made with, read from the workflow that
# was submitted (the ComfyUI prompt JSON), one row per (image, parameter, value).
FACTS = f"""
WITH {DECIDED},
gen AS (
    SELECT d.id, d.status, g.id AS generation_id,
           CASE WHEN jsonb_typeof(g.workflow) = 'object' THEN g.workflow END AS wf
    FROM decided d JOIN generations g ON g.id = d.generation_id
),
ks AS (
    SELECT id, status, wf, jsonb_path_query_first(wf, '$.* ? (@.class_type == "KSampler").inputs') AS k,
           jsonb_path_query_first(wf, '$.* ? (@.class_type == "CheckpointLoaderSimple").inputs.ckpt_name') #>> '{{}}'
               AS checkpoint
    FROM gen WHERE wf IS NOT NULL
),
facts AS (
    SELECT id, status, 'checkpoint' AS parameter, checkpoint AS value FROM ks
    UNION ALL SELECT id, status, 'cfg', k ->> 'cfg' FROM ks
    UNION ALL SELECT id, status, 'steps', k ->> 'steps' FROM ks
    UNION ALL SELECT id, status, 'sampler', k ->> 'sampler_name' FROM ks
    UNION ALL SELECT id, status, 'seed_range', b * {SEED_BUCKET} || '-' || ((b + 1) * {SEED_BUCKET} - 1)
    FROM ks, LATERAL (SELECT least(floor((k ->> 'seed')::numeric / {SEED_BUCKET}), 7)::bigint AS b) s
    WHERE jsonb_typeof(k -> 'seed') = 'number'
    UNION ALL SELECT DISTINCT id, status, 'lora_strength', x #>> '{{}}'
    FROM ks, jsonb_path_query(wf, '$.* ? (@.class_type == "LoraLoader").inputs.strength_model') x
    UNION ALL SELECT DISTINCT id, status, 'prompt_term', lower(trim(t))
    FROM ks, string_to_table(wf -> (k -> 'positive' ->> 0) -> 'inputs' ->> 'text', ',') t
    WHERE jsonb_typeof(k -> 'positive') = 'array' AND trim(t) <> ''
    UNION ALL SELECT gen.id, gen.status, 'correction_strategy', c.strategy
    FROM gen JOIN corrections c ON c.generation_id = gen.generation_id
)
SELECT parameter, value, count(*) FILTER (WHERE status = 'approved') AS approved,
       count(*) FILTER (WHERE status = 'rejected') AS rejected
FROM facts WHERE value IS NOT NULL  -- one row per (image, parameter, value): counts are of images
GROUP BY parameter, value
-- a prompt term every generated image had tells nothing: only the terms that differ are kept
HAVING parameter <> 'prompt_term' OR count(*) < (SELECT count(*) FROM ks)
ORDER BY parameter, value
"""

# Why the rejected images were rejected; a metrics reason ("metrics: blurry, too dark") counts
# once per issue it names.
REASONS = f"""
WITH {DECIDED}
SELECT r.reason, count(*) AS count FROM decided d
CROSS JOIN LATERAL unnest(CASE
    WHEN d.reason LIKE 'metrics: %'
    THEN ARRAY(SELECT 'metrics: ' || trim(x) FROM unnest(string_to_array(substr(d.reason, 10), ',')) x
               WHERE trim(x) <> '')
    ELSE ARRAY[coalesce(nullif(trim(d.reason), ''), 'unspecified')] END) AS r(reason)
WHERE d.status = 'rejected'
GROUP BY r.reason ORDER BY count(*) DESC, r.reason
"""

CORRECTION_SUMMARY = """
SELECT strategy, count(*) FILTER (WHERE outcome = 'queued') AS queued,
       count(*) FILTER (WHERE outcome = 'approved') AS approved,
       count(*) FILTER (WHERE outcome = 'rejected') AS rejected,
       count(*) FILTER (WHERE outcome = 'failed') AS failed
FROM corrections WHERE character_id = $1 GROUP BY strategy ORDER BY strategy
"""


async def totals(conn, character_id: int):
    return await conn.fetchrow(TOTALS, character_id)


async def drift(conn, character_id: int, window: int):
    return await conn.fetchrow(DRIFT, character_id, window)


async def parameters(conn, character_id: int):
    return await conn.fetch(FACTS, character_id)


async def reasons(conn, character_id: int):
    return await conn.fetch(REASONS, character_id)


async def correction_summary(conn, character_id: int):
    return await conn.fetch(CORRECTION_SUMMARY, character_id)


async def lock_learning_state(conn: asyncpg.Connection, character_id: int):
    """The character's drift state, created when missing, locked until the transaction ends (so two
    checks of one character run one after the other and the alert turns on once)."""
    await conn.execute("INSERT INTO learning_state (character_id) VALUES ($1) ON CONFLICT DO NOTHING", character_id)
    return await conn.fetchrow("SELECT * FROM learning_state WHERE character_id = $1 FOR UPDATE", character_id)


async def set_learning_state(conn, character_id: int, *, alert: bool, rolling_rate: float | None,
                             baseline_rate: float | None, turned_on: bool) -> None:
    await conn.execute(
        "UPDATE learning_state SET drift_alert = $2, rolling_rate = $3, baseline_rate = $4, "
        "alerted_at = CASE WHEN $5 THEN now() ELSE alerted_at END WHERE character_id = $1",
        character_id, alert, rolling_rate, baseline_rate, turned_on)


# -- auto-correction ----------------------------------------------------------------------------

async def auto_correction(conn) -> bool:
    return bool(await conn.fetchval("SELECT auto_correction FROM replenishment_settings WHERE id = 1"))


async def set_auto_correction(conn, enabled: bool) -> bool:
    return await conn.fetchval(
        "UPDATE replenishment_settings SET auto_correction = $1, auto_correction_since = CASE "
        "WHEN $1 AND NOT auto_correction THEN now() ELSE auto_correction_since END WHERE id = 1 "
        "RETURNING auto_correction", enabled)


async def images_to_correct(conn, character_id: int, limit: int) -> list[int]:
    """The character's rejected generated images rejected since the switch was turned on that have
    no correction yet (or one a crash left before its generation was linked), oldest first. An
    image a correction made is never one of them."""
    rows = await conn.fetch(
        """SELECT i.id FROM images i
           JOIN generations g ON g.id = i.generation_id
           CROSS JOIN replenishment_settings st
           WHERE st.id = 1 AND st.auto_correction AND i.character_id = $1 AND i.status = 'rejected'
             AND g.kind = 'image' AND NOT g.params ? 'correction_of'
             AND NOT EXISTS (SELECT 1 FROM corrections c WHERE c.generation_id = i.generation_id)
             AND NOT EXISTS (SELECT 1 FROM corrections c WHERE c.image_id = i.id
                             AND (c.generation_id IS NOT NULL OR c.outcome <> 'queued'))
             AND (SELECT max(r.created_at) FROM reviews r
                  WHERE r.image_id = i.id AND r.decision = 'rejected') >= st.auto_correction_since
           ORDER BY i.id LIMIT $2""", character_id, limit)
    return [r["id"] for r in rows]


async def lock_rejected_image(conn: asyncpg.Connection, image_id: int):
    """The image with what a correction needs (its generation and character), locked."""
    return await conn.fetchrow(
        "SELECT i.id, i.character_id, i.status, i.generation_id, i.reasons, c.project_id, c.archived, "
        "c.design_prompt, c.appearance_data, g.kind AS generation_kind, g.params, g.workflow, "
        "EXISTS (SELECT 1 FROM corrections x WHERE x.generation_id = i.generation_id) AS from_correction "
        "FROM images i JOIN characters c ON c.id = i.character_id "
        "LEFT JOIN generations g ON g.id = i.generation_id WHERE i.id = $1 FOR UPDATE OF i", image_id)


async def last_reject_reason(conn, image_id: int) -> str | None:
    return await conn.fetchval("SELECT reason FROM reviews WHERE image_id = $1 AND decision = 'rejected' "
                               "ORDER BY id DESC LIMIT 1", image_id)


async def correction_for_image(conn, image_id: int):
    return await conn.fetchrow("SELECT * FROM corrections WHERE image_id = $1", image_id)


async def insert_correction(conn, *, image_id: int, character_id: int, strategy: str, reason: str | None,
                            params_before: dict, params_after: dict):
    return await conn.fetchrow(
        "INSERT INTO corrections (image_id, character_id, strategy, reason, params_before, params_after) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (image_id) DO NOTHING RETURNING *",
        image_id, character_id, strategy, reason, params_before, params_after)


async def generation_of_correction(conn, image_id: int) -> int | None:
    """The regeneration a correction of this image already created (found by params.correction_of)."""
    return await conn.fetchval(
        "SELECT id FROM generations WHERE params ? 'correction_of' AND (params ->> 'correction_of')::bigint = $1 "
        "ORDER BY id LIMIT 1", image_id)


async def link_correction(conn, image_id: int, generation_id: int):
    return await conn.fetchrow(
        "UPDATE corrections SET generation_id = $2 WHERE image_id = $1 AND generation_id IS NULL RETURNING *",
        image_id, generation_id)


async def fail_correction(conn, image_id: int) -> None:
    await conn.execute("UPDATE corrections SET outcome = 'failed' WHERE image_id = $1 AND generation_id IS NULL",
                       image_id)


async def settle_outcomes(conn, character_id: int):
    """A correction's outcome follows its regeneration: failed or cancelled -> failed; else an
    approved image of it -> approved, a rejected one -> rejected, none decided yet -> queued."""
    return await conn.fetch(
        """UPDATE corrections c SET outcome = o.outcome FROM (
               SELECT x.id, CASE WHEN g.status IN ('failed', 'cancelled') THEN 'failed'
                                 WHEN bool_or(i.status = 'approved') THEN 'approved'
                                 WHEN bool_or(i.status = 'rejected') THEN 'rejected'
                                 ELSE 'queued' END AS outcome
               FROM corrections x JOIN generations g ON g.id = x.generation_id
               LEFT JOIN images i ON i.generation_id = g.id
               WHERE x.character_id = $1 GROUP BY x.id, g.status) o
           WHERE c.id = o.id AND c.outcome <> o.outcome RETURNING c.id, c.outcome""", character_id)


LIST_FILTER = "WHERE ($1::bigint IS NULL OR character_id = $1)"


async def list_corrections(conn, *, character_id: int | None, limit: int, offset: int):
    rows = await conn.fetch(f"SELECT * FROM corrections {LIST_FILTER} ORDER BY id DESC LIMIT $2 OFFSET $3",
                            character_id, limit, offset)
    total = await conn.fetchval(f"SELECT count(*) FROM corrections {LIST_FILTER}", character_id)
    return rows, total
