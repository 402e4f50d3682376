"""Request and response shapes of pilots (a scene's first K shots by 2-3 strategies) and hero passes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from packages.scene_generation.schemas import Strict

Engine = Literal["framepack", "ltx", "animatic"]
# An Ollama model name as `ollama pull` takes it (e.g. qwen2.5:7b, library/llama3.1:8b-instruct-q4_K_M)
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                             pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]


class StrategyCreate(Strict):
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    engine: Engine
    steps: Annotated[int, Field(ge=1, le=150)] | None = None  # the tier: None keeps the style's steps


class PilotCreate(Strict):
    k_shots: Annotated[int, Field(ge=1, le=5)] = 2
    budget_s: Annotated[float, Field(gt=0, le=1_000_000)] | None = None  # GPU-seconds, split evenly
    strategies: Annotated[list[StrategyCreate], Field(min_length=2, max_length=3)]
    continue_scene: bool = True  # once decided, the scene goes on with the winner
    critic_model: ModelName | None = None  # None: the rules critic alone; else it, then this Ollama model

    @field_validator("strategies")
    @classmethod
    def _distinct(cls, strategies: list[StrategyCreate]) -> list[StrategyCreate]:
        if len({s.label.casefold() for s in strategies}) != len(strategies):
            raise ValueError("each strategy needs its own label")
        return strategies


class PilotChoose(Strict):
    strategy_id: int


class PilotShot(BaseModel):
    shot_id: int
    position: int
    generation_id: int | None
    engine: str | None
    seed: int | None = None
    steps: int | None = None
    duration_s: float
    gpu_seconds: float
    score: float | None
    threshold: float
    passed: bool
    reviewer: str | None = None
    start_output_id: int | None = None
    video_output_id: int | None
    last_frame_output_id: int | None
    error: str | None


class StrategyRead(BaseModel):
    id: int
    position: int
    label: str
    engine: Engine
    steps: int | None
    budget_s: float | None
    spent_s: float
    status: Literal["running", "continued", "cancelled"]
    shots: list[PilotShot]
    qa_average: float | None
    pass_rate: float | None
    cost_per_passed_s: float | None  # GPU-seconds per second of passed video
    note: str


class PilotRead(BaseModel):
    id: int
    scene_id: int
    status: Literal["queued", "running", "decided", "failed", "cancelled"]
    k_shots: int
    budget_s: float | None
    winner_id: int | None
    decided_by: Literal["critic", "user"] | None
    critic_model: str | None  # the Ollama model asked after the rules critic (None: rules only)
    critic: str  # whose choice the critic's decision was: "rules" or "ollama:<model>"
    critic_notes: str
    continue_scene: bool
    step: str
    error: str | None
    strategies: list[StrategyRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_rows(cls, pilot, strategies) -> "PilotRead":
        return cls.model_validate({**dict(pilot), "strategies": [dict(s) for s in strategies]})


class HeroPassRead(BaseModel):
    scene_id: int
    shot_ids: list[int]  # the shots queued for their hero re-render
