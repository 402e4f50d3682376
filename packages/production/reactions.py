"""Production control's reactions to events, subscribed once per bus by every process that emits
events (the server and `anime-studio worker`): webhook deliveries for every event, and the cost of
a training run once its trainer's seconds are recorded."""

from __future__ import annotations

import weakref

from packages.core.events import EventBus, StoredEvent
from packages.core.jobs import runtime
from packages.production import queries, webhooks

_registered: weakref.WeakSet = weakref.WeakSet()
TRAINING_DONE = ("training.completed", "training.failed", "training.cancelled")


async def price_training(event: StoredEvent) -> None:
    run_id = event.payload.get("run_id")
    if run_id is None or runtime.settings is None:
        return
    webhooks.in_background(_price(int(run_id)))


async def _price(run_id: int) -> None:
    async with runtime.acquire() as conn:
        await queries.record_training_cost(conn, run_id, runtime.settings.training_rate_per_s)


def register(bus: EventBus) -> None:
    if bus in _registered:
        return
    _registered.add(bus)
    bus.subscribe("*", webhooks.on_event)
    for event_type in TRAINING_DONE:
        bus.subscribe(event_type, price_training)
