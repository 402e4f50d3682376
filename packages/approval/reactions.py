"""The approval domain's reactions to events, subscribed once per bus by every process that
emits them (the server and `anime-studio worker`). A reaction only defers a job or reads state;
anything that must survive a crash is a row or a job (packages/core/events.py)."""

from __future__ import annotations

import weakref

from packages.approval import learning_jobs, metrics_review, replenish_jobs, vision_review
from packages.core.events import EventBus, StoredEvent
from packages.core.jobs import runtime

_registered: weakref.WeakSet = weakref.WeakSet()


async def review_after_completion(event: StoredEvent) -> None:
    """A finished generation or ingestion defers its character's automatic review: the vision
    review when OLLAMA_HOST is set, else the metrics review (the one place that chooses)."""
    character_id = event.payload.get("character_id")
    if not character_id:
        return
    if runtime.settings is not None and runtime.settings.ollama_host:
        await vision_review.enqueue_review(int(character_id))
    else:
        await metrics_review.enqueue_review(int(character_id))


def register(bus: EventBus) -> None:
    """Subscribes every reaction of the domain, once per bus (the app's lifespan may run many times)."""
    if bus in _registered:
        return
    _registered.add(bus)
    for event_type in metrics_review.TRIGGERS:
        bus.subscribe(event_type, review_after_completion)
    for event_type in replenish_jobs.TRIGGERS:  # replenishment: a decision or a failed generation defers a check
        bus.subscribe(event_type, replenish_jobs.on_event)
    for event_type in learning_jobs.TRIGGERS:  # corrections, their outcomes and the drift alert
        bus.subscribe(event_type, learning_jobs.on_event)
