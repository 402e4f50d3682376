"""Request and response shapes of the creative team (see /team in the API contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Status = Literal["running", "waiting_user", "planned", "approved", "cancelled", "failed"]
Phase = Literal["ideation", "refinement", "synthesis", "review"]
Speaker = Literal["luna", "frame", "saga", "pixel", "lens", "user", "system"]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                             pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShotTarget(Strict):
    kind: Literal["shot"]
    shot_id: int


class CharacterImageTarget(Strict):
    kind: Literal["character_image"]
    character: Slug


class TeamSessionCreate(Strict):
    project: Slug
    target: Annotated[ShotTarget | CharacterImageTarget, Field(discriminator="kind")]
    brief: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""
    max_rounds: Annotated[int, Field(ge=1, le=10)] = 3


class Question(BaseModel):
    summary: str
    options: list[str]


class TeamSession(BaseModel):
    id: int
    project_id: int
    target: dict[str, Any]  # {kind: "shot", shot_id, scene_id} | {kind: "character_image", character, character_id}
    brief: str
    max_rounds: int
    status: Status
    phase: Phase
    round: int
    plan_params: dict[str, Any] | None
    question: Question | None  # set while status is waiting_user
    models: dict[str, str]
    error: str | None
    result: dict[str, Any] | None  # after approval: {generation_ids} or {shot_id}
    created_at: datetime
    updated_at: datetime


class TeamMessageRead(BaseModel):
    id: int
    speaker: Speaker
    phase: Phase
    round: int
    content: str
    structured: dict[str, Any] | None
    created_at: datetime


class TeamSessionDetail(TeamSession):
    messages: list[TeamMessageRead]
    plan_schema: dict[str, Any]  # JSON schema of plan_params (the form the user edits)


class Interjection(Strict):
    content: Words


class Answer(Strict):
    option_index: Annotated[int, Field(ge=0)] | None = None
    content: Words | None = None

    @model_validator(mode="after")
    def _one(self) -> "Answer":
        if (self.option_index is None) == (self.content is None):
            raise ValueError("give either option_index or content")
        return self


class PlanEdit(Strict):
    params: dict[str, Any]


class Approval(Strict):
    params: dict[str, Any] | None = None


class Approved(BaseModel):
    generation_ids: list[int] | None = None
    shot_id: int | None = None


class Accepted(BaseModel):
    status: Status


class TeamModels(Strict):
    luna: ModelName
    frame: ModelName
    saga: ModelName
    pixel: ModelName
    lens: ModelName
