"""Pydantic models of the characters domain: request bodies, responses and the loaded row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from packages.core.paths import SLUG_RE

MAX_ID = 2**63 - 1  # bigint; a larger path id is a 422, never a database error

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE.pattern)]  # it names a folder
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DesignPrompt = Annotated[str, StringConstraints(max_length=4000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
ListItem = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
ItemList = Annotated[list[ListItem], Field(max_length=50)]
Voice = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


def reference_file_url(image_id: int) -> str:
    """Where a reference image is served, relative to the API prefix (/api/lora)."""
    return f"reference-images/{image_id}/file"


class AppearanceData(BaseModel):
    """What a character looks like, as written by the director. `species` drives the prompt
    builder (a species containing "NOT human" adds human-body negatives) and every
    `common_errors` entry becomes a negative term verbatim."""

    model_config = ConfigDict(extra="forbid")

    species: ShortText = ""
    gender: ShortText = ""
    key_colors: ItemList = []
    key_features: ItemList = []
    common_errors: ItemList = []


class AppearanceUpdate(BaseModel):
    """A partial appearance: only the keys sent replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    species: ShortText | None = None
    gender: ShortText | None = None
    key_colors: ItemList | None = None
    key_features: ItemList | None = None
    common_errors: ItemList | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("may not be null (send \"\" or [] to clear it)")
        return value


class AppearanceRead(BaseModel):
    model_config = ConfigDict(extra="ignore")  # keys added by later features do not break reads

    species: str = ""
    gender: str = ""
    key_colors: list[str] = []
    key_features: list[str] = []
    common_errors: list[str] = []


class CharacterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: int = Field(ge=1, le=MAX_ID)
    name: Name
    slug: Slug
    design_prompt: DesignPrompt = ""
    appearance_data: AppearanceData = AppearanceData()
    voice: Voice | None = None


class CharacterUpdate(BaseModel):
    """Every field optional; only the fields sent change. The slug and the project never change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    design_prompt: DesignPrompt | None = None
    appearance_data: AppearanceUpdate | None = None
    voice: Voice | None = None  # null clears the voice

    @field_validator("name", "design_prompt", "appearance_data")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("may not be null")
        return value


class CharacterRow(BaseModel):
    """A character as loaded once per request by `character_from_path` (not a response)."""

    id: int
    project_id: int
    project_slug: str
    name: str
    slug: str
    design_prompt: str
    appearance_data: dict
    lora_id: int | None
    voice: str | None
    archived: bool
    reference_count: int
    cover_image_id: int | None
    created_at: datetime
    updated_at: datetime


class CharacterRead(BaseModel):
    id: int
    project_id: int
    name: str
    slug: str
    design_prompt: str
    appearance_data: AppearanceRead
    voice: str | None
    archived: bool
    lora_id: int | None
    reference_count: int
    cover_url: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def fields_of(record: Mapping[str, Any]) -> dict:
        """The response fields of a database record (or of a CharacterRow's fields)."""
        data = {k: v for k, v in record.items() if k not in ("project_slug", "cover_image_id")}
        cover_id = record["cover_image_id"]
        data["cover_url"] = reference_file_url(cover_id) if cover_id is not None else None
        return data

    @classmethod
    def from_row(cls, row: CharacterRow) -> CharacterRead:
        return cls.model_validate(cls.fields_of(row.__dict__))


class PromptParts(BaseModel):
    style_positive: str
    design_prompt: str
    quality_tags: str
    style_negative: str
    character_negative: str


class PromptRead(BaseModel):
    positive: str
    negative: str
    checkpoint: str
    cfg: float
    steps: int
    sampler: str
    scheduler: str
    width: int
    height: int
    architecture: str
    style_id: int
    style_name: str
    trigger: str | None
    parts: PromptParts


class ReferenceImageRead(BaseModel):
    id: int
    character_id: int
    url: str
    original_name: str
    content_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> ReferenceImageRead:
        return cls(**{k: row[k] for k in ("id", "character_id", "original_name", "content_type", "width",
                                          "height", "bytes", "created_at")}, url=reference_file_url(row["id"]))
