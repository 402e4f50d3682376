"""Events of pilots (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.scene_generation.events import SceneEvent


class PilotChanged(SceneEvent):
    """A pilot started, rendered a shot, was decided (critic or user) or stopped: read it again."""

    type: ClassVar[str] = "pilot.changed"
    pilot_id: int
    status: str
    step: str = ""
