"""Request and response shapes of production control."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

Unit = Literal["gpu_seconds", "money"]
EVENT_TYPE = re.compile(r"^(\*|[a-z][a-z_]{0,40}\.(\*|[a-z][a-z_]{0,40}))$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spend(BaseModel):
    gpu_seconds: float
    cost: float
    committed_gpu_seconds: float
    committed_cost: float
    queued_gpu_seconds: float
    queued_cost: float


class CostRow(BaseModel):
    key_id: int
    name: str
    gpu_seconds: float
    cost: float
    generations: int
    training_runs: int


class CostReport(BaseModel):
    project_id: int
    by: Literal["scene", "episode", "character"] | None
    project: Spend
    rows: list[CostRow]


class BudgetSet(Strict):
    unit: Unit
    limit: Annotated[float, Field(ge=1e-6, lt=1e10)]  # what budgets.limit numeric(16, 6) holds, and > 0
    warn_at: Annotated[float, Field(ge=0.01, le=1)] = 0.8  # a real: 1e-300 would round to 0


class BudgetRead(BaseModel):
    id: int
    project_id: int
    episode_id: int | None
    unit: Unit
    limit: float
    warn_at: float


class BudgetStatus(BaseModel):
    """Spend vs budget: spent (finished work), committed (estimates admitted and still running),
    queued (forecast of queued work not admitted yet), forecast = spent + committed + queued."""

    budget: BudgetRead | None
    unit: Unit
    spent: float
    committed: float
    queued: float
    forecast: float
    remaining: float | None
    gpu_seconds: float
    cost: float


def _event_types(value: list[str]) -> list[str]:
    cleaned = sorted({v.strip() for v in value})
    if not cleaned:
        raise ValueError("give at least one event type (e.g. scene.completed, scene.*, or *)")
    for item in cleaned:
        if not EVENT_TYPE.match(item):
            raise ValueError(f"'{item[:60]}' is not an event type (domain.action, domain.* or *)")
        if item.startswith("webhook."):
            raise ValueError("webhook.* events are not delivered to webhooks")
    return cleaned


class WebhookCreate(Strict):
    url: AnyHttpUrl
    event_types: Annotated[list[str], Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=500)] = ""
    enabled: bool = True

    _types = field_validator("event_types")(_event_types)


class WebhookUpdate(Strict):
    url: AnyHttpUrl | None = None
    event_types: Annotated[list[str], Field(min_length=1, max_length=100)] | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool | None = None

    @field_validator("event_types")
    @classmethod
    def _types(cls, value):
        return None if value is None else _event_types(value)


class WebhookRead(BaseModel):
    id: int
    project_id: int
    url: str
    secret_hint: str  # the secret masked; it is shown in full once, at creation
    event_types: list[str]
    enabled: bool
    description: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> "WebhookRead":
        from packages.production.webhooks import mask

        data = {k: v for k, v in dict(row).items() if k != "secret"}
        return cls.model_validate({**data, "secret_hint": mask(row["secret"])})


class WebhookCreated(WebhookRead):
    secret: str  # only in the answer to the creation: keep it, it signs every delivery


class DeliveryRead(BaseModel):
    id: int
    webhook_id: int
    event_id: int
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_code: int | None
    error: str | None
    next_at: datetime
    delivered_at: datetime | None
    created_at: datetime
