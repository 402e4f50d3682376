"""HTTP for replenishment (tag "replenishment"): status, the switch, targets, readiness, settings
and "run now". Parse, authorise, call packages/approval/replenish.py, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from packages.approval import replenish
from packages.approval.replenish_jobs import enqueue_check
from packages.approval.replenish_schemas import (
    MAX_TARGET, Readiness, ReplenishmentCharacter, ReplenishmentSettings, ReplenishmentSettingsUpdate,
    ReplenishmentStatus,
)
from packages.approval.schemas import MAX_ID
from packages.core.auth import User, current_user, require
from packages.core.db import Conn
from packages.core.settings import AppSettings

# Secure by default: every route needs a valid token (reads: any role); writes need reviewer.
router = APIRouter(prefix="/replenishment", dependencies=[Depends(current_user)])
Reviewer = Annotated[User, require("reviewer")]
Id = Annotated[int, Query(ge=1, le=MAX_ID)]


@router.get("/status", response_model=ReplenishmentStatus, operation_id="replenishment-status")
async def status(conn: Conn, project_id: Id | None = None):
    """The settings, batches in flight studio-wide, and every active character's state."""
    return await replenish.status(conn, project_id)


@router.post("/toggle", response_model=ReplenishmentSettings, operation_id="replenishment-toggle")
async def toggle(conn: Conn, _user: Reviewer, enabled: Annotated[bool, Query()]):
    """Turns the loop on or off; turning it on checks every character with a deficit."""
    settings, to_check = await replenish.toggle(conn, enabled)
    for character_id in to_check:
        await enqueue_check(character_id, "enabled")
    return settings


@router.post("/target", response_model=ReplenishmentCharacter, operation_id="replenishment-target")
async def target(conn: Conn, _user: Reviewer, target: Annotated[int, Query(ge=0, le=MAX_TARGET)],
                 character_slug: Annotated[str, Query(min_length=1, max_length=63)], project_id: Id | None = None):
    """Sets a character's target of approved images (clears a stop); without project_id the slug
    must name one character."""
    character_id = await replenish.resolve_character(conn, character_slug, project_id)
    result = await replenish.set_target(conn, character_id, target)
    await enqueue_check(character_id, "target")
    return result


@router.get("/readiness", response_model=Readiness, operation_id="replenishment-readiness")
async def readiness(conn: Conn, project_name: Annotated[str, Query(min_length=1, max_length=200)]):
    """Whether each active character of the project (by name, case-insensitive, or slug) has its target."""
    return await replenish.readiness(conn, project_name)


@router.put("/settings", response_model=ReplenishmentSettings, operation_id="replenishment-settings")
async def update_settings(conn: Conn, _user: Reviewer, body: ReplenishmentSettingsUpdate):
    """Changes any subset of the settings; while enabled, characters with a deficit are checked."""
    settings, to_check = await replenish.update_settings(conn, body)
    for character_id in to_check:
        await enqueue_check(character_id, "settings")
    return settings


@router.post("/run", response_model=ReplenishmentCharacter, operation_id="replenishment-run")
async def run(conn: Conn, settings: AppSettings, _user: Reviewer, character_id: Id):
    """Checks the character now; a stop after consecutive rejects is lifted first (resume)."""
    await replenish.active_character(conn, character_id)
    return await replenish.run(conn, settings, character_id)
