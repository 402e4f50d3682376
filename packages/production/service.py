"""Rules and transactions of production control: budgets (set, clear) and webhooks (create, change,
remove, send a test, deliver again)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

import asyncpg

from packages.core.db import transaction
from packages.core.errors import Conflict, NotFound
from packages.production import budgets, events, queries, webhooks
from packages.production.schemas import BudgetSet, WebhookCreate


async def set_budget(conn: asyncpg.Connection, project_id: int, episode_id: int | None, body: BudgetSet) -> dict:
    async with transaction(conn) as tx:
        await queries.upsert_budget(conn, project_id, episode_id, body.unit, body.limit, body.warn_at)
        await tx.emit(events.BudgetChanged(project_id=project_id, episode_id=episode_id))
    return await budgets.status(conn, project_id, episode_id)


async def delete_budget(conn: asyncpg.Connection, project_id: int, episode_id: int | None) -> None:
    async with transaction(conn) as tx:
        if not await queries.delete_budget(conn, project_id, episode_id):
            raise NotFound("There is no budget here", code="budget_not_found")
        await tx.emit(events.BudgetChanged(project_id=project_id, episode_id=episode_id))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def create_webhook(conn: asyncpg.Connection, project_id: int, body: WebhookCreate):
    row = await queries.insert_webhook(conn, project_id, str(body.url), new_secret(), body.event_types, body.enabled,
                                       body.description)
    webhooks.hooked.clear()
    return row


async def update_webhook(conn: asyncpg.Connection, webhook, fields: dict):
    if "url" in fields:
        fields["url"] = str(fields["url"])
    row = await queries.update_webhook(conn, webhook["id"], fields) if fields else webhook
    webhooks.hooked.clear()
    return row


async def delete_webhook(conn: asyncpg.Connection, webhook) -> None:
    await queries.delete_webhook(conn, webhook["id"])
    webhooks.hooked.clear()


async def send_test(conn: asyncpg.Connection, webhook):
    """Stores a webhook.test event for this webhook and returns its delivery (sent by its job)."""
    if not webhook["enabled"]:
        raise Conflict("The webhook is disabled; enable it to send a test", code="webhook_disabled")
    async with transaction(conn) as tx:
        await tx.emit(events.WebhookTest(project_id=webhook["project_id"], webhook_id=webhook["id"]))
    event_id = tx.emitted[0].id
    ids = await queries.fan_out(conn, event_id)  # also done by the subscriber; the row is unique
    delivery_id = ids[0] if ids else await queries.delivery_of(conn, webhook["id"], event_id)
    await webhooks.enqueue(delivery_id)
    return await queries.get_delivery(conn, delivery_id)


async def redeliver(conn: asyncpg.Connection, delivery):
    if delivery["status"] != "failed":
        raise Conflict("Only a failed delivery can be sent again", code="delivery_not_failed")
    row = await queries.update_delivery(conn, delivery["id"], {"status": "pending", "attempts": 0, "error": None,
                                                                   "next_at": datetime.now(timezone.utc)})
    await webhooks.enqueue(delivery["id"])
    return row
