"""Background work of learning and auto-correction (Blueprint `correction_jobs`, queue
"correction") and the reaction that defers it.

A reaction runs while the request that emitted the event still holds its pool connection, so it
must not take another one (under load every connection would wait for one more): it only defers
a job, through the job queue's own connection, like the other reactions of the domain.

- `image.approved`, `image.rejected`, `feedback.recorded` (human decisions and undos),
  `generation.failed` and `generation.cancelled` defer `correction:refresh` for the character,
  at most one waiting per character (queueing lock), so a bulk decision becomes one run.
- `correction:refresh` (idempotent, from the database alone): settles the outcomes of the
  character's corrections, corrects its rejected generated images when the switch is on (those
  rejected since it was switched on, see learning_queries.images_to_correct), and re-checks the
  drift alert. A run lost to a crash is made up by the next event of the character.
"""

from __future__ import annotations

import asyncpg
import procrastinate

from packages.approval import corrections, learning
from packages.approval import learning_queries as queries
from packages.core.events import StoredEvent
from packages.core.jobs import defer_once, runtime
from packages.core.settings import Settings

correction_jobs = procrastinate.Blueprint()
REFRESH_TASK = "correction:refresh"
TRIGGERS = ("image.approved", "image.rejected", "feedback.recorded", "generation.failed", "generation.cancelled")
CORRECT_BATCH = 50  # corrections one run queues; the next event of the character takes the rest


async def refresh(conn: asyncpg.Connection, settings: Settings, project_id: int, character_id: int) -> None:
    """Outcomes, then corrections, then drift, for one character."""
    await corrections.record_outcomes(conn, character_id)
    for image_id in await queries.images_to_correct(conn, character_id, CORRECT_BATCH):
        await corrections.correct(conn, settings, image_id)
    await learning.check_drift(conn, project_id, character_id)


@correction_jobs.task(name="refresh", queue="correction")
async def refresh_character(project_id: int, character_id: int) -> None:
    async with runtime.acquire() as conn:
        await refresh(conn, runtime.settings, project_id, character_id)


async def enqueue_refresh(project_id: int, character_id: int) -> None:
    """Defers the character's refresh unless one is already waiting."""
    await defer_once(REFRESH_TASK, f"correction-refresh-{character_id}", project_id=project_id,
                     character_id=character_id)


async def on_event(event: StoredEvent) -> None:
    project_id, character_id = event.payload.get("project_id"), event.payload.get("character_id")
    if project_id and character_id:
        await enqueue_refresh(int(project_id), int(character_id))
