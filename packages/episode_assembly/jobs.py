"""Background work of episodes: one durable job per command (assemble, publish), locked per
episode so an episode's jobs run one at a time. The state is on the row (status assembling or
publishing; only one command at a time, so the two never overlap); a job left by a dead worker is retried by the worker's recovery and simply does the
step again (both are idempotent: the output is written atomically, publishing replaces its files)."""

from __future__ import annotations

import procrastinate

from packages.core.jobs import defer_once

episode_jobs = procrastinate.Blueprint()
ASSEMBLE_TASK = "episode:assemble"
PUBLISH_TASK = "episode:publish"


@episode_jobs.task(name="assemble", queue="episode")
async def assemble_episode(episode_id: int) -> None:
    from packages.episode_assembly import work

    await work.assemble(episode_id)


@episode_jobs.task(name="publish", queue="episode")
async def publish_episode(episode_id: int) -> None:
    from packages.episode_assembly import work

    await work.publish(episode_id)


async def enqueue_assembly(episode_id: int) -> None:
    await defer_once(ASSEMBLE_TASK, f"episode-{episode_id}-assemble", episode_id=episode_id)


async def enqueue_publish(episode_id: int) -> None:
    await defer_once(PUBLISH_TASK, f"episode-{episode_id}-publish", episode_id=episode_id)
