"""HTTP for the metrics-only review (no vision model): run it now on a character's pending images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from packages.approval import metrics_review
from packages.approval.schemas import MAX_ID
from packages.characters import queries as character_queries
from packages.core.auth import User, current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.settings import AppSettings

# Secure by default: every route needs a valid token; running a review needs reviewer.
router = APIRouter(dependencies=[Depends(current_user)])
Reviewer = Annotated[User, require("reviewer")]
NOW_LIMIT = 200  # images one request scores; the job takes the rest


class MetricsReviewRead(BaseModel):
    scored: int
    rejected: int


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
