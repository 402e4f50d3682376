"""Outbound webhooks. Every stored event of a project fans out to a delivery row per matching
webhook (unique per webhook and event, so an event is never queued twice), and each row is sent by
a durable job: POST of the event as JSON, signed with HMAC-SHA256 over "<timestamp>.<raw body>"
with the webhook's secret. 5xx answers, 408/429, timeouts and connection errors retry with
exponential backoff (ANIME_STUDIO_WEBHOOK_BACKOFF_S x 2^n); other 4xx answers and the last retry
fail the delivery. A delivered row is never sent again. The secret is never logged and never
returned after creation except masked."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from datetime import datetime, timedelta, timezone

import httpx
import orjson

from packages.core.db import transaction
from packages.core.events import StoredEvent
from packages.core.jobs import defer_once, runtime
from packages.production import events, queries

log = logging.getLogger(__name__)
DELIVER_TASK = "production:deliver"
RETRY_STATUSES = frozenset({408, 425, 429})
SIGNATURE_HEADER = "X-Anime-Studio-Signature"
TIMESTAMP_HEADER = "X-Anime-Studio-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `sha256=` + hex HMAC-SHA256(secret, "<timestamp>." + body)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def mask(secret: str) -> str:
    return f"{secret[:6]}…{secret[-4:]}" if len(secret) > 12 else "…"


def delivery_key(delivery_id: int) -> str:
    return f"webhook-delivery-{delivery_id}"


async def enqueue(delivery_id: int, delay_s: float | None = None) -> None:
    await defer_once(DELIVER_TASK, delivery_key(delivery_id), delay_s=delay_s, delivery_id=delivery_id)


class HookedProjects:
    """The projects that have an enabled webhook, read again every `ttl` seconds (and at once after a
    change through this process), so the many events of projects without webhooks cost no query."""

    def __init__(self, ttl: float = 2.0):
        self.ttl, self._until, self._ids = ttl, 0.0, frozenset()

    async def get(self, conn) -> frozenset[int]:
        if time.monotonic() >= self._until:
            self._ids = frozenset(await queries.hooked_projects(conn))
            self._until = time.monotonic() + self.ttl
        return self._ids

    def fresh(self) -> bool:
        return time.monotonic() < self._until

    @property
    def cached(self) -> frozenset[int]:
        return self._ids

    def clear(self) -> None:
        self._until = 0.0


hooked = HookedProjects()


_background: set[asyncio.Task] = set()


def in_background(coro) -> None:
    """Runs a reaction's database work after the publisher has let go of its connection: a
    subscriber that waited for a second pool connection while its publisher holds one could starve
    the pool under load. (Nothing here must survive a crash: the sweep redoes it.)"""
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def drain() -> None:
    """Waits for the reactions started so far (tests; shutdown)."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


async def on_event(event: StoredEvent) -> None:
    """Bus subscriber (every event): the event's deliveries, and their jobs, made in the background.
    A delivery lost with its process is made by the periodic sweep (jobs.sweep_deliveries)."""
    if event.project_id is None or event.type.startswith("webhook.") and event.type != "webhook.test":
        return
    if hooked.fresh() and event.project_id not in hooked.cached:
        return  # the common case: a project without webhooks costs nothing
    in_background(_fan_out(event))


async def _fan_out(event: StoredEvent) -> None:
    try:
        async with runtime.acquire() as conn:
            if event.project_id not in await hooked.get(conn):
                return
            ids = await queries.fan_out(conn, event.id)
        for delivery_id in ids:
            await enqueue(delivery_id)
    except Exception:  # the sweep makes what this missed
        log.exception("webhook fan-out of event %s failed", event.id)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _body(row) -> bytes:
    return orjson.dumps({"id": row["event_id"], "type": row["type"], "project_id": row["event_project_id"],
                         "payload": row["payload"], "at": row["at"]})


async def _post(url: str, secret: str, row) -> tuple[int | None, str | None]:
    """(response code, error) of one attempt; a transport error has no code."""
    body, timestamp = _body(row), int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "anime-studio-webhooks",
               "X-Anime-Studio-Event": row["type"], "X-Anime-Studio-Delivery": str(row["id"]),
               TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}
    try:
        async with httpx.AsyncClient(timeout=runtime.settings.webhook_timeout_s, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return None, "timed out"
    except httpx.HTTPError as exc:
        return None, f"could not connect: {type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"answered {response.status_code}: {response.text[:200]}"


async def deliver(delivery_id: int) -> str:
    """Sends one delivery (the job); returns its status afterwards."""
    async with runtime.acquire() as conn:
        row = await queries.delivery_for_send(conn, delivery_id)
    if row is None or row["status"] != "pending":
        return row["status"] if row else "gone"  # delivered (or given up) before: never sent again
    if row["type"] is None:
        return await _finish(row, "failed", None, "the event was pruned before it could be delivered",
                             attempted=False)
    if not row["enabled"]:
        return await _finish(row, "failed", None, "the webhook is disabled", attempted=False)
    code, error = await _post(row["url"], row["secret"], row)
    if error is None:
        return await _finish(row, "delivered", code, None)
    attempts = row["attempts"] + 1
    retry = code is None or code >= 500 or code in RETRY_STATUSES
    if not retry or attempts >= runtime.settings.webhook_max_attempts:
        return await _finish(row, "failed", code, error)
    delay = runtime.settings.webhook_backoff_s * 2 ** (attempts - 1)
    log.info("webhook %s delivery %s attempt %s failed (%s); retrying in %.3g s",
             row["webhook_id"], delivery_id, attempts, error, delay)
    async with runtime.acquire() as conn:
        await queries.update_delivery(conn, delivery_id, {"attempts": attempts, "response_code": code, "error": error,
                                                          "next_at": _now() + timedelta(seconds=delay)})
    await enqueue(delivery_id, delay_s=delay)
    return "pending"


async def _finish(row, status: str, code: int | None, error: str | None, *, attempted: bool = True) -> str:
    attempts = row["attempts"] + (1 if attempted else 0)
    fields = {"status": status, "attempts": attempts, "response_code": code, "error": error}
    if status == "delivered":
        fields["delivered_at"] = _now()
    event_cls = events.WebhookDelivered if status == "delivered" else events.WebhookFailed
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            await queries.update_delivery(conn, row["id"], fields)
            await tx.emit(event_cls(project_id=row["project_id"], webhook_id=row["webhook_id"], delivery_id=row["id"],
                                    event_id=row["event_id"], attempts=attempts, response_code=code, error=error))
    if status == "failed":
        log.warning("webhook %s delivery %s failed: %s", row["webhook_id"], row["id"], error)
    return status
