"""Durable jobs: one procrastinate app on the same PostgreSQL.

Each domain declares its tasks on a `procrastinate.Blueprint` in its `jobs.py`; `JOB_BLUEPRINTS`
lists them. A task takes ids, opens its own connection from `runtime.pool` and reloads state, so
it can run in the server's in-process worker or in `anime-studio worker` on another machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.job_context import AbortReason
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from packages.core.job_events import JobReport
from packages.core.settings import Settings

log = logging.getLogger(__name__)
core_jobs = procrastinate.Blueprint()


class JobRuntime:
    """What tasks need from the process that runs them; set by `serve` and `worker` at start."""

    pool: asyncpg.Pool | None = None
    settings: Settings | None = None
    hub = None  # the process's EventHub: wakes waiters when any event commits

    async def wait_for_change(self, types: frozenset[str], timeout: float) -> bool:
        """Waits in line for an event of one of `types` committed anywhere (a slot freed, a backend
        changed); True when woken by one, False after `timeout` seconds."""
        if self.hub is None:
            await asyncio.sleep(timeout)
            return False
        return await self.hub.wait(types, timeout)

    def pass_on(self, event_type: str) -> None:
        """A woken waiter that could not use what woke it hands the wake to the next in line."""
        if self.hub is not None:
            self.hub.pass_on(event_type)

    def acquire(self):
        if self.pool is None:
            raise RuntimeError("the job runtime has no database pool (worker not started)")
        return self.pool.acquire()


runtime = JobRuntime()


@core_jobs.periodic(cron="17 3 * * *")
@core_jobs.task(name="prune_events", queue="maintenance", queueing_lock="core:prune_events")
async def prune_events(timestamp: int) -> int:
    """Deletes stored events older than ANIME_STUDIO_EVENTS_RETENTION_DAYS (daily)."""
    days = runtime.settings.events_retention_days
    async with runtime.acquire() as conn:
        result = await conn.execute("DELETE FROM events WHERE at < now() - make_interval(days => $1)", days)
    return int(result.split()[-1])


def job_blueprints() -> dict[str, procrastinate.Blueprint]:
    """Every domain's blueprint, by namespace. Add a domain's jobs here."""
    from packages.approval.ingest_jobs import ingestion_jobs
    from packages.approval.learning_jobs import correction_jobs
    from packages.approval.metrics_review import review_jobs
    from packages.approval.replenish_jobs import replenish_jobs
    from packages.approval.vision_review import vision_jobs
    from packages.lora_training.jobs import training_jobs
    from packages.scene_generation.farm_jobs import farm_jobs
    from packages.scene_generation.jobs import scene_jobs
    from packages.episode_assembly.jobs import episode_jobs
    from packages.echo_integration.indexer import echo_jobs
    from packages.echo_integration.team_jobs import team_jobs
    from packages.visual_pipeline.jobs import generation_jobs
    from packages.production.jobs import production_jobs

    return {"core": core_jobs, "generation": generation_jobs, "ingestion": ingestion_jobs,
            "review": review_jobs, "correction": correction_jobs,
            "replenish": replenish_jobs, "vision": vision_jobs, "training": training_jobs,
            "scene": scene_jobs, "episode": episode_jobs, "farm": farm_jobs, "echo": echo_jobs,
            "team": team_jobs, "production": production_jobs}


@functools.cache
def job_app() -> procrastinate.App:
    """The process's one procrastinate app with every task (procrastinate namespaces blueprints in
    place and tasks point back at their app, so tasks are registered once, on one app)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    for namespace, blueprint in job_blueprints().items():
        app.add_tasks_from(blueprint, namespace=namespace)  # task names become "core:prune_events"
    for task in app.tasks.values():
        task.retry_strategy = ResumeAfterShutdown(task.retry_strategy)
    return app


SHUTDOWN_GRACE_S = 5.0  # a stopping worker waits this long for its jobs, then interrupts them
_interrupted: set[int] = set()  # ids of jobs a stopping worker of this process interrupted (a few, once)


class ResumeAfterShutdown(BaseRetryStrategy):
    """Every task's retry strategy: a job that a stopping worker interrupted (after
    SHUTDOWN_GRACE_S) goes back to the queue at once and runs again at the next start (tasks are
    idempotent: it finishes what the interrupted run started); any other error is left to the
    task's own strategy."""

    def __init__(self, own: BaseRetryStrategy | None):
        self.own = own

    def get_retry_decision(self, *, exception: BaseException, job) -> RetryDecision | None:
        if job.id in _interrupted:  # (asked again by the job's events: the same answer)
            return RetryDecision(retry_in={"seconds": 0})
        return self.own.get_retry_decision(exception=exception, job=job) if self.own else None


async def defer_once(task_name: str, key: str, *, delay_s: float | None = None, **args) -> None:
    """Defers the task unless one with this key is already waiting; `key` is also its lock, so
    jobs of one key run one at a time. `delay_s` schedules it that much later."""
    options = {"lock": key, "queueing_lock": key}
    if delay_s is not None:
        options["schedule_in"] = {"seconds": delay_s}
    try:
        await job_app().configure_task(task_name, **options).defer_async(**args)
    except AlreadyEnqueued:
        pass


@asynccontextmanager
async def open_job_app(database_url: str) -> AsyncIterator[procrastinate.App]:
    """The job app connected to `database_url` while the block runs (a server's or worker's life)."""
    with job_app().replace_connector(procrastinate.PsycopgConnector(conninfo=database_url)) as app:
        async with app.open_async():
            yield app


_running_here: set[int] = set()  # ids of the jobs this process's workers are running right now
DB_LOST = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError, ConnectionError,
           procrastinate.exceptions.ConnectorException)
JOB_DB_RERUNS = 10  # a job that lost the database this many times fails for good
WORKER_RESTART_S = 2.0


def lost_database(exc: BaseException | None) -> bool:
    """Whether the error, or one it came from, is the database going away (a restart, a failover)."""
    for _ in range(10):
        if exc is None:
            return False
        if isinstance(exc, DB_LOST) or (isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def database_up() -> bool:
    if runtime.pool is None:
        return False
    try:
        async with asyncio.timeout(5):
            async with runtime.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        return True
    except Exception:
        return False


async def _wait_for_database(limit_s: float = 300.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await database_up() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(1.0)


@functools.cache
def periodic_tasks() -> frozenset[str]:
    return frozenset(name for name, _ in job_app().periodic_registry.periodic_tasks)


async def _track_running(call_next, context, worker):
    """Worker middleware: tells the job's job.* events (job_events.py), remembers which jobs run in
    this process while they run, and runs a job that lost the database again once the database is
    back (tasks are idempotent), instead of leaving it failed by an operator's restart."""
    job_id = context.job.id
    _running_here.add(job_id)
    report = JobReport(runtime, context, periodic_tasks())
    report.start()
    outcome: BaseException | None = None
    try:
        for rerun in range(JOB_DB_RERUNS + 1):
            try:
                return await call_next()
            except Exception as exc:
                if rerun == JOB_DB_RERUNS or not (lost_database(exc) or not await database_up()):
                    raise
                log.warning("job %s (%s) lost the database (%s); it runs again once the database is back",
                            job_id, context.job.task_name, type(exc).__name__)
                await _wait_for_database()
    except BaseException as exc:
        outcome = exc
        if context.abort_reason() == AbortReason.SHUTDOWN:
            _interrupted.add(job_id)
        raise
    finally:
        _running_here.discard(job_id)
        await report.end(outcome)


async def _retry_stalled(app: procrastinate.App, stalled_after: float) -> None:
    """Jobs left in 'doing' by a worker that died (no heartbeat for `stalled_after` s) go back to
    the queue; tasks are idempotent, so a retried job finishes what the dead one started. A job
    still running in this very process is alive whatever its heartbeat says (a busy machine can
    delay heartbeats): retrying it would run it twice at once."""
    while True:
        try:
            for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
                if job.id in _running_here:
                    continue
                log.warning("retrying job %s (%s) left by a dead worker", job.id, job.task_name)
                try:
                    await app.job_manager.retry_job(job)
                except procrastinate.exceptions.ConnectorException as exc:  # it finished or moved meanwhile
                    log.warning("job %s was not retried: %s", job.id, str(exc.__cause__ or exc).splitlines()[0])
        except Exception:  # the database may be restarting: try again next round
            log.exception("stalled-job check failed")
        await asyncio.sleep(stalled_after / 2)


async def run_worker(app: procrastinate.App, *, concurrency: int, stalled_after: float = 30.0,
                     queues: list[str] | None = None, name: str = "worker") -> None:
    """The one way a process works jobs: the procrastinate worker plus the stalled-job recovery.
    Cancelled (the process stops), it waits SHUTDOWN_GRACE_S for running jobs, then interrupts
    them; they go back to the queue (ResumeAfterShutdown)."""
    recovery = asyncio.create_task(_retry_stalled(app, stalled_after))
    try:
        while True:  # procrastinate stops its worker when its listener or heartbeat loses the database
            try:
                await app.run_worker_async(queues=queues, concurrency=concurrency, name=name,
                                           install_signal_handlers=False, update_heartbeat_interval=stalled_after / 3,
                                           stalled_worker_timeout=stalled_after, worker_middleware=[_track_running],
                                           shutdown_graceful_timeout=SHUTDOWN_GRACE_S)
                log.warning("the job worker stopped; starting it again in %.0f s", WORKER_RESTART_S)
            except Exception:
                log.exception("the job worker failed; starting it again in %.0f s", WORKER_RESTART_S)
            await asyncio.sleep(WORKER_RESTART_S)
            await _wait_for_database()
    finally:
        recovery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recovery


async def queue_counts(conn: asyncpg.Connection) -> list[dict]:
    rows = await conn.fetch(
        "SELECT queue_name, status::text AS status, count(*) AS jobs FROM procrastinate_jobs "
        "WHERE status IN ('todo', 'doing') GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [dict(r) for r in rows]


async def live_workers(conn: asyncpg.Connection, stalled_after: float = 30.0) -> list[dict]:
    """Workers whose heartbeat is younger than `stalled_after` s (a dead one's lasts that long)."""
    rows = await conn.fetch(
        "SELECT id, last_heartbeat FROM procrastinate_workers "
        "WHERE last_heartbeat > now() - make_interval(secs => $1) ORDER BY id", stalled_after
    )
    return [dict(r) for r in rows]
