"""Learning: per character, which generation parameters go with approvals and rejections and why,
what to use next, and the quality-drift alert.

Rules:
- Every decided image (status approved or rejected now, by a person, the vision model or the
  metrics review) counts towards the rates and, when rejected, its reason. Only generated images
  (images.generation_id) tell parameters; their effective values are read from the workflow that
  was submitted: KSampler cfg, steps, sampler_name and seed (bucketed into 8 ranges of 2^29),
  CheckpointLoaderSimple ckpt_name, LoraLoader strength_model, the terms of the positive
  CLIPTextEncode text that not every generated image shared, and the correction strategy of an
  image made by auto-correction.
- A suggestion is, per parameter, the value with the best approval rate among the values with at
  least SUGGEST_SUPPORT decided images, shown only when it beats the character's overall rate.
- Drift: the approval rate of the latest DRIFT_WINDOW decisions (one per image: its latest) against
  the rate of every decision before them. The alert is on when the window is full, the baseline
  has at least DRIFT_MIN_BASELINE decisions and rolling < baseline - DRIFT_DROP. Each check stores
  the state per character (learning_state); `quality.drift` is emitted when it turns on, so once
  per crossing: it can fire again only after a check found it off.
- Everything is computed on demand in SQL (learning_queries.py); nothing is kept in memory.
"""

from __future__ import annotations

from typing import ClassVar

import asyncpg

from packages.approval import learning_queries as queries
from packages.approval.learning_schemas import (
    CorrectionStat, DriftRead, LearningRead, ParameterStat, ReasonCount, Suggestion,
)
from packages.core.db import transaction
from packages.core.events import Event

DRIFT_WINDOW = 20
DRIFT_MIN_BASELINE = 20
DRIFT_DROP = 0.2
SUGGEST_SUPPORT = 3


class QualityDrift(Event):
    """A character's recent approval rate fell clearly below its baseline (emitted once per crossing)."""

    type: ClassVar[str] = "quality.drift"
    project_id: int
    character_id: int
    rolling_rate: float
    baseline_rate: float


def drift_of(row) -> DriftRead:
    """The drift rule applied to the DRIFT query's row."""
    rolling, baseline = row["rolling_rate"], row["baseline_rate"]
    alert = (row["window_count"] >= DRIFT_WINDOW and row["baseline_count"] >= DRIFT_MIN_BASELINE
             and rolling < baseline - DRIFT_DROP)
    message = None
    if alert:
        message = (f"Approval rate over the last {DRIFT_WINDOW} decisions is {rolling:.0%}, "
                   f"against {baseline:.0%} over the {row['baseline_count']} before")
    return DriftRead(alert=alert, window=DRIFT_WINDOW, rolling_rate=rolling, baseline_rate=baseline, message=message)


def _rate(approved: int, rejected: int) -> float:
    return approved / (approved + rejected)


def suggestions(parameters: list[ParameterStat], overall: float | None) -> list[Suggestion]:
    """Per parameter, the best-rated value with enough support, when it beats the overall rate."""
    if overall is None:
        return []
    best: dict[str, ParameterStat] = {}
    for stat in parameters:
        support = stat.approved + stat.rejected
        if support < SUGGEST_SUPPORT:
            continue
        current = best.get(stat.parameter)
        if current is None or (stat.rate, support) > (current.rate, current.approved + current.rejected):
            best[stat.parameter] = stat
    return [Suggestion(parameter=s.parameter, value=s.value, rate=s.rate, support=s.approved + s.rejected)
            for _, s in sorted(best.items()) if s.rate > overall]


async def learning_for(conn: asyncpg.Connection, character_id: int) -> LearningRead:
    totals = await queries.totals(conn, character_id)
    decisions = totals["decisions"]
    overall = totals["approved"] / decisions if decisions else None
    parameters = [ParameterStat(parameter=r["parameter"], value=r["value"], approved=r["approved"],
                                rejected=r["rejected"], rate=_rate(r["approved"], r["rejected"]))
                  for r in await queries.parameters(conn, character_id)]
    return LearningRead(
        character_id=character_id, decisions=decisions, approved=totals["approved"], rejected=totals["rejected"],
        approval_rate=overall, drift=drift_of(await queries.drift(conn, character_id, DRIFT_WINDOW)),
        parameters=parameters,
        reasons=[ReasonCount(reason=r["reason"], count=r["count"]) for r in await queries.reasons(conn, character_id)],
        suggested=suggestions(parameters, overall),
        corrections=[CorrectionStat(**dict(r)) for r in await queries.correction_summary(conn, character_id)])


async def check_drift(conn: asyncpg.Connection, project_id: int, character_id: int) -> DriftRead:
    """Recomputes the character's drift, stores it, and emits `quality.drift` when the alert turns on."""
    async with transaction(conn) as tx:
        state = await queries.lock_learning_state(conn, character_id)
        drift = drift_of(await queries.drift(conn, character_id, DRIFT_WINDOW))
        turned_on = drift.alert and not state["drift_alert"]
        await queries.set_learning_state(conn, character_id, alert=drift.alert, rolling_rate=drift.rolling_rate,
                                         baseline_rate=drift.baseline_rate, turned_on=turned_on)
        if turned_on:
            await tx.emit(QualityDrift(project_id=project_id, character_id=character_id,
                                       rolling_rate=drift.rolling_rate, baseline_rate=drift.baseline_rate))
    return drift
