"""Replenishment: tops up each character's approved dataset images to a target.

Rules:
- Off by default (one studio settings row). A check of a character (after an approval or a
  rejection of its images, a finished generation, on demand, or the periodic sweep) queues one
  batch of generations when it has a deficit (target - approved) and every guard allows it:
  not stopped (after `max_consecutive_rejects` rejections in a row, counted from `reviews`, an
  approval resets; sticky until `run` resumes or the target changes), under today's
  `daily_limit` (UTC day; images, so a batch is trimmed to what is left), fewer than
  `pending_buffer` of its images pending review or being generated, its `cooldown_s` since its
  last batch over, fewer than `max_concurrent` batches in flight studio-wide (a batch is in
  flight while a generation of it is queued or running).
- A batch is `batch_size` trimmed to the daily room, to the room left in the pending buffer, and
  to the deficit not already covered by pending images (no overshoot).
- The decision is taken with the settings row locked (so decisions are one at a time, studio
  wide) and the character's state row locked, counts read after the locks; the generations
  (visual_pipeline.service.insert_generations, nested in the same transaction), the batch row and
  the state are written in that one transaction, and the jobs are deferred after the commit. A
  crash before the commit leaves nothing; after it, the batch is there once (the generation sweep
  re-queues lost jobs, and a retried check sees the batch through its guards).
- Before a batch, the character's automatic IP-Adapter reference images are refreshed from its
  best approved images (replenish_references.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from packages.approval import replenish_queries as queries
from packages.approval.replenish_references import refresh_references
from packages.approval.replenish_schemas import (
    Readiness, ReadinessCharacter, ReplenishmentBatch, ReplenishmentCharacter, ReplenishmentSettings,
    ReplenishmentSettingsUpdate, ReplenishmentStatus,
)
from packages.core.db import transaction
from packages.core.errors import Conflict, NotFound
from packages.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Plan:
    size: int  # 0: no batch
    blocked: str | None  # why not: disabled|done|stopped|daily_limit|waiting|review|cooldown|concurrency|archived


def pending_total(view) -> int:
    return view["pending"] + view["in_flight"]


def plan_batch(settings, view, batches_in_flight: int) -> Plan:
    """What a check decides for the character (pure: the caller read everything under its locks)."""
    deficit = max(0, view["target"] - view["approved"])
    if not settings["enabled"]:
        return Plan(0, "disabled")
    if deficit == 0:
        return Plan(0, "done")
    if view["stopped_reason"] or view["consecutive_rejects"] >= settings["max_consecutive_rejects"]:
        return Plan(0, "stopped")
    daily_room = settings["daily_limit"] - view["daily_count"]
    if daily_room <= 0:
        return Plan(0, "daily_limit")
    buffer_room = settings["pending_buffer"] - pending_total(view)
    if buffer_room <= 0:
        return Plan(0, "waiting")
    uncovered = deficit - pending_total(view)
    if uncovered <= 0:
        return Plan(0, "review")  # what is pending would reach the target if approved
    if view["cooldown_until"] is not None and view["cooldown_until"] > view["at"]:
        return Plan(0, "cooldown")
    if batches_in_flight >= settings["max_concurrent"]:
        return Plan(0, "concurrency")
    return Plan(min(settings["batch_size"], daily_room, buffer_room, uncovered), None)


def state_of(settings, view) -> tuple[str, str | None]:
    """(state, stopped_reason) as the status shows them."""
    if not settings["enabled"]:
        state = "disabled"
    elif view["approved"] >= view["target"]:
        state = "done"
    elif (view["stopped_reason"] or view["consecutive_rejects"] >= settings["max_consecutive_rejects"]
          or view["daily_count"] >= settings["daily_limit"]):
        state = "stopped"  # as plan_batch decides: the count stops it before a check stores the reason
    elif view["batch_in_flight"] or view["batch_pending"]:
        state = "running"
    elif pending_total(view) >= settings["pending_buffer"]:
        state = "waiting"
    elif view["cooldown_until"] is not None and view["cooldown_until"] > view["at"]:
        state = "cooldown"
    else:
        state = "idle"
    reason = view["stopped_reason"]
    if reason is None and view["consecutive_rejects"] >= settings["max_consecutive_rejects"]:
        reason = "consecutive_rejects"
    if reason is None and view["daily_count"] >= settings["daily_limit"]:
        reason = "daily_limit"
    return state, reason


def character_read(settings, view) -> ReplenishmentCharacter:
    state, reason = state_of(settings, view)
    return ReplenishmentCharacter(
        character_id=view["character_id"], character_slug=view["character_slug"],
        character_name=view["character_name"], project_id=view["project_id"], project_slug=view["project_slug"],
        target=view["target"], approved=view["approved"], pending=view["pending"], in_flight=view["in_flight"],
        deficit=max(0, view["target"] - view["approved"]), daily_count=view["daily_count"],
        consecutive_rejects=view["consecutive_rejects"], last_run_at=view["last_run_at"],
        cooldown_until=view["cooldown_until"], stopped_reason=reason, state=state)


# -- the check --------------------------------------------------------------------------------

@dataclass
class CheckResult:
    plan: Plan
    generation_ids: list[int]
    retry_at: datetime | None = None  # when a check blocked by the cooldown may pass


async def check(conn: asyncpg.Connection, settings: Settings, character_id: int, *, trigger: str) -> CheckResult:
    """Checks the character's deficit and queues one batch when every guard allows it."""
    from packages.visual_pipeline.jobs import enqueue_generation

    character = await queries.character_flags(conn, character_id)
    if character is None or character["archived"]:
        return CheckResult(Plan(0, "archived"), [])
    first = plan_batch(await queries.get_settings(conn), await queries.character_view(conn, character_id),
                       await queries.batches_in_flight(conn))
    if first.blocked in ("disabled", "done"):  # nothing to decide: no lock taken
        return CheckResult(first, [])
    if first.size:  # before the batch, outside the deciding transaction (it copies files)
        await refresh_references(conn, settings, character_id)
    async with transaction(conn) as tx:
        studio = await queries.get_settings(conn, for_update=True)
        await queries.lock_state(conn, character_id)
        view = await queries.character_view(conn, character_id)
        stop = view["consecutive_rejects"] >= studio["max_consecutive_rejects"] and view["stopped_reason"] is None
        await queries.record_rejects(conn, character_id, view["consecutive_rejects"], stop and studio["enabled"])
        in_flight = await queries.batches_in_flight(conn)
        plan = plan_batch(studio, view, in_flight)
        if not plan.size:
            retry = view["cooldown_until"] if plan.blocked == "cooldown" else None
            return CheckResult(plan, [], retry)
        ids = await _create_generations(conn, settings, character_id, plan.size)
        await queries.insert_batch(
            conn, project_id=view["project_id"], character_id=character_id, size=plan.size,
            reason=f"{trigger}: {view['approved']} of {view['target']} approved", generation_ids=ids,
            pending_before=pending_total(view), in_flight_before=in_flight, daily_before=view["daily_count"])
        await queries.record_batch(conn, character_id, plan.size)
        await tx.emit(ReplenishmentBatch(project_id=view["project_id"], character_id=character_id,
                                         generation_ids=ids, reason=trigger))
    for gen_id in ids:  # after the commit; a job lost here is re-queued by the periodic sweep
        await enqueue_generation(gen_id)
    log.info("replenishment: character %s batch of %s (%s)", character_id, plan.size, trigger)
    return CheckResult(plan, ids)


async def _create_generations(conn, settings: Settings, character_id: int, count: int) -> list[int]:
    from packages.visual_pipeline.schemas import GenerationCreate
    from packages.visual_pipeline.service import insert_generations

    return await insert_generations(conn, settings, GenerationCreate(character_id=character_id, count=count))


# -- reads ------------------------------------------------------------------------------------

def settings_read(row) -> ReplenishmentSettings:
    return ReplenishmentSettings(**dict(row))


async def status(conn: asyncpg.Connection, project_id: int | None) -> ReplenishmentStatus:
    studio = await queries.get_settings(conn)
    views = await queries.character_views(conn, project_id)
    return ReplenishmentStatus(settings=settings_read(studio), active_batches=await queries.batches_in_flight(conn),
                               characters=[character_read(studio, v) for v in views])


async def character_status(conn: asyncpg.Connection, character_id: int) -> ReplenishmentCharacter:
    return character_read(await queries.get_settings(conn), await queries.character_view(conn, character_id))


async def readiness(conn: asyncpg.Connection, project_name: str) -> Readiness:
    """Whether every active character of the project has reached its target."""
    projects = await queries.find_project(conn, project_name)
    if not projects:
        raise NotFound(f"No project named '{project_name}'", code="project_not_found")
    project = projects[0]
    items = []
    for row in await queries.readiness(conn, project["id"]):
        missing = max(0, row["target"] - row["approved"])
        items.append(ReadinessCharacter(**dict(row), missing=missing, ready=missing == 0))
    return Readiness(project_id=project["id"], project_name=project["name"],
                     ready=all(i.ready for i in items), characters=items)


# -- writes -----------------------------------------------------------------------------------

async def toggle(conn: asyncpg.Connection, enabled: bool) -> tuple[ReplenishmentSettings, list[int]]:
    """Turns the loop on or off; on: returns the characters with a deficit, to check."""
    async with transaction(conn):
        row = await queries.update_settings(conn, {"enabled": enabled})
    return settings_read(row), (await queries.characters_with_deficit(conn) if enabled else [])


async def update_settings(conn: asyncpg.Connection, body: ReplenishmentSettingsUpdate) -> tuple[
        ReplenishmentSettings, list[int]]:
    fields = body.model_dump(exclude_unset=True)
    async with transaction(conn):
        row = (await queries.update_settings(conn, fields) if fields
               else await queries.get_settings(conn, for_update=True))
    return settings_read(row), (await queries.characters_with_deficit(conn) if row["enabled"] else [])


async def resolve_character(conn: asyncpg.Connection, slug: str, project_id: int | None) -> int:
    rows = [r for r in await queries.find_character(conn, slug, project_id) if not r["archived"]]
    if not rows:
        raise NotFound(f"No character with slug '{slug}'", code="character_not_found")
    if len(rows) > 1:
        raise Conflict(f"Several projects have a character '{slug}'; give project_id", code="ambiguous_character")
    return rows[0]["id"]


async def active_character(conn: asyncpg.Connection, character_id: int):
    character = await queries.character_flags(conn, character_id)
    if character is None:
        raise NotFound("No character with that id", code="character_not_found")
    if character["archived"]:
        raise Conflict("The character is archived; restore it first", code="character_archived")
    return character


async def set_target(conn: asyncpg.Connection, character_id: int, target: int) -> ReplenishmentCharacter:
    """Sets the character's target; clears a stop and restarts the consecutive-reject count."""
    async with transaction(conn):
        await queries.lock_state(conn, character_id)
        await queries.set_target(conn, character_id, target)
    return await character_status(conn, character_id)


async def run(conn: asyncpg.Connection, settings: Settings, character_id: int) -> ReplenishmentCharacter:
    """Resumes a character stopped by consecutive rejects (stored by a check, or counted already,
    as the status shows it), then checks it now."""
    async with transaction(conn):
        await queries.lock_state(conn, character_id)
        view = await queries.character_view(conn, character_id)
        studio = await queries.get_settings(conn)
        if view["stopped_reason"] or view["consecutive_rejects"] >= studio["max_consecutive_rejects"]:
            await queries.resume(conn, character_id)
    await check(conn, settings, character_id, trigger="run")
    return await character_status(conn, character_id)
