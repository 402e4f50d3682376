"""Replenishment's jobs: the check of one character (queue "replenish") and a periodic sweep.

- `replenish:check` runs `replenish.check` for a character. At most one waits per character
  (queueing lock) and one runs at a time (lock), so a storm of approvals becomes one waiting
  check; it is deferred CHECK_DELAY_S later so a burst shares it. A check blocked by the cooldown
  defers the next one for when the cooldown ends; one blocked by the studio-wide concurrency
  tries again BUSY_RETRY_S later.
- `replenish:sweep` (every minute, while enabled) defers a check for every character under its
  target, so a lost job, a new day or a freed batch slot never leaves the loop asleep.
- Reactions (reactions.py) only defer checks: after `image.approved` and `image.rejected` of a
  character's image, and after its generation failed or was cancelled (the pending buffer freed).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import procrastinate

from packages.approval import replenish
from packages.approval import replenish_queries as queries
from packages.core.errors import DomainError
from packages.core.events import StoredEvent
from packages.core.jobs import defer_once, runtime

log = logging.getLogger(__name__)
replenish_jobs = procrastinate.Blueprint()
CHECK_TASK = "replenish:check"
CHECK_DELAY_S = 1
BUSY_RETRY_S = 5
TRIGGERS = ("image.approved", "image.rejected", "generation.failed", "generation.cancelled")


@replenish_jobs.task(name="check", queue="replenish")
async def check_character(character_id: int, trigger: str = "check") -> None:
    """Checks the character's deficit and queues a batch when the guards allow (idempotent)."""
    async with runtime.acquire() as conn:
        try:
            result = await replenish.check(conn, runtime.settings, character_id, trigger=trigger)
        except DomainError as exc:  # e.g. the project has no style: nothing was written
            log.warning("replenishment check of character %s: %s", character_id, exc.detail)
            return
    if result.plan.blocked == "cooldown" and result.retry_at is not None:
        wait = (result.retry_at - datetime.now(UTC)).total_seconds()
        await enqueue_check(character_id, "cooldown over", delay=max(1, int(wait) + 1))
    elif result.plan.blocked == "concurrency":
        await enqueue_check(character_id, "batch slot", delay=BUSY_RETRY_S)


@replenish_jobs.periodic(cron="* * * * *")
@replenish_jobs.task(name="sweep", queue="replenish", queueing_lock="replenish:sweep")
async def sweep(timestamp: int) -> None:
    async with runtime.acquire() as conn:
        studio = await queries.get_settings(conn)
        characters = await queries.characters_with_deficit(conn) if studio["enabled"] else []
    for character_id in characters:
        await enqueue_check(character_id, "sweep")


async def enqueue_check(character_id: int, trigger: str, *, delay: int = CHECK_DELAY_S) -> None:
    """Defers the character's check unless one is already waiting."""
    await defer_once(CHECK_TASK, f"replenish-{character_id}", delay_s=delay, character_id=character_id,
                     trigger=trigger)


async def on_event(event: StoredEvent) -> None:
    """Reacts to a decision on a character's image or a generation that ended without images:
    only defers the check (the decision itself is made by the job, from the database)."""
    character_id = event.payload.get("character_id")
    if character_id:
        await enqueue_check(int(character_id), event.type)
