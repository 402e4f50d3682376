"""Background work of the creative team: one durable job per session runs its turns. The lock keeps
one job per session at a time; each turn reloads the session from the database, so a job retried
after a crash (the worker's stalled-job recovery) resumes where the dead one stopped."""

from __future__ import annotations

import procrastinate

from packages.core.jobs import defer_once, runtime

team_jobs = procrastinate.Blueprint()
RUN_TASK = "team:run"


@team_jobs.task(name="run", queue="team")
async def run_session(session_id: int) -> None:
    from packages.echo_integration.team import run

    await run(runtime.pool, runtime.settings, session_id)


async def enqueue_session(session_id: int) -> None:
    await defer_once(RUN_TASK, f"team-{session_id}", session_id=session_id)
