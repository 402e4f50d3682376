"""job.* events: every job kind the worker runs shows in the event stream, in its project."""

from __future__ import annotations

import asyncio

import pytest

from packages.core.jobs import job_app
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_character, make_project


@pytest.fixture
def settings(home, database_url):
    from packages.core.settings import Settings

    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    _env_file=None)  # with the in-process worker


class Boom(RuntimeError):
    pass


@pytest.fixture(scope="module", autouse=True)
def failing_task():
    """A task that raises, added to the one job app for this module's tests (real tasks fail only
    through their dependencies)."""
    app = job_app()
    if "test:boom" not in app.tasks:
        @app.task(name="test:boom", queue="test")
        async def boom(character_id: int) -> None:
            raise Boom(f"character {character_id} exploded")
    yield


async def _finished(db, job_id: int) -> str:
    for _ in range(200):
        status = await db.fetchval("SELECT status::text FROM procrastinate_jobs WHERE id = $1", job_id)
        if status in ("succeeded", "failed"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def _job_events(db, job_id: int, expected: int) -> list[dict]:
    for _ in range(100):  # the end event is stored right after the job's status
        rows = await db.fetch("SELECT id, type, project_id, payload FROM events WHERE type LIKE 'job.%' "
                              "AND (payload->>'job_id')::bigint = $1 ORDER BY id", job_id)
        if len(rows) >= expected:
            return [dict(r) for r in rows]
        await asyncio.sleep(0.05)
    return [dict(r) for r in rows]


async def test_a_review_job_tells_started_and_succeeded_in_its_project(app, client, db):
    """A metrics review (a job kind with no lifecycle events of its own) stores job.started then
    job.succeeded, both in the project of the character it reviews, naming the task, its queue,
    the attempt and its arguments."""
    project = await make_project(client)
    character = await make_character(client, project)
    job_id = await app.state.job_app.configure_task("review:metrics").defer_async(character_id=character["id"])
    assert await _finished(db, job_id) == "succeeded"
    events = await _job_events(db, job_id, 2)
    assert [e["type"] for e in events] == ["job.started", "job.succeeded"]
    assert {e["project_id"] for e in events} == {project["id"]}
    started, succeeded = (e["payload"] for e in events)
    assert started["task"] == "review:metrics" and started["queue"] == "review" and started["attempt"] == 1
    assert started["args"] == {"character_id": character["id"]}
    assert succeeded["duration_s"] >= 0


async def test_a_failing_job_tells_its_error_and_that_it_is_not_retried(app, client, db):
    """A job that raises stores job.failed with the exception's text and will_retry false (the
    task has no retry strategy), and nothing after it."""
    project = await make_project(client)
    character = await make_character(client, project)
    job_id = await app.state.job_app.configure_task("test:boom").defer_async(character_id=character["id"])
    assert await _finished(db, job_id) == "failed"
    events = await _job_events(db, job_id, 2)
    assert [e["type"] for e in events] == ["job.started", "job.failed"]
    failed = events[1]
    assert failed["project_id"] == project["id"]
    assert failed["payload"]["error"] == f"Boom: character {character['id']} exploded"
    assert failed["payload"]["will_retry"] is False


async def test_a_job_of_a_missing_subject_still_tells_without_a_project(app, db):
    """A job whose id names nothing (deleted meanwhile) still tells its events, with no project."""
    job_id = await app.state.job_app.configure_task("test:boom").defer_async(character_id=987654)
    assert await _finished(db, job_id) == "failed"
    events = await _job_events(db, job_id, 2)
    assert [(e["type"], e["project_id"]) for e in events] == [("job.started", None), ("job.failed", None)]


async def test_housekeeping_tells_nothing_when_it_succeeds(app, db):
    """A periodic housekeeping job that succeeds adds no job.* events (it runs every minute); the
    review job deferred after it does, so the worker had the time to tell."""
    sweep = await app.state.job_app.configure_task("core:prune_events").defer_async(timestamp=0)
    assert await _finished(db, sweep) == "succeeded"
    review = await app.state.job_app.configure_task("review:metrics").defer_async(character_id=987654)
    assert await _finished(db, review) == "succeeded"
    assert len(await _job_events(db, review, 2)) == 2
    assert await _job_events(db, sweep, 0) == []


async def test_a_webhook_on_job_failed_hears_of_a_failing_job(app, client, db):
    """A project's webhook for job.failed receives the failing job's event, signed, and none of its
    job.started (the event types filter), delivered by the worker's own delivery job."""
    from tests.doubles.webhook_receiver import WebhookReceiver

    project = await make_project(client)
    character = await make_character(client, project)
    with WebhookReceiver() as receiver:
        r = await client.post(f"/projects/{project['id']}/webhooks",
                              json={"url": receiver.url, "event_types": ["job.failed"]})
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        job_id = await app.state.job_app.configure_task("test:boom").defer_async(character_id=character["id"])
        assert await _finished(db, job_id) == "failed"
        for _ in range(200):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # nothing else follows
        [got] = receiver.received
    assert got.signature_ok
    assert got.json["type"] == "job.failed" and got.json["payload"]["job_id"] == job_id


async def test_running_jobs_are_listed_for_a_page_opened_after_their_start(app, client, db):
    """GET /jobs/running lists what a worker runs now for the project, as job.started told it
    (task, queue, attempt, ids); other projects' jobs stay out; a finished job leaves the list."""
    project = await make_project(client, slug="busy")
    other = await make_project(client, slug="calm")
    character = await make_character(client, project)
    release = asyncio.Event()
    job_app_ = app.state.job_app
    if "test:wait" not in job_app_.tasks:
        @job_app_.task(name="test:wait", queue="test")
        async def wait(character_id: int) -> None:
            await release.wait()
    job_id = await job_app_.configure_task("test:wait").defer_async(character_id=character["id"])
    for _ in range(200):
        listed = (await client.get("/jobs/running", params={"project_id": project["id"]})).json()
        if listed:
            break
        await asyncio.sleep(0.05)
    assert listed == [{"job_id": job_id, "task": "test:wait", "queue": "test", "attempt": 1,
                       "args": {"character_id": character["id"]}}]
    assert (await client.get("/jobs/running", params={"project_id": other["id"]})).json() == []
    release.set()
    assert await _finished(db, job_id) == "succeeded"
    assert (await client.get("/jobs/running", params={"project_id": project["id"]})).json() == []
    assert (await client.get("/jobs/running", params={"project_id": 0})).status_code == 422
