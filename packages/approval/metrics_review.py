"""The metrics-only review: what scores images when no vision model is available.

Rules:
- It scores a character's pending images that have no scores yet (`images.scores` without
  `quality`, and not already metrics-reviewed), oldest first, with the CPU metrics of
  packages/approval/metrics.py, and stores them with `"metrics_only": true`.
- It may auto-reject, never auto-approve: an image whose quality is below the `auto_reject` gate
  becomes rejected (model_verdict 'reject', reason "metrics: <issues>"), with one `reviews` row
  (reviewer 'metrics') and an `image.rejected` event. Any other image keeps its status and gets
  only its scores: the reviews table allows only approved|rejected|undone, so a metrics pass with
  no decision is not a review row.
- An image a person decided while it was being measured keeps that decision (scores only).
- Pixels are measured in a thread; each batch is written in one short transaction.
- After `generation.completed` and `ingestion.completed` the job `review:metrics` is deferred for
  the character, REVIEW_DELAY_S later and at most one waiting per character (queueing lock), so a
  storm of completions becomes one pass over everything pending by then.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
import procrastinate

from packages.approval import events, queries, service
from packages.approval.metrics import Metrics, measure
from packages.core.db import transaction
from packages.core.events import StoredEvent
from packages.core.jobs import defer_once, runtime
from packages.core.paths import inside_home
from packages.core.settings import Settings

log = logging.getLogger(__name__)
review_jobs = procrastinate.Blueprint()
METRICS_TASK = "review:metrics"
METRICS = "metrics"
BATCH = 25
PASS = 200  # images per query of the job
REVIEW_DELAY_S = 10  # completions within this window share one pass
TRIGGERS = ("generation.completed", "ingestion.completed")

# SQL of this review (kept beside it: it is the only user).
UNSCORED = """
SELECT i.id, i.path FROM images i
WHERE i.character_id = $1 AND i.status = 'pending'
  AND NOT (coalesce(i.scores, '{}'::jsonb) ? 'quality') AND NOT (coalesce(i.scores, '{}'::jsonb) ? 'metrics_only')
ORDER BY i.id LIMIT $2
"""
GATE = "SELECT threshold FROM quality_gates WHERE name = 'auto_reject'"
SET_SCORES = "UPDATE images SET scores = $2 WHERE id = $1"
SET_REJECTED = "UPDATE images SET status = 'rejected', model_verdict = 'reject', reasons = $2 WHERE id = $1"


@dataclass
class ReviewResult:
    scored: int = 0
    rejected: int = 0
    seen: int = 0  # scored, plus unreadable files marked so they are not picked again


def _measure_all(settings: Settings, items: list[tuple[int, str]]) -> list[tuple[int, Metrics | None]]:
    out = []
    for image_id, relative in items:
        try:
            out.append((image_id, measure(inside_home(settings, settings.home / relative))))
        except Exception as exc:  # a missing or unreadable file: marked, never retried forever
            log.warning("metrics review: image %s unreadable: %s", image_id, exc)
            out.append((image_id, None))
    return out


async def review_pending(conn: asyncpg.Connection, settings: Settings, character_id: int, *,
                         limit: int = 200) -> ReviewResult:
    """Scores up to `limit` of the character's unscored pending images; rejects those under the
    auto_reject gate; never approves. Returns how many were scored and rejected."""
    result = ReviewResult()
    rows = await conn.fetch(UNSCORED, character_id, limit)
    result.seen = len(rows)
    for start in range(0, len(rows), BATCH):
        batch = [(r["id"], r["path"]) for r in rows[start:start + BATCH]]
        measured = await asyncio.to_thread(_measure_all, settings, batch)
        scored, rejected = await _write(conn, settings, measured)
        result.scored += scored
        result.rejected += rejected
    return result


async def _write(conn, settings: Settings, measured: list[tuple[int, Metrics | None]]) -> tuple[int, int]:
    by_id = dict(measured)
    scored = 0
    async with transaction(conn) as tx:
        gate = await conn.fetchval(GATE)
        changed, kept = [], []
        for row in await queries.lock_images(conn, sorted(by_id)):
            metrics = by_id[row["id"]]
            if metrics is None:
                await conn.execute(SET_SCORES, row["id"], {"metrics_only": True, "error": "unreadable"})
                continue
            scores = metrics.scores()
            await conn.execute(SET_SCORES, row["id"], scores)
            scored += 1
            if row["status"] != "pending" or gate is None or metrics.quality >= gate:
                if row["status"] == "pending":
                    kept.append(row)
                continue
            reason = f"metrics: {', '.join(metrics.issues) or 'low quality'}"
            await conn.execute(SET_REJECTED, row["id"], [reason])
            await queries.insert_review(conn, image_id=row["id"], reviewer=METRICS, user_name=None,
                                        decision="rejected", reason=reason, note=None, scores=scores,
                                        previous_status=row["status"])
            await tx.emit(events.ImageRejected(project_id=row["project_id"], image_id=row["id"],
                                               character_id=row["character_id"], reason=reason))
            changed.append((row, "rejected", None))
        if changed:
            await service.sync_dataset(conn, settings, changed)  # approval_status.json in step
        if kept:  # scored and still pending: one event for the batch, so open review queues show the scores
            await tx.emit(events.ImageScored(project_id=kept[0]["project_id"], character_id=kept[0]["character_id"],
                                             image_ids=[r["id"] for r in kept]))
    return scored, len(changed)


@review_jobs.task(name="metrics", queue="review")
async def review_metrics(character_id: int) -> None:
    """Reviews everything pending and unscored of the character (idempotent: scored images are skipped)."""
    async with runtime.acquire() as conn:
        while (await review_pending(conn, runtime.settings, character_id, limit=PASS)).seen == PASS:
            pass  # more were waiting than one pass takes


async def enqueue_review(character_id: int) -> None:
    """Defers the character's metrics review unless one is already waiting."""
    await defer_once(METRICS_TASK, f"review-metrics-{character_id}", delay_s=REVIEW_DELAY_S,
                     character_id=character_id)


async def on_completed(event: StoredEvent) -> None:
    """Reacts to a finished generation or ingestion: only defers the review job."""
    character_id = event.payload.get("character_id")
    if character_id:
        await enqueue_review(int(character_id))

