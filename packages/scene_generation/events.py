"""Events of the Scene Builder (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar, Literal

from packages.core.events import Event


class SceneEvent(Event):
    project_id: int
    scene_id: int


class SceneCreated(SceneEvent):
    type: ClassVar[str] = "scene.created"


class SceneUpdated(SceneEvent):
    type: ClassVar[str] = "scene.updated"


class SceneDeleted(SceneEvent):
    type: ClassVar[str] = "scene.deleted"


class ShotsChanged(SceneEvent):
    """A shot was created, edited, moved, deleted or reset: the scene's shots are to be read again."""

    type: ClassVar[str] = "scene.shots_changed"
    shot_id: int | None = None


class SceneProgress(SceneEvent):
    type: ClassVar[str] = "scene.progress"
    status: str
    progress: float
    step: str


class ShotProgress(SceneEvent):
    type: ClassVar[str] = "shot.progress"
    shot_id: int
    position: int
    status: str
    attempt: int
    engine: str | None = None
    quality_score: float | None = None
    threshold: float | None = None
    gate_passed: bool | None = None
    generation_id: int | None = None
    step: str = ""


class SceneCompleted(SceneEvent):
    type: ClassVar[str] = "scene.completed"
    output_url: str
    duration_s: float | None = None


class SceneAudioSkipped(SceneEvent):
    """The scene is assembled without a track (its dialogue or music could not be made)."""

    type: ClassVar[str] = "scene.audio_skipped"
    track: Literal["dialogue", "music"]
    reason: str


class SceneFailed(SceneEvent):
    type: ClassVar[str] = "scene.failed"
    error: str


class SceneCancelled(SceneEvent):
    type: ClassVar[str] = "scene.cancelled"
