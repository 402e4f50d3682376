"""Events of the generation engine (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.core.events import Event


class GenerationEvent(Event):
    project_id: int
    generation_id: int
    character_id: int | None = None
    status: str
    progress: float = 0.0
    step: str = ""


class GenerationQueued(GenerationEvent):
    type: ClassVar[str] = "generation.queued"


class GenerationSubmitted(GenerationEvent):
    type: ClassVar[str] = "generation.submitted"
    backend_id: int


class GenerationProgress(GenerationEvent):
    type: ClassVar[str] = "generation.progress"
    has_preview: bool = False  # a new preview frame is at generations/{id}/preview


class GenerationRetrying(GenerationEvent):
    """An attempt failed and gave its backend slot back; the next starts after the backoff."""

    type: ClassVar[str] = "generation.retrying"
    error: str


class GenerationExecuted(GenerationEvent):
    """ComfyUI finished the prompt and the backend slot is free; the outputs are being saved."""

    type: ClassVar[str] = "generation.executed"


class GenerationCompleted(GenerationEvent):
    type: ClassVar[str] = "generation.completed"
    output_ids: list[int]


class GenerationFailed(GenerationEvent):
    type: ClassVar[str] = "generation.failed"
    error: str


class GenerationCancelled(GenerationEvent):
    type: ClassVar[str] = "generation.cancelled"


class BackendEvent(Event):
    backend_id: int


class BackendChanged(BackendEvent):
    type: ClassVar[str] = "backend.changed"


class BackendSlotFreed(BackendEvent):
    """A finished prompt gave its slot back and no job of its process took it over (pool.hand_on):
    waiting jobs anywhere may claim it (one is woken per event)."""

    type: ClassVar[str] = "backend.slot_freed"
