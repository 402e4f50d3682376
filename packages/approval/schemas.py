"""Request and response shapes of the approval domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_ID = 2**63 - 1  # bigint; a larger id is a 422, never a database error

# The reject reasons, in keyboard order (key 1-7 in the review queue).
REASONS = [
    ("wrong_character", "Wrong character"),
    ("anatomy", "Bad anatomy"),
    ("blur", "Blurry"),
    ("not_solo", "Not solo"),
    ("wrong_species", "Wrong species"),
    ("style", "Off style"),
    ("other", "Other"),
]
RejectReason = Literal["wrong_character", "anatomy", "blur", "not_solo", "wrong_species", "style", "other"]
Status = Literal["pending", "approved", "rejected"]
Source = Literal["upload", "video", "url", "generated"]
Caption = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ImageId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scores(BaseModel):
    """Review scores: quality 0..1; a vision review's character_match, clarity and training_value
    are 0-10 and solo a bool; other keys a reviewer adds are kept (see packages/approval/vision.py
    and metrics_review.py for the two shapes, and `vision_error` for a failed vision review)."""

    model_config = ConfigDict(extra="allow")

    quality: float | None = None
    character_match: float | None = None
    clarity: float | None = None
    training_value: float | None = None
    solo: bool | None = None


class LastReview(BaseModel):
    decision: Literal["approved", "rejected", "undone"]
    reviewer: Literal["human", "model", "metrics"]
    reason: str | None
    at: datetime


class ImageRead(BaseModel):
    id: int
    character_id: int
    character_name: str
    character_slug: str
    project_id: int
    source: Source
    status: Status
    width: int
    height: int
    caption: str | None
    scores: Scores | None
    model_verdict: Literal["approve", "reject"] | None
    reasons: list[str]
    generation_id: int | None
    file_url: str
    thumbnail_url: str
    created_at: datetime
    updated_at: datetime
    last_review: LastReview | None

    @classmethod
    def from_row(cls, row) -> ImageRead:
        data = dict(row)
        last = None
        if data.pop("last_decision", None) is not None:
            last = LastReview(decision=row["last_decision"], reviewer=row["last_reviewer"],
                              reason=row["last_reason"], at=row["last_at"])
        for key in ("last_reviewer", "last_reason", "last_at"):
            data.pop(key, None)
        return cls(**data, file_url=f"images/{row['id']}/file", thumbnail_url=f"images/{row['id']}/thumbnail",
                   last_review=last)


class ApproveBody(Strict):
    caption: Caption | None = None


class RejectBody(Strict):
    reason: RejectReason
    note: Note | None = None


class BulkBody(Strict):
    ids: Annotated[list[ImageId], Field(min_length=1, max_length=500)]
    action: Literal["approve", "reject"]
    reason: RejectReason | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _reject_needs_reason(self) -> BulkBody:
        if self.action == "reject" and self.reason is None:
            raise ValueError("reason is required to reject")
        return self


class BulkResult(BaseModel):
    items: list[ImageRead]
    total: int


class ReasonRead(BaseModel):
    code: RejectReason
    label: str
    key: str


class CharacterSummary(BaseModel):
    character_id: int
    character_name: str
    pending: int
    approved: int
    rejected: int


# -- quality gates ----------------------------------------------------------------------------

class GateRead(BaseModel):
    name: str
    threshold: float
    description: str


class GateWrite(Strict):
    name: Annotated[str, StringConstraints(max_length=63)]
    threshold: Annotated[float, Field(ge=0, le=1)]


class GatesUpdate(Strict):
    gates: Annotated[list[GateWrite], Field(min_length=1, max_length=50)]
