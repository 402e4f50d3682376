"""The approval domain's reactions to events, subscribed once per bus by every process that
emits them (the server and `anime-studio worker`). A reaction only defers a job or reads state;
anything that must survive a crash is a row or a job (packages/core/events.py)."""

from __future__ import annotations

import weakref

from packages.approval import metrics_review
from packages.core.events import EventBus

_registered: weakref.WeakSet = weakref.WeakSet()


def register(bus: EventBus) -> None:
    """Subscribes every reaction of the domain, once per bus (the app's lifespan may run many times)."""
    if bus in _registered:
        return
    _registered.add(bus)
    for event_type in metrics_review.TRIGGERS:
        bus.subscribe(event_type, metrics_review.on_completed)
