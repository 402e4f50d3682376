"""Events of episodes (stored and streamed; see packages/core/events.py)."""

from typing import ClassVar

from packages.core.events import Event


class EpisodeEvent(Event):
    project_id: int
    episode_id: int


class EpisodeCreated(EpisodeEvent):
    type: ClassVar[str] = "episode.created"


class EpisodeUpdated(EpisodeEvent):
    """The episode's fields or its scenes (added, removed, moved) changed: read it again."""

    type: ClassVar[str] = "episode.updated"


class EpisodeDeleted(EpisodeEvent):
    type: ClassVar[str] = "episode.deleted"


class AssemblyProgress(EpisodeEvent):
    type: ClassVar[str] = "episode.assembly_progress"
    progress: float
    step: str


class EpisodeAssembled(EpisodeEvent):
    type: ClassVar[str] = "episode.assembled"
    output_url: str
    duration_s: float
    stream_copy: bool  # joined without re-encoding


class EpisodePublished(EpisodeEvent):
    type: ClassVar[str] = "episode.published"
    path: str
    jellyfin: dict  # {scanned: bool, error?: str}


class EpisodeUnpublished(EpisodeEvent):
    type: ClassVar[str] = "episode.unpublished"


class EpisodeFailed(EpisodeEvent):
    type: ClassVar[str] = "episode.failed"
    error: str
