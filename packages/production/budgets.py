"""Budgets per project and per episode, in GPU-seconds or money. A job is admitted when what is
spent, plus the estimates already admitted and still in flight, plus its own estimate stays within
every budget of its scope. `check` locks the scope's budget rows until the caller's transaction
ends, and the caller records what it admitted in that transaction (admit_generation sets the
generation's estimate), so concurrent jobs are admitted one at a time and never overspend by more
than one job's estimate (the difference between its estimate and what it really used)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from packages.core.db import transaction
from packages.production import costs, events, queries
from packages.production.costs import Estimate, estimate_generation

__all__ = ["Estimate", "Scope", "Verdict", "admit_generation", "check", "check_shot", "estimate_generation",
           "scope_of_scene", "status"]
UNITS = ("gpu_seconds", "money")


@dataclass(frozen=True)
class Scope:
    project_id: int
    episode_ids: tuple[int, ...] = ()  # the episodes whose budgets also apply (those holding the scene)


@dataclass
class Verdict:
    allowed: bool
    reason: str = ""
    budget_id: int | None = None  # the refusing budget, or the one with least room left
    episode_id: int | None = None
    unit: str = "gpu_seconds"
    limit: float | None = None
    spent: float = 0.0
    committed: float = 0.0
    estimate: float = 0.0
    remaining: float | None = None
    warn: list = field(default_factory=list)  # budgets that just passed their warn_at share


def _fmt(unit: str, amount: float) -> str:
    return f"{amount:.2f}" if unit == "money" else f"{amount:.0f} GPU-s"


async def check(conn: asyncpg.Connection, scope: Scope, estimate: Estimate, *, slice_limit: float | None = None,
                slice_spent: float = 0.0) -> Verdict:
    """Whether `estimate` fits every budget of `scope` (and a pilot's slice when `slice_limit` is
    given, in the unit of the scope's first budget, else GPU-seconds). Must run inside a
    transaction: the budget rows stay locked until it ends."""
    if not conn.is_in_transaction():
        raise RuntimeError("budgets.check must run inside the transaction that records what it admits")
    rows = await queries.lock_budgets(conn, scope.project_id, list(scope.episode_ids))
    best: Verdict | None = None
    warn = []
    for budget in rows:
        unit, limit = budget["unit"], budget["limit"]
        used = await costs.spend(conn, budget["project_id"], budget["episode_id"])
        spent, committed, amount = used.spent(unit), used.committed(unit), estimate.amount(unit)
        verdict = Verdict(allowed=spent + committed + amount <= limit, budget_id=budget["id"],
                          episode_id=budget["episode_id"], unit=unit, limit=limit, spent=spent, committed=committed,
                          estimate=amount, remaining=round(limit - spent - committed, 6))
        if not verdict.allowed:
            where = f"episode {budget['episode_id']}" if budget["episode_id"] else "project"
            verdict.reason = (f"the {where} budget of {_fmt(unit, limit)} has {_fmt(unit, max(verdict.remaining, 0))} "
                              f"left and this needs about {_fmt(unit, amount)}")
            return verdict
        if not budget["warned"] and spent + committed + amount >= budget["warn_at"] * limit:
            warn.append(verdict)
        if best is None or verdict.remaining < best.remaining:
            best = verdict
    unit = rows[0]["unit"] if rows else "gpu_seconds"
    if slice_limit is not None and slice_spent + estimate.amount(unit) > slice_limit:
        return Verdict(allowed=False, unit=unit, limit=slice_limit, spent=slice_spent, estimate=estimate.amount(unit),
                       remaining=slice_limit - slice_spent, reason=f"the slice of {_fmt(unit, slice_limit)} is used up")
    verdict = best or Verdict(allowed=True, estimate=estimate.gpu_seconds)
    verdict.warn = warn
    return verdict


async def scope_of_scene(conn: asyncpg.Connection, scene_id: int) -> Scope:
    project_id = await conn.fetchval("SELECT project_id FROM scenes WHERE id = $1", scene_id)
    return Scope(project_id, tuple(await queries.episodes_of_scene(conn, scene_id)))


async def _emit(tx, verdict: Verdict, event_cls, project_id: int, subject: str, subject_id: int) -> None:
    await tx.emit(event_cls(project_id=project_id, budget_id=verdict.budget_id, episode_id=verdict.episode_id,
                            unit=verdict.unit, limit=verdict.limit, spent=verdict.spent, committed=verdict.committed,
                            estimate=verdict.estimate, subject=subject, subject_id=subject_id))


async def _warnings(conn, tx, verdict: Verdict, project_id: int, subject: str, subject_id: int) -> None:
    for warned in verdict.warn:
        await queries.mark_warned(conn, warned.budget_id)
        await _emit(tx, warned, events.BudgetWarning, project_id, subject, subject_id)


async def admit_generation(conn: asyncpg.Connection, generation_id: int) -> Verdict:
    """The generation job's check before it submits: admits the generation and reserves its
    estimate, or refuses it (budget.exceeded). A generation already admitted, finished or gone
    passes (a second run of the job changes nothing)."""
    async with transaction(conn) as tx:
        gen = await queries.generation_for_admission(conn, generation_id)
        if (gen is None or gen["status"] not in ("queued", "running") or gen["gpu_seconds"] is not None
                or gen["estimated_gpu_seconds"] is not None):
            return Verdict(allowed=True)
        params = gen["params"] or {}
        scene_id = params.get("scene_id")
        scope = await scope_of_scene(conn, int(scene_id)) if scene_id else Scope(gen["project_id"])
        engine = (params.get("engines") or [gen["engine"]])[0] if gen["kind"] == "video" else None
        estimate = await estimate_generation(conn, gen["project_id"], gen["kind"], duration_s=params.get("duration_s"),
                                             engine=engine)
        verdict = await check(conn, Scope(gen["project_id"], scope.episode_ids), estimate)
        if verdict.allowed:
            await queries.reserve_generation(conn, generation_id, estimate.gpu_seconds, estimate.cost)
            await _warnings(conn, tx, verdict, gen["project_id"], "generation", generation_id)
        else:
            await _emit(tx, verdict, events.BudgetExceeded, gen["project_id"], "generation", generation_id)
    return verdict


async def check_shot(conn: asyncpg.Connection, scene_id: int, duration_s: float,
                     engine: str | None = None) -> Verdict:
    """The scene job's check before it starts a shot (reserves nothing: the shot's generations are
    admitted by their own jobs). Refused: budget.exceeded about the scene."""
    async with transaction(conn) as tx:
        scope = await scope_of_scene(conn, scene_id)
        estimate = await estimate_generation(conn, scope.project_id, "video", duration_s=duration_s, engine=engine)
        verdict = await check(conn, scope, estimate)
        if not verdict.allowed:
            await _emit(tx, verdict, events.BudgetExceeded, scope.project_id, "scene", scene_id)
    return verdict


async def status(conn: asyncpg.Connection, project_id: int, episode_id: int | None = None) -> dict:
    """Spend vs budget of a scope with the forecast of what is queued (the UI's bar)."""
    budget = await queries.get_budget(conn, project_id, episode_id)
    used = await costs.spend(conn, project_id, episode_id)
    unit = budget["unit"] if budget else "gpu_seconds"
    spent, committed, queued = used.spent(unit), used.committed(unit), used.queued(unit)
    return {"budget": dict(budget) if budget else None, "unit": unit, "spent": spent, "committed": committed,
            "queued": round(queued, 6), "forecast": round(spent + committed + queued, 6),
            "remaining": round(budget["limit"] - spent - committed, 6) if budget else None,
            "gpu_seconds": used.gpu_seconds, "cost": used.cost}
