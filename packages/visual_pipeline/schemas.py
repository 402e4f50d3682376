"""Request and response shapes of the generation engine."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Role = Literal["keyframe", "worker", "hero"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- backends ---------------------------------------------------------------------------------

class BackendCreate(Strict):
    name: Name
    url: AnyHttpUrl
    roles: Annotated[list[Role], Field(min_length=1, max_length=3)] = ["worker"]
    enabled: bool = True
    max_in_flight: Annotated[int, Field(ge=1, le=64)] = 1

    @field_validator("roles")
    @classmethod
    def _unique(cls, roles: list[str]) -> list[str]:
        return sorted(set(roles))


class BackendUpdate(Strict):
    name: Name | None = None
    roles: Annotated[list[Role], Field(min_length=1, max_length=3)] | None = None
    enabled: bool | None = None
    max_in_flight: Annotated[int, Field(ge=1, le=64)] | None = None
    rate_per_s: Annotated[float, Field(ge=0, le=1000)] | None = None  # price of a GPU-second (0: own hardware)


class Capabilities(BaseModel):
    node_classes: list[str] = []
    models: dict[str, list[str]] = {}


class BackendRead(BaseModel):
    id: int
    name: str
    url: str
    roles: list[str]
    enabled: bool
    max_in_flight: int
    health: Literal["unknown", "ok", "unreachable"]
    last_seen: datetime | None
    last_error: str | None
    capabilities: Capabilities
    vram_total: int | None
    vram_free: int | None
    queue_remaining: int
    rate_per_s: float = 0.0  # price of a GPU-second here (0: own hardware); generations cost gpu_seconds x this
    running: int = 0  # generations in flight on it now
    created_at: datetime
    updated_at: datetime


# -- generations ------------------------------------------------------------------------------

Dimension = Annotated[int, Field(ge=256, le=4096, multiple_of=8)]


class GenerationCreate(Strict):
    """One row (and one job) per output requested. The prompt comes from the character's prompt
    builder and the project's style; `prompt` adds scene text after the character's design (or is
    the whole design when no character is given)."""

    character_id: int | None = None
    project_id: int | None = None  # needed only without a character
    kind: Literal["image", "video"] = "image"
    count: Annotated[int, Field(ge=1, le=16)] = 1
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = None
    prompt: Annotated[str, StringConstraints(max_length=2000)] = ""
    width: Dimension | None = None
    height: Dimension | None = None
    source_output_id: int | None = None  # video: the gallery image it starts from
    motion_prompt: Annotated[str, StringConstraints(max_length=1000)] = ""
    duration_s: Annotated[float, Field(gt=0, le=20)] = 3.0
    engine: Literal["framepack", "ltx", "animatic"] | None = None  # video: start the fallback chain here
    role: Role | None = None  # send to backends of this role (or its fallback: pool.ROLE_FALLBACK)
    # Overrides of the style's values for this generation (auto-correction, experiments); unset
    # fields keep the style's. Stored in generations.params only when given.
    steps: Annotated[int, Field(ge=1, le=150)] | None = None
    cfg: Annotated[float, Field(ge=0, le=30)] | None = None
    negative_extra: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    ip_adapter_weight: Annotated[float, Field(ge=0, le=2)] | None = None

    OVERRIDES: ClassVar[tuple[str, ...]] = ("steps", "cfg", "negative_extra", "ip_adapter_weight")


class GenerationRead(BaseModel):
    id: int
    project_id: int
    character_id: int | None
    character_name: str | None
    kind: str
    engine: str
    params: dict
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    step: str
    attempts: int
    error: str | None
    error_code: str | None
    backend_id: int | None
    backend_name: str | None
    comfy_prompt_id: str | None
    outputs: list[int]
    gpu_seconds: float | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> "GenerationRead":
        data = dict(row)
        data["comfy_prompt_id"] = str(data["comfy_prompt_id"]) if data["comfy_prompt_id"] else None
        return cls.model_validate(data)


class GalleryItem(BaseModel):
    id: int
    project_id: int
    character_id: int | None
    character_name: str | None
    generation_id: int | None
    kind: Literal["image", "video"]
    width: int
    height: int
    duration_s: float | None
    bytes: int
    dataset_status: str | None
    created_at: datetime
    file_url: str
    thumbnail_url: str


class GalleryPage(BaseModel):
    items: list[GalleryItem]
    next_cursor: str | None  # pass as `before` for the next page; null at the end


class DatasetImageRead(BaseModel):
    id: int
    character_id: int
    output_id: int | None
    generation_id: int | None
    width: int
    height: int
    source: str
    status: str
    caption: str | None
    created_at: datetime
    thumbnail_url: str | None
