"""Events of the story domain (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.core.events import Event


class ProjectEvent(Event):
    project_id: int


class ProjectCreated(ProjectEvent):
    type: ClassVar[str] = "project.created"


class ProjectUpdated(ProjectEvent):
    type: ClassVar[str] = "project.updated"


class ProjectArchived(ProjectEvent):
    type: ClassVar[str] = "project.archived"


class ProjectRestored(ProjectEvent):
    type: ClassVar[str] = "project.restored"


class StyleEvent(Event):
    style_id: int


class StyleCreated(StyleEvent):
    type: ClassVar[str] = "style.created"


class StyleUpdated(StyleEvent):
    type: ClassVar[str] = "style.updated"


class StyleDeleted(StyleEvent):
    type: ClassVar[str] = "style.deleted"


class StorylineEvent(Event):
    project_id: int
    storyline_id: int


class StorylineCreated(StorylineEvent):
    type: ClassVar[str] = "storyline.created"


class StorylineUpdated(StorylineEvent):
    type: ClassVar[str] = "storyline.updated"


class StorylineDeleted(StorylineEvent):
    type: ClassVar[str] = "storyline.deleted"


class WorldSettingsUpdated(Event):
    type: ClassVar[str] = "world_settings.updated"
    project_id: int
    world_settings_id: int
