"""HTTP for the automatic reviews: the metrics-only review (no vision model) and the vision review
through Ollama, each run now on a character's pending images; and whether the vision model is there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from packages.approval import metrics_review, vision, vision_review
from packages.approval.schemas import MAX_ID
from packages.characters import queries as character_queries
from packages.core.auth import User, current_user, require
from packages.core.db import Conn
from packages.core.errors import Conflict, NotFound
from packages.core.settings import AppSettings

# Secure by default: every route needs a valid token; running a review needs reviewer.
router = APIRouter(dependencies=[Depends(current_user)])
Reviewer = Annotated[User, require("reviewer")]
NOW_LIMIT = 200  # images one request scores; the job takes the rest
VISION_NOW_DEFAULT, VISION_NOW_MAX = 10, 100  # a vision answer takes seconds: fewer per request


class MetricsReviewRead(BaseModel):
    scored: int
    rejected: int


class VisionReviewRead(BaseModel):
    reviewed: int  # scored by the model
    approved: int
    rejected: int
    failed: int  # no usable answer: recorded as vision_error, tried again by a later run
    unreadable: int
    errors: list[str]


class VisionStatusRead(BaseModel):
    available: bool
    host: str | None
    model: str
    error: str | None


@router.post("/characters/{character_id}/review/metrics", response_model=MetricsReviewRead,
             operation_id="approval-review_metrics")
async def review_metrics(character_id: Annotated[int, Path(ge=1, le=MAX_ID)], conn: Conn, settings: AppSettings,
                         _user: Reviewer):
    """Scores up to 200 of the character's unscored pending images with CPU metrics (metrics_only)
    and rejects those under the auto_reject gate; never approves."""
    if await character_queries.get_character(conn, character_id) is None:
        raise NotFound("No character with that id", code="character_not_found")
    result = await metrics_review.review_pending(conn, settings, character_id, limit=NOW_LIMIT)
    return MetricsReviewRead(scored=result.scored, rejected=result.rejected)


@router.post("/characters/{character_id}/review/vision", response_model=VisionReviewRead,
             operation_id="approval-review_vision")
async def review_vision(character_id: Annotated[int, Path(ge=1, le=MAX_ID)], conn: Conn, settings: AppSettings,
                        _user: Reviewer,
                        limit: Annotated[int, Query(ge=1, le=VISION_NOW_MAX)] = VISION_NOW_DEFAULT):
    """Reviews up to `limit` of the character's pending images without a vision score with the
    vision model, applying the auto-approve/auto-reject gates. 409 `no_vision_model` without
    OLLAMA_HOST; 503 `ollama_unreachable`; 502 `vision_model_missing` when Ollama lacks the model."""
    if await character_queries.get_character(conn, character_id) is None:
        raise NotFound("No character with that id", code="character_not_found")
    if not settings.ollama_host:
        raise Conflict("No vision model: OLLAMA_HOST is not set (the metrics review scores images instead)",
                       code="no_vision_model")
    result = await vision_review.review_pending_vision(conn, settings, character_id, limit)
    return VisionReviewRead(reviewed=result.reviewed, approved=result.approved, rejected=result.rejected,
                            failed=result.failed, unreadable=result.unreadable, errors=result.errors)


@router.get("/review/vision/status", response_model=VisionStatusRead, operation_id="approval-vision_status")
async def vision_status(settings: AppSettings):
    """Whether the vision review can run now: OLLAMA_HOST set, Ollama reachable, the model there."""
    return VisionStatusRead(**await vision.status(settings))
