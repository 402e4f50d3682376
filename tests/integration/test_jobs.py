"""Durable jobs run by the server's in-process worker on the same PostgreSQL."""

import asyncio

import pytest

from tests.conftest import ADMIN_TOKEN


@pytest.fixture
def settings(home, database_url):
    from packages.core.settings import Settings

    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_EVENTS_RETENTION_DAYS=30, _env_file=None)


async def test_in_process_worker_runs_a_deferred_job(app, db):
    """A job deferred to the queue is taken by the server's own worker and its effect is committed:
    event pruning removes events older than the retention period and keeps recent ones."""
    await db.execute("INSERT INTO events (type, payload, at) VALUES ('old.thing', '{}', now() - interval '40 days'), "
                     "('new.thing', '{}', now())")
    job_id = await app.state.job_app.configure_task("core:prune_events").defer_async(timestamp=0)
    for _ in range(100):
        status = await db.fetchval("SELECT status::text FROM procrastinate_jobs WHERE id = $1", job_id)
        if status in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.05)
    assert status == "succeeded"
    assert await db.fetchval("SELECT array_agg(type ORDER BY id) FROM events") == ["new.thing"]
