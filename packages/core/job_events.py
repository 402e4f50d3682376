"""job.* events: the worker tells the event stream about every job it runs, whatever its kind.

`job.started` when a worker takes a job, then `job.succeeded` or `job.failed` (with the error and
whether procrastinate retries it). Domain events say what a job did (generation.completed,
image.approved); these say that it ran, so a producer's stream and webhooks see every job kind,
including those without a lifecycle of their own (vision and metrics reviews, replenishment checks,
memory syncs). Periodic housekeeping tells only its failures; webhook deliveries and generations
tell nothing here (SILENT_TASKS). The events belong to the project the
job's arguments name (PROJECT_OF), so they reach that project's webhooks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar

from pydantic import BaseModel

from packages.core.db import transaction
from packages.core.events import Event

log = logging.getLogger(__name__)

# How a job's argument names its project: the SQL takes the argument as $1. Add a new id here when a
# task takes one (the first argument found in this order decides).
PROJECT_OF: dict[str, str] = {
    "project_id": "SELECT id FROM projects WHERE id = $1",
    "generation_id": "SELECT project_id FROM generations WHERE id = $1",
    "scene_id": "SELECT project_id FROM scenes WHERE id = $1",
    "pilot_id": "SELECT s.project_id FROM pilots p JOIN scenes s ON s.id = p.scene_id WHERE p.id = $1",
    "episode_id": "SELECT project_id FROM episodes WHERE id = $1",
    "session_id": "SELECT project_id FROM team_sessions WHERE id = $1",
    "run_id": "SELECT c.project_id FROM training_runs r JOIN characters c ON c.id = r.character_id WHERE r.id = $1",
    "ingestion_id": "SELECT c.project_id FROM ingestions i JOIN characters c ON c.id = i.character_id "
                    "WHERE i.id = $1",
    "character_id": "SELECT project_id FROM characters WHERE id = $1",
}
# Tasks that tell nothing here: a webhook delivery (a delivery of its own job.* event would announce
# itself for ever), and a generation, whose generation.* events already tell every step of the
# hottest job of all (one per image; job.* would double its events).
SILENT_TASKS = frozenset({"production:deliver", "generation:run"})
ERROR_CHARS = 1000


class JobEvent(Event):
    job_id: int
    task: str  # "namespace:name", e.g. "review:review"
    queue: str
    attempt: int  # 1 for the first run, 2 for the first retry...
    args: dict  # the job's arguments: the ids it works on


class JobStarted(JobEvent):
    type: ClassVar[str] = "job.started"


class JobSucceeded(JobEvent):
    type: ClassVar[str] = "job.succeeded"
    duration_s: float


class JobFailed(JobEvent):
    """The job raised; `will_retry` says whether procrastinate runs it again (a later job.started)."""

    type: ClassVar[str] = "job.failed"
    duration_s: float
    error: str
    will_retry: bool


async def _project(conn, args: dict) -> int | None:
    for arg, sql in PROJECT_OF.items():
        value = args.get(arg)
        if isinstance(value, int):
            return await conn.fetchval(sql, value)
    return None


class JobReport:
    """The events of one run of one job: `start()` when it begins, `end()` once it returned or
    raised. Emitting never fails the job (a database outage only loses the report, logged)."""

    def __init__(self, runtime, context, periodic: frozenset[str]):
        job = context.job
        self.runtime, self.context = runtime, context
        self.silent = job.task_name in SILENT_TASKS
        self.quiet = job.task_name in periodic  # housekeeping: only failures are told
        self.fields = {"job_id": job.id, "task": job.task_name, "queue": job.queue, "attempt": job.attempts + 1,
                       "args": dict(job.task_kwargs)}
        self.project_id: int | None = None
        self._project_read = False
        self.began = time.monotonic()
        self._started: asyncio.Task | None = None

    def start(self) -> None:
        """Stored beside the job's own first statements, not before them."""
        if not self.silent and not self.quiet:
            self._started = asyncio.create_task(self._emit_started())

    async def _emit_started(self) -> None:
        await self._emit(lambda: JobStarted(project_id=self.project_id, **self.fields))

    async def end(self, exc: BaseException | None) -> None:
        if self._started is not None:
            await asyncio.gather(self._started, return_exceptions=True)
        if self.silent or isinstance(exc, asyncio.CancelledError) or (exc is None and self.quiet):
            return  # a cancelled job (a shutdown) is run again and tells then
        duration = round(time.monotonic() - self.began, 3)
        if exc is None:
            await self._emit(lambda: JobSucceeded(project_id=self.project_id, duration_s=duration, **self.fields))
            return
        task = self.context.task
        will_retry = task is not None and task.get_retry_exception(exception=exc, job=self.context.job) is not None
        error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        await self._emit(lambda: JobFailed(project_id=self.project_id, duration_s=duration, error=error,
                                           will_retry=will_retry, **self.fields))

    async def _emit(self, make) -> None:
        try:
            async with self.runtime.acquire() as conn:
                if not self._project_read:
                    self.project_id = await _project(conn, self.fields["args"])
                    self._project_read = True
                async with transaction(conn) as tx:
                    await tx.emit(make())
        except Exception as exc:  # the database is away: the job's own outcome still counts
            log.warning("job %s (%s): an event of it was not stored (%s)", self.fields["job_id"], self.fields["task"],
                        exc)


class RunningJob(BaseModel):
    """A job a worker runs now, as its job.started event told it (for a page opened later)."""
    job_id: int
    task: str
    queue: str
    attempt: int
    args: dict


async def running_jobs(conn, project_id: int, periodic: frozenset[str]) -> list[RunningJob]:
    """The project's running jobs that tell job.* events (not SILENT_TASKS, not housekeeping)."""
    rows = await conn.fetch("SELECT id, task_name, queue_name, attempts, args FROM procrastinate_jobs "
                            "WHERE status = 'doing' AND NOT task_name = ANY($1::text[]) ORDER BY id",
                            sorted(SILENT_TASKS | periodic))
    found = []
    for row in rows:
        args = row["args"]  # jsonb arrives decoded (the pool's codec)
        if await _project(conn, args) == project_id:
            found.append(RunningJob(job_id=row["id"], task=row["task_name"], queue=row["queue_name"],
                                    attempt=row["attempts"] + 1, args=args))
    return found
