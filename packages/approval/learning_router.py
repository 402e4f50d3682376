"""HTTP for learning (per character: what goes with approvals and rejections, suggestions, quality
drift) and auto-correction (the switch and the corrections made). Parse, authorise, call the
service, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from packages.approval import corrections, learning
from packages.approval import learning_queries as queries
from packages.approval.learning_schemas import CorrectionRead, CorrectionSettings, LearningRead
from packages.approval.schemas import MAX_ID
from packages.characters import queries as character_queries
from packages.core.auth import User, current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.schemas import Page, PageParams, page_of, page_params

# Secure by default: every route needs a valid token (viewer reads); the switch needs reviewer.
# Two routers so each operation id starts with its tag: learning-*, corrections-*.
router = APIRouter(dependencies=[Depends(current_user)])
corrections_router = APIRouter(dependencies=[Depends(current_user)])
Reviewer = Annotated[User, require("reviewer")]
Paging = Annotated[PageParams, Depends(page_params)]
CharacterId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/characters/{character_id}/learning", response_model=LearningRead, operation_id="learning-character")
async def character_learning(character_id: CharacterId, conn: Conn):
    """Rates, parameters with their approvals and rejections, rejection reasons, suggested values,
    the quality-drift alert and how each correction strategy fared, computed now."""
    if await character_queries.get_character(conn, character_id) is None:
        raise NotFound("No character with that id", code="character_not_found")
    return await learning.learning_for(conn, character_id)


@corrections_router.get("/corrections/settings", response_model=CorrectionSettings, operation_id="corrections-settings")
async def correction_settings(conn: Conn):
    return CorrectionSettings(enabled=await queries.auto_correction(conn))


@corrections_router.post("/corrections/toggle", response_model=CorrectionSettings, operation_id="corrections-toggle")
async def toggle_corrections(enabled: Annotated[bool, Query()], conn: Conn, _user: Reviewer):
    """Switches auto-correction on or off for the whole studio (off by default)."""
    return CorrectionSettings(enabled=await corrections.set_enabled(conn, enabled))


@corrections_router.get("/corrections", response_model=Page[CorrectionRead], operation_id="corrections-list")
async def list_corrections(conn: Conn, page: Paging,
                           character_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None):
    """Newest first; optionally one character's."""
    rows, total = await queries.list_corrections(conn, character_id=character_id, limit=page.limit,
                                                 offset=page.offset)
    return page_of(CorrectionRead, rows, total)
