"""Request and response shapes of replenishment (tag "replenishment")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from packages.core.events import Event

MAX_TARGET = 100_000
State = Literal["disabled", "done", "running", "cooldown", "waiting", "stopped", "idle"]
StoppedReason = Literal["consecutive_rejects", "daily_limit"]


class ReplenishmentSettings(BaseModel):
    enabled: bool
    default_target: int
    cooldown_s: int
    daily_limit: int
    max_consecutive_rejects: int
    pending_buffer: int
    max_concurrent: int
    batch_size: int


class ReplenishmentSettingsUpdate(BaseModel):
    """Any subset of the settings; a field sent must have a value in range (null is refused)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    default_target: Annotated[int, Field(ge=0, le=MAX_TARGET)] | None = None
    cooldown_s: Annotated[int, Field(ge=0, le=86_400)] | None = None
    daily_limit: Annotated[int, Field(ge=0, le=10_000)] | None = None
    max_consecutive_rejects: Annotated[int, Field(ge=1, le=1000)] | None = None
    pending_buffer: Annotated[int, Field(ge=1, le=1000)] | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=100)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=16)] | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> ReplenishmentSettingsUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class ReplenishmentCharacter(BaseModel):
    character_id: int
    character_slug: str
    character_name: str
    project_id: int
    project_slug: str
    target: int
    approved: int
    pending: int  # images waiting for review
    in_flight: int  # the character's generations queued or running (they become pending images)
    deficit: int  # target - approved, at least 0
    daily_count: int  # images replenishment generated for it today (UTC)
    consecutive_rejects: int
    last_run_at: datetime | None
    cooldown_until: datetime | None
    stopped_reason: StoppedReason | None
    state: State


class ReplenishmentStatus(BaseModel):
    settings: ReplenishmentSettings
    active_batches: int
    characters: list[ReplenishmentCharacter]


class ReadinessCharacter(BaseModel):
    character_id: int
    character_slug: str
    character_name: str
    approved: int
    target: int
    missing: int
    ready: bool


class Readiness(BaseModel):
    project_id: int
    project_name: str
    ready: bool
    characters: list[ReadinessCharacter]


class ReplenishmentBatch(Event):
    """A batch of generations queued to top up a character's dataset."""

    type: ClassVar[str] = "replenishment.batch"
    project_id: int
    character_id: int
    generation_ids: list[int]
    reason: str
