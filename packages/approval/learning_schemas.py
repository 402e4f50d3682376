"""Response shapes of learning (what goes with approvals and rejections, quality drift) and of
auto-correction."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Strategy = Literal["fix_quality", "fix_resolution", "fix_blur", "fix_brightness", "fix_contrast", "fix_appearance",
                   "fix_solo"]
Outcome = Literal["queued", "approved", "rejected", "failed"]


class DriftRead(BaseModel):
    alert: bool
    window: int  # decisions in the rolling window
    rolling_rate: float | None
    baseline_rate: float | None
    message: str | None


class ParameterStat(BaseModel):
    parameter: str  # checkpoint | cfg | steps | sampler | seed_range | prompt_term | lora_strength | correction_strategy
    value: str
    approved: int
    rejected: int
    rate: float


class ReasonCount(BaseModel):
    reason: str
    count: int


class Suggestion(BaseModel):
    parameter: str
    value: str
    rate: float
    support: int  # decided images made with this value


class CorrectionStat(BaseModel):
    strategy: Strategy
    queued: int
    approved: int
    rejected: int
    failed: int


class LearningRead(BaseModel):
    character_id: int
    decisions: int
    approved: int
    rejected: int
    approval_rate: float | None
    drift: DriftRead
    parameters: list[ParameterStat]
    reasons: list[ReasonCount]
    suggested: list[Suggestion]
    corrections: list[CorrectionStat]


class CorrectionSettings(BaseModel):
    enabled: bool


class CorrectionRead(BaseModel):
    id: int
    image_id: int
    character_id: int
    strategy: Strategy
    reason: str | None
    params_before: dict
    params_after: dict
    generation_id: int | None
    outcome: Outcome
    created_at: datetime
