"""Outbound webhooks: fan-out per matching webhook, signed deliveries, retries, the delivery log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from packages.core.db import transaction
from packages.production import webhooks
from packages.production.events import BudgetChanged
from tests.doubles.webhook_receiver import WebhookReceiver
from tests.factories import make_project


@pytest.fixture
def settings(settings):
    settings.webhook_backoff_s = 0.01  # retries come at once here
    settings.webhook_timeout_s = 2.0
    return settings


@pytest.fixture
def receiver():
    with WebhookReceiver() as double:
        yield double


async def _hook(client, project, url: str, types=("budget.*",)) -> dict:
    r = await client.post(f"/projects/{project['id']}/webhooks", json={"url": url, "event_types": list(types)})
    assert r.status_code == 201, r.text
    return r.json()


async def _emit(db, project) -> int:
    async with transaction(db) as tx:
        await tx.emit(BudgetChanged(project_id=project["id"]))
    await webhooks.drain()  # the fan-out runs once the publisher has let go of its connection
    return tx.emitted[0].id


async def _deliveries(db, webhook_id: int) -> list:
    return await db.fetch("SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id", webhook_id)


async def test_delivery_is_signed_and_verified_by_the_receiver(client, db, receiver):
    """A delivery carries the event as JSON with a timestamp and an HMAC-SHA256 signature of
    "<timestamp>.<body>" under the webhook's secret, which the receiver can verify."""
    project = await make_project(client)
    hook = await _hook(client, project, receiver.url)
    receiver.secret = hook["secret"]
    event_id = await _emit(db, project)
    [delivery] = await _deliveries(db, hook["id"])
    assert await webhooks.deliver(delivery["id"]) == "delivered"
    [got] = receiver.received
    assert got.signature_ok
    assert got.json["id"] == event_id and got.json["type"] == "budget.changed"
    assert got.headers["X-Anime-Studio-Delivery"] == str(delivery["id"])
    receiver.secret = "another secret"
    assert not receiver.verify(got.headers, got.body)  # a wrong secret does not verify


async def test_retries_on_500_and_never_delivers_twice_after_success(client, db, receiver):
    """A 500 answer is retried with backoff; once delivered, the delivery is never sent again,
    and the same event never makes a second delivery row for the webhook."""
    project = await make_project(client)
    hook = await _hook(client, project, receiver.url)
    receiver.answers = [500, 503]
    event_id = await _emit(db, project)
    [delivery] = await _deliveries(db, hook["id"])
    assert await webhooks.deliver(delivery["id"]) == "pending"
    row = (await _deliveries(db, hook["id"]))[0]
    assert (row["attempts"], row["response_code"], row["status"]) == (1, 500, "pending")
    assert await webhooks.deliver(delivery["id"]) == "pending"
    assert await webhooks.deliver(delivery["id"]) == "delivered"
    assert await webhooks.deliver(delivery["id"]) == "delivered"  # a second job: nothing sent
    assert [r.answered for r in receiver.received] == [500, 503, 200]
    from packages.production import queries

    assert await queries.fan_out(db, event_id) == []  # already has its row
    rows = await _deliveries(db, hook["id"])
    assert len(rows) == 1 and rows[0]["attempts"] == 3 and rows[0]["status"] == "delivered"
    r = await client.get(f"/webhooks/{hook['id']}/deliveries")
    assert r.json()["items"][0]["status"] == "delivered" and r.json()["total"] == 1
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'webhook.delivered'") == 1


async def test_a_4xx_answer_fails_at_once_and_the_last_retry_gives_up(client, db, receiver, settings):
    """A 4xx answer (not 408/429) is not retried; 5xx answers stop after the configured attempts."""
    project = await make_project(client)
    hook = await _hook(client, project, receiver.url)
    receiver.answers = [404]
    await _emit(db, project)
    [delivery] = await _deliveries(db, hook["id"])
    assert await webhooks.deliver(delivery["id"]) == "failed"
    settings.webhook_max_attempts = 2
    receiver.answers = [500, 500, 500]
    await _emit(db, project)
    second = (await _deliveries(db, hook["id"]))[1]
    assert await webhooks.deliver(second["id"]) == "pending"
    assert await webhooks.deliver(second["id"]) == "failed"
    assert len(receiver.received) == 3
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'webhook.failed'") == 2


async def test_only_matching_event_types_of_the_project_are_delivered(client, db, receiver):
    """A webhook gets the events of its project whose type it lists (exact, domain.* or *), never
    webhook.* events, and nothing from before it existed."""
    project, other = await make_project(client), await make_project(client)
    await _emit(db, project)  # before the webhook
    exact = await _hook(client, project, receiver.url, ["budget.changed"])
    wildcard = await _hook(client, project, receiver.url, ["scene.*"])
    everything = await _hook(client, project, receiver.url, ["*"])
    await _emit(db, project)
    await _emit(db, other)
    assert len(await _deliveries(db, exact["id"])) == 1
    assert len(await _deliveries(db, wildcard["id"])) == 0
    [delivery] = await _deliveries(db, everything["id"])
    await webhooks.deliver(delivery["id"])  # emits webhook.delivered: not delivered anywhere
    await webhooks.drain()
    assert len(await _deliveries(db, everything["id"])) == 1


async def test_secret_is_shown_once_and_never_logged(client, db, receiver, caplog):
    """The secret is returned by the creation only (masked afterwards) and never written to logs,
    whether deliveries succeed, are retried or fail."""
    caplog.set_level(logging.DEBUG)
    project = await make_project(client)
    hook = await _hook(client, project, receiver.url)
    secret = hook["secret"]
    listed = (await client.get(f"/projects/{project['id']}/webhooks")).json()["items"][0]
    assert "secret" not in listed and secret not in str(listed) and listed["secret_hint"].startswith("whsec_")
    receiver.answers = [500, 400]
    await _emit(db, project)
    [delivery] = await _deliveries(db, hook["id"])
    await webhooks.deliver(delivery["id"])
    await webhooks.deliver(delivery["id"])
    assert "failed" in caplog.text and "retrying" in caplog.text  # the logs did record the deliveries
    assert secret not in caplog.text and secret[6:] not in caplog.text


async def test_webhook_routes_need_admin_and_check_input(client, client_as, receiver):
    """Webhooks are admin-only; a bad URL or event type is a 422 that creates nothing."""
    project = await make_project(client)
    async with client_as("director") as director:
        r = await director.get(f"/projects/{project['id']}/webhooks")
        assert r.status_code == 403
    for body in ({"url": "ftp://x", "event_types": ["*"]}, {"url": receiver.url, "event_types": []},
                 {"url": receiver.url, "event_types": ["Not A Type"]},
                 {"url": receiver.url, "event_types": ["webhook.delivered"]}):
        r = await client.post(f"/projects/{project['id']}/webhooks", json=body)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", body
    assert (await client.get(f"/projects/{project['id']}/webhooks")).json()["total"] == 0
    assert (await client.post("/projects/999999/webhooks",
                              json={"url": receiver.url, "event_types": ["*"]})).status_code == 404


@pytest.fixture
def worker_settings(settings):
    settings.inprocess_worker = True
    return settings


async def test_send_test_is_delivered_by_the_worker(worker_settings, app, client, receiver):
    """"Send test" stores a webhook.test event that the job worker delivers, signed, to that webhook."""
    project = await make_project(client)
    hook = await _hook(client, project, receiver.url)
    receiver.secret = hook["secret"]
    r = await client.post(f"/webhooks/{hook['id']}/test")
    assert r.status_code == 202, r.text
    for _ in range(200):
        if receiver.received:
            break
        await asyncio.sleep(0.05)
    [got] = receiver.received
    assert got.signature_ok and got.json["type"] == "webhook.test"
    for _ in range(100):
        log = (await client.get(f"/webhooks/{hook['id']}/deliveries")).json()["items"]
        if log[0]["status"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 1


async def test_the_sweep_makes_deliveries_a_lost_reaction_missed(client, db, receiver):
    """An event whose in-process fan-out was lost (the process died after the commit) still gets
    its delivery from the periodic sweep, once."""
    from packages.production.jobs import sweep_deliveries

    project = await make_project(client)
    hook = await _hook(client, project, receiver.url)
    await _emit(db, project)
    await db.execute("DELETE FROM webhook_deliveries")
    await sweep_deliveries(timestamp=0)
    await sweep_deliveries(timestamp=0)
    [row] = await _deliveries(db, hook["id"])
    assert row["status"] == "pending"
