"""Events of LoRA training (stored and streamed; see packages/core/events.py). Every one carries the
run, the character and the project; progress is emitted at most a few times a second (the loss
series is on the row, the UI refetches it)."""

from __future__ import annotations

from typing import ClassVar

from packages.core.events import Event


class TrainingEvent(Event):
    project_id: int
    character_id: int
    run_id: int


class TrainingQueued(TrainingEvent):
    type: ClassVar[str] = "training.queued"


class TrainingStarted(TrainingEvent):
    type: ClassVar[str] = "training.started"
    total_steps: int
    resumed_from_step: int = 0


class TrainingProgress(TrainingEvent):
    type: ClassVar[str] = "training.progress"
    step: int
    total_steps: int
    epoch: int
    loss: float | None


class TrainingSample(TrainingEvent):
    type: ClassVar[str] = "training.sample"
    step: int
    url: str


class TrainingCompleted(TrainingEvent):
    type: ClassVar[str] = "training.completed"
    lora_id: int
    output_path: str


class TrainingFailed(TrainingEvent):
    type: ClassVar[str] = "training.failed"
    error: str


class TrainingCancelled(TrainingEvent):
    type: ClassVar[str] = "training.cancelled"
