"""Request and response shapes of LoRA training."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from packages.characters.schemas import MAX_ID

Precision = Literal["fp32", "fp16", "bf16"]
ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")


class BaseModelRead(BaseModel):
    name: str  # what a run names as base_model: "<root>:<path relative to that root>"
    path: str  # shown to people: relative to the home (or to COMFYUI_MODELS_DIR) where possible
    kind: Literal["diffusers", "single_file"]
    architecture: Literal["sd15", "sdxl"]


class Readiness(BaseModel):
    character_id: int
    approved: int
    required: int
    ready: bool
    message: str


class TrainingParams(BaseModel):
    """What a run trains with; stored on the row as `params`."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(16, ge=1, le=256)
    alpha: float = Field(16, gt=0, le=1024)
    learning_rate: float = Field(1e-4, gt=0, le=1.0)
    epochs: int = Field(10, ge=1, le=1000)
    max_steps: int | None = Field(None, ge=1, le=200_000, description="stop after this many steps (wins over epochs)")
    batch_size: int = Field(1, ge=1, le=64)
    resolution: int = Field(512, ge=64, le=2048, description="a multiple of 64")
    train_text_encoder: bool = False
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    precision: Precision = "fp32"
    sample_every: int = Field(0, ge=0, le=200_000, description="a sample image every N steps; 0 for none")
    trigger: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\- ]+$",
                                description="the LoRA's trigger word; default: the character's slug")

    @model_validator(mode="after")
    def _resolution(self) -> TrainingParams:
        if self.resolution % 64:
            raise ValueError("resolution must be a multiple of 64")
        return self


class TrainingCreate(TrainingParams):
    character_id: int = Field(ge=1, le=MAX_ID)
    base_model: str = Field(min_length=1, max_length=1000, description="a name from GET /training/base-models")


class LossPoint(BaseModel):
    step: int
    loss: float


class SampleRead(BaseModel):
    step: int
    url: str


class TrainingRunRead(BaseModel):
    id: int
    character_id: int
    character_name: str
    project_id: int
    base_model: str
    params: dict
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    step: int
    total_steps: int
    epoch: int
    total_epochs: int
    loss: list[LossPoint]
    samples: list[SampleRead]
    eta_s: float | None
    peak_memory_mb: float | None
    output_path: str | None
    lora_id: int | None
    error: str | None
    log_tail: list[str]
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> TrainingRunRead:
        data = dict(row)
        data["samples"] = [{"step": s["step"], "url": f"training/runs/{row['id']}/samples/{s['file']}"}
                           for s in row["samples"]]
        return cls.model_validate({k: data[k] for k in cls.model_fields})


class LoraRead(BaseModel):
    id: int
    character_id: int
    run_id: int | None
    name: str
    path: str
    trigger: str | None
    architecture: Literal["sd15", "sdxl"]
    rank: int
    alpha: float
    active: bool
    created_at: datetime
