"""The vision review: a character's pending images reviewed by a vision model through Ollama
(packages/approval/vision.py asks and scores), and the decisions applied.

Rules:
- It reviews the character's pending images that have no vision score yet (none, metrics-only
  scores, or a recorded `vision_error`), oldest first, each once: a second run skips scored ones.
- Each image's result is applied in its own short transaction with the row locked: the scores
  (`{"reviewer": "vision", "model", "quality", ...}`) always; then, if the image is still pending,
  the decision with the gates of `quality_gates`: rejected (model_verdict 'reject', reason
  "vision: ...", one reviews row by 'model', `image.rejected`), approved (model_verdict 'approve',
  the model's caption as the image caption and its kohya .txt, one reviews row by 'model',
  `image.approved`), or none (stays pending with its scores). approval_status.json follows each
  decision (service.sync_dataset). An image a person decided meanwhile keeps that decision.
- An unusable answer is a failed review: the job (`vision:review`) is retried with backoff
  (2^attempt x ANIME_STUDIO_RETRY_BACKOFF_S, ATTEMPTS runs in all) and the retry reviews only what
  is still unscored; after the last attempt the image gets `{"vision_error": "..."}` and no quality
  (a later run tries it again). The run-now route records errors at once (one attempt).
- Without OLLAMA_HOST, or when Ollama has no such model (or stays unreachable until the last
  attempt), the job runs the metrics review instead, so every image still gets what can be scored,
  and logs why.
- After `generation.completed` and `ingestion.completed` the job is deferred for the character
  (packages/approval/reactions.py chooses it over the metrics review when OLLAMA_HOST is set),
  REVIEW_DELAY_S later and at most one waiting per character.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg
import procrastinate
from procrastinate import JobContext
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from packages.approval import events, metrics_review, queries, service, vision
from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.jobs import defer_once, runtime
from packages.core.paths import inside_home
from packages.core.settings import Settings

log = logging.getLogger(__name__)
vision_jobs = procrastinate.Blueprint()
VISION_TASK = "vision:review"  # the blueprint's namespace "vision" (packages/core/jobs.py) + "review"
MODEL = "model"  # reviews.reviewer
ATTEMPTS = 3
BATCH = 25  # rows per query
REVIEW_DELAY_S = metrics_review.REVIEW_DELAY_S

# SQL of this review (kept beside it: it is the only user).
UNREVIEWED = """
SELECT i.id, i.path FROM images i
WHERE i.character_id = $1 AND i.status = 'pending' AND i.id > $2
  AND coalesce(i.scores ->> 'reviewer', '') <> 'vision'
ORDER BY i.id LIMIT $3
"""
GATES = "SELECT name, threshold FROM quality_gates WHERE name IN ('auto_approve', 'auto_reject')"
SET_SCORES = "UPDATE images SET scores = $2 WHERE id = $1"
SET_ERROR = ("UPDATE images SET scores = $2 WHERE id = $1 AND status = 'pending' "
             "AND coalesce(scores ->> 'reviewer', '') <> 'vision'")
SET_REJECTED = "UPDATE images SET status = 'rejected', model_verdict = 'reject', reasons = $2 WHERE id = $1"
SET_APPROVED = "UPDATE images SET status = 'approved', model_verdict = 'approve', caption = $2 WHERE id = $1"


@dataclass
class VisionResult:
    reviewed: int = 0  # scored by the model
    approved: int = 0
    rejected: int = 0
    failed: int = 0  # no usable answer from the model
    unreadable: int = 0  # the file could not be read (recorded at once: a retry would not help)
    errors: list[str] = field(default_factory=list)  # the first few failures, "image <id>: <why>"

    def fail(self, image_id: int, why: str, *, unreadable: bool = False) -> None:
        if unreadable:
            self.unreadable += 1
        else:
            self.failed += 1
        if len(self.errors) < 5:
            self.errors.append(f"image {image_id}: {why}")


class ReviewIncomplete(Exception):
    """Some images got no usable answer on this attempt (the job is retried for them)."""


async def _gates(conn) -> dict[str, float]:
    return {r["name"]: r["threshold"] for r in await conn.fetch(GATES)}


def _read(settings: Settings, relative: str) -> bytes:
    return vision.encode_image(inside_home(settings, settings.home / relative))


async def review_pending_vision(conn: asyncpg.Connection, settings: Settings, character_id: int,
                                limit: int | None = None, *, record_failures: bool = True) -> VisionResult:
    """Reviews up to `limit` (None: all) of the character's pending images without a vision score
    and applies the decisions. A failed answer is recorded as `vision_error` when `record_failures`
    (else left unscored for a retry). Raises VisionUnavailable / VisionModelMissing when nothing
    can be reviewed now (what was applied before stays)."""
    result = VisionResult()
    character = await character_queries.get_character(conn, character_id)
    if character is None:
        return result
    check = vision.checklist(character["name"], character["appearance_data"])
    gates = await _gates(conn)
    after, seen, probed = 0, 0, False
    async with vision.client(settings) as ollama_client:
        while limit is None or seen < limit:
            size = BATCH if limit is None else min(BATCH, limit - seen)
            rows = await conn.fetch(UNREVIEWED, character_id, after, size)
            if not rows:
                break
            if not probed:
                await vision.probe(ollama_client, settings)
                probed = True
            for row in rows:
                after, seen = row["id"], seen + 1
                try:
                    image = await asyncio.to_thread(_read, settings, row["path"])
                except Exception as exc:  # a missing or unreadable file: recorded, a retry would not help
                    log.warning("vision review: image %s unreadable: %s", row["id"], exc)
                    result.fail(row["id"], "unreadable image file", unreadable=True)
                    await conn.execute(SET_ERROR, row["id"], {"vision_error": "unreadable image file"})
                    continue
                try:
                    review = await vision.ask(ollama_client, settings, check, image)
                except vision.VisionFailed as exc:
                    log.warning("vision review: image %s: %s", row["id"], exc)
                    result.fail(row["id"], str(exc))
                    if record_failures:
                        await conn.execute(SET_ERROR, row["id"], {"vision_error": str(exc)})
                    continue
                decision = await _apply(conn, settings, row["id"], review, check, gates)
                result.reviewed += 1
                result.approved += decision == "approved"
                result.rejected += decision == "rejected"
    return result


async def _apply(conn, settings: Settings, image_id: int, review: vision.VisionReview, check: vision.Checklist,
                 gates: dict[str, float]) -> str | None:
    async with transaction(conn) as tx:
        rows = await queries.lock_images(conn, [image_id])
        if not rows:
            return None  # deleted meanwhile
        row = rows[0]
        await conn.execute(SET_SCORES, image_id, review.scores)
        if row["status"] != "pending":
            return None  # a person decided meanwhile: that decision stands
        decision = vision.decide(review.quality, solo=review.solo, human=check.human,
                                 auto_approve=gates.get("auto_approve"), auto_reject=gates.get("auto_reject"))
        ids = {"project_id": row["project_id"], "image_id": image_id, "character_id": row["character_id"]}
        if decision == "rejected":
            reason = review.reason
            await conn.execute(SET_REJECTED, image_id, [reason])
            await tx.emit(events.ImageRejected(**ids, reason=reason))
        elif decision == "approved":
            reason = f"vision: quality {review.quality:.2f}"
            await conn.execute(SET_APPROVED, image_id, review.caption)
            await tx.emit(events.ImageApproved(**ids, reason=reason))
        else:
            await tx.emit(events.ImageScored(project_id=row["project_id"], character_id=row["character_id"],
                                             image_ids=[image_id]))
            return None
        await queries.insert_review(conn, image_id=image_id, reviewer=MODEL, user_name=None, decision=decision,
                                    reason=reason, note=None, scores=review.scores, previous_status=row["status"])
        given = review.caption if decision == "approved" else None
        await service.sync_dataset(conn, settings, [(row, decision, given)])  # caption file, approval_status.json
    return decision


async def _metrics_instead(conn, settings: Settings, character_id: int, why: str) -> None:
    log.warning("vision review of character %s not possible (%s): running the metrics review instead",
                character_id, why)
    while (await metrics_review.review_pending(conn, settings, character_id,
                                               limit=metrics_review.PASS)).seen == metrics_review.PASS:
        pass


class VisionRetry(BaseRetryStrategy):
    """Retries a run that left images without a usable answer, or found Ollama unreachable:
    attempt n+1 waits 2^n x ANIME_STUDIO_RETRY_BACKOFF_S; ATTEMPTS runs in all."""

    def get_retry_decision(self, *, exception: BaseException, job) -> RetryDecision | None:
        if not isinstance(exception, (ReviewIncomplete, vision.VisionUnavailable)) or job.attempts + 1 >= ATTEMPTS:
            return None
        backoff = runtime.settings.retry_backoff_s if runtime.settings is not None else 1.0
        return RetryDecision(retry_in={"seconds": 2 ** (job.attempts + 1) * backoff})


@vision_jobs.task(name="review", queue="review", pass_context=True, retry=VisionRetry())
async def review_vision(context: JobContext, character_id: int) -> None:
    """Reviews everything pending of the character without a vision score (idempotent: scored
    images are skipped, so a retry continues with what failed)."""
    settings = runtime.settings
    last = context.job.attempts + 1 >= ATTEMPTS
    async with runtime.acquire() as conn:
        if not settings.ollama_host:
            return await _metrics_instead(conn, settings, character_id, "OLLAMA_HOST is not set")
        try:
            result = await review_pending_vision(conn, settings, character_id, record_failures=last)
        except vision.VisionModelMissing as exc:
            return await _metrics_instead(conn, settings, character_id, exc.detail)
        except vision.VisionUnavailable as exc:
            if not last:
                raise
            return await _metrics_instead(conn, settings, character_id, exc.detail)
    if result.failed and not last:
        raise ReviewIncomplete(f"{result.failed} image(s) got no usable answer: {'; '.join(result.errors)}")


async def enqueue_review(character_id: int) -> None:
    """Defers the character's vision review unless one is already waiting."""
    await defer_once(VISION_TASK, f"review-vision-{character_id}", delay_s=REVIEW_DELAY_S, character_id=character_id)
