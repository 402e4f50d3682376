"""Events of production control (stored and streamed; see packages/core/events.py). webhook.* events
are never delivered to webhooks themselves (a delivery would announce itself for ever)."""

from __future__ import annotations

from typing import ClassVar

from packages.core.events import Event


class BudgetEvent(Event):
    project_id: int
    budget_id: int
    episode_id: int | None = None
    unit: str
    limit: float
    spent: float
    committed: float
    estimate: float = 0.0
    subject: str = ""  # "generation" | "scene"
    subject_id: int | None = None


class BudgetWarning(BudgetEvent):
    """Spend plus what is admitted reached the budget's warn_at share."""

    type: ClassVar[str] = "budget.warning"


class BudgetExceeded(BudgetEvent):
    """A job was refused: its estimate would take the scope past its budget."""

    type: ClassVar[str] = "budget.exceeded"


class BudgetChanged(Event):
    type: ClassVar[str] = "budget.changed"
    project_id: int
    episode_id: int | None = None


class WebhookEvent(Event):
    project_id: int
    webhook_id: int
    delivery_id: int
    event_id: int
    attempts: int
    response_code: int | None = None
    error: str | None = None


class WebhookDelivered(WebhookEvent):
    type: ClassVar[str] = "webhook.delivered"


class WebhookFailed(WebhookEvent):
    """The delivery gave up (a 4xx answer, or every retry used)."""

    type: ClassVar[str] = "webhook.failed"


class WebhookTest(Event):
    """Sent by "send test": delivered to its own webhook only, whatever its event types."""

    type: ClassVar[str] = "webhook.test"
    project_id: int
    webhook_id: int
    message: str = "Test delivery from Anime Studio"
