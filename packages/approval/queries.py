"""SQL of the approval domain. Functions take a connection; none commits (the service owns the
transaction)."""

from __future__ import annotations

import asyncpg

# An image with what its response needs: its character and project, and its latest review.
IMAGE_SELECT = """
SELECT i.id, i.character_id, c.name AS character_name, c.slug AS character_slug, c.project_id, i.source,
       i.status, i.width, i.height, i.caption, i.scores, i.model_verdict, i.reasons, i.generation_id,
       i.created_at, i.updated_at,
       lr.decision AS last_decision, lr.reviewer AS last_reviewer, lr.reason AS last_reason, lr.created_at AS last_at
FROM images i
JOIN characters c ON c.id = i.character_id
LEFT JOIN LATERAL (SELECT r.decision, r.reviewer, r.reason, r.created_at FROM reviews r
                   WHERE r.image_id = i.id ORDER BY r.id DESC LIMIT 1) lr ON true
"""

# A number for the image's quality score, or NULL when it has none (scores are written by reviewers).
SCORE = "CASE WHEN jsonb_typeof(i.scores -> 'quality') = 'number' THEN (i.scores ->> 'quality')::float8 END"

FILTER = f"""
WHERE ($1::bigint IS NULL OR c.project_id = $1) AND ($2::bigint IS NULL OR i.character_id = $2)
  AND ($3::text IS NULL OR i.status = $3) AND ($4::text IS NULL OR i.source = $4)
  AND ($5::float8 IS NULL OR {SCORE} >= $5) AND ($6::float8 IS NULL OR {SCORE} <= $6)
  AND ($7::text IS NULL OR ($7 = 'none' AND i.model_verdict IS NULL) OR i.model_verdict = $7)
"""

# Review order: the pending queue oldest first (work through it in arrival order); decided images newest first.
ORDERS = {"oldest": "ORDER BY i.id ASC", "newest": "ORDER BY i.id DESC"}


async def list_images(conn, *, project_id, character_id, status, source, min_score, max_score, verdict,
                      order: str, limit: int, offset: int):
    args = (project_id, character_id, status, source, min_score, max_score, verdict)
    page = (f"SELECT i.id FROM images i JOIN characters c ON c.id = i.character_id {FILTER} {ORDERS[order]} "
            "LIMIT $8 OFFSET $9")
    rows = await conn.fetch(f"WITH page AS ({page}) {IMAGE_SELECT} JOIN page ON page.id = i.id {ORDERS[order]}",
                            *args, limit, offset)
    total = await conn.fetchval(f"SELECT count(*) FROM images i JOIN characters c ON c.id = i.character_id {FILTER}",
                                *args)
    return rows, total


async def get_image(conn, image_id: int):
    return await conn.fetchrow(f"{IMAGE_SELECT} WHERE i.id = $1", image_id)


async def get_images(conn, image_ids: list[int]):
    return await conn.fetch(f"{IMAGE_SELECT} WHERE i.id = ANY($1::bigint[]) ORDER BY i.id", image_ids)


async def image_file(conn, image_id: int):
    return await conn.fetchrow("SELECT path, thumbnail FROM images WHERE id = $1", image_id)


async def lock_images(conn: asyncpg.Connection, image_ids: list[int]):
    """Locks the images (in id order, so two callers never wait on each other in a cycle) and
    returns them with what a decision needs: status, caption, path, and the character's folder."""
    return await conn.fetch(
        "SELECT i.id, i.character_id, i.status, i.caption, i.path, c.project_id, c.slug AS character_slug, "
        "p.slug AS project_slug, c.design_prompt "
        "FROM images i JOIN characters c ON c.id = i.character_id JOIN projects p ON p.id = c.project_id "
        "WHERE i.id = ANY($1::bigint[]) ORDER BY i.id FOR UPDATE OF i", image_ids)


async def lock_character_dataset(conn, character_id: int) -> None:
    """Serialises writers of one character's dataset files until the transaction ends, so the
    status file is always written from a view that includes every committed decision."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('approval.dataset'), $1::int)",
                       character_id % 2_147_483_647)


async def set_status(conn, image_id: int, status: str, caption: str | None = None) -> None:
    await conn.execute("UPDATE images SET status = $2, caption = coalesce($3, caption) WHERE id = $1",
                       image_id, status, caption)


async def insert_review(conn, *, image_id: int, reviewer: str, user_name: str | None, decision: str,
                        reason: str | None, note: str | None, scores: dict | None, previous_status: str,
                        undoes_id: int | None = None) -> int:
    return await conn.fetchval(
        "INSERT INTO reviews (image_id, reviewer, user_name, decision, reason, note, scores, previous_status, "
        "undoes_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        image_id, reviewer, user_name, decision, reason, note, scores, previous_status, undoes_id)


async def last_undoable_decision(conn, image_id: int):
    """The image's latest human approve/reject that no undo has reverted yet."""
    return await conn.fetchrow(
        "SELECT r.id, r.decision, r.previous_status FROM reviews r "
        "WHERE r.image_id = $1 AND r.reviewer = 'human' AND r.decision <> 'undone' "
        "AND NOT EXISTS (SELECT 1 FROM reviews u WHERE u.undoes_id = r.id) "
        "ORDER BY r.id DESC LIMIT 1", image_id)


async def dataset_status(conn, character_id: int, project_slug: str, character_slug: str, folder: str) -> str:
    """approval_status.json as PostgreSQL writes it: every image of the character with its latest
    decision, file names relative to the dataset folder (`folder`, relative to the home, with a
    trailing slash). One query and no per-row Python, so it stays cheap at 10k images."""
    return await conn.fetchval(
        """SELECT json_build_object(
               'project', $2::text, 'character', $3::text, 'character_id', $1::bigint, 'written_at', now(),
               'counts', json_build_object('pending', count(*) FILTER (WHERE s.status = 'pending'),
                                           'approved', count(*) FILTER (WHERE s.status = 'approved'),
                                           'rejected', count(*) FILTER (WHERE s.status = 'rejected')),
               'images', coalesce(json_agg(json_build_object(
                   'id', s.id, 'file', CASE WHEN starts_with(s.path, $4) THEN substr(s.path, length($4) + 1)
                                            ELSE s.path END,
                   'status', s.status, 'source', s.source, 'caption', s.caption, 'decision', s.decision,
                   'reviewer', s.reviewer, 'user', s.user_name, 'reason', s.reason, 'decided_at', s.decided_at)
                   ORDER BY s.id), '[]'))::text
           FROM (SELECT i.id, i.path, i.status, i.source, i.caption, lr.decision, lr.reviewer, lr.user_name,
                        lr.reason, lr.created_at AS decided_at
                 FROM images i
                 LEFT JOIN LATERAL (SELECT r.decision, r.reviewer, r.user_name, r.reason, r.created_at
                                    FROM reviews r WHERE r.image_id = i.id ORDER BY r.id DESC LIMIT 1) lr ON true
                 WHERE i.character_id = $1) s""",
        character_id, project_slug, character_slug, folder)


async def summary(conn, project_id: int):
    """Per character of the project (active ones, and archived ones that still have images)."""
    return await conn.fetch(
        "SELECT c.id AS character_id, c.name AS character_name, "
        "count(i.id) FILTER (WHERE i.status = 'pending') AS pending, "
        "count(i.id) FILTER (WHERE i.status = 'approved') AS approved, "
        "count(i.id) FILTER (WHERE i.status = 'rejected') AS rejected "
        "FROM characters c LEFT JOIN images i ON i.character_id = c.id WHERE c.project_id = $1 "
        "GROUP BY c.id HAVING NOT c.archived OR count(i.id) > 0 ORDER BY lower(c.name), c.id", project_id)


async def project_exists(conn, project_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", project_id)


# -- quality gates ----------------------------------------------------------------------------

async def list_gates(conn):
    return await conn.fetch("SELECT name, threshold, description FROM quality_gates ORDER BY name")


async def gate_names(conn) -> set[str]:
    return {r["name"] for r in await conn.fetch("SELECT name FROM quality_gates")}


async def set_gate(conn, name: str, threshold: float) -> None:
    await conn.execute("UPDATE quality_gates SET threshold = $2 WHERE name = $1", name, threshold)
