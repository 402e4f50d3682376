"""Request and response shapes of episodes (see /work/briefs/episodes_api.md for the contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Status = Literal["draft", "assembling", "assembled", "publishing", "published", "failed"]
LinkMode = Literal["copy", "hardlink", "symlink"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Text = Annotated[str, StringConstraints(max_length=4000)]
Number = Annotated[int, Field(ge=1, le=9999)]
FadeSeconds = Annotated[float, Field(ge=0, le=2)]
# A user may set these; the job's states are the job's (assembling, publishing, published).
SettableStatus = Literal["draft", "assembled", "failed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EpisodeCreate(Strict):
    project: Slug  # the project's slug
    number: Number | None = None  # default: the project's highest number + 1
    title: Title
    description: Text = ""
    story_arc: Text = ""


class EpisodeUpdate(Strict):
    number: Number | None = None
    title: Title | None = None
    description: Text | None = None
    story_arc: Text | None = None
    status: SettableStatus | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset()


class ReorderRequest(Strict):
    scene_ids: Annotated[list[int], Field(max_length=1000)]


class AssembleRequest(Strict):
    fade_s: FadeSeconds = 0.0  # fade to black and back between scenes; 0 = straight cuts


class PublishRequest(Strict):
    link_mode: LinkMode | None = None  # default: ANIME_STUDIO_JELLYFIN_LINK_MODE


class EpisodeRead(BaseModel):
    id: int
    project_id: int
    number: int
    title: str
    description: str
    story_arc: str
    status: Status
    progress: float
    step: str
    error: str | None
    duration_s: float | None
    output_url: str | None
    thumbnail_url: str | None
    published_path: str | None
    published_at: datetime | None
    scene_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> "EpisodeRead":
        data = dict(row)
        data["output_url"] = f"episodes/{row['id']}/video" if row["output_path"] else None
        data["thumbnail_url"] = f"episodes/{row['id']}/thumbnail" if row["thumbnail_path"] else None
        return cls.model_validate(data)


class EpisodeScene(BaseModel):
    position: int
    scene_id: int
    title: str
    status: str
    duration_s: float | None
    thumbnail_url: str | None  # the first shot's first frame, when it has one
    has_output: bool

    @classmethod
    def from_row(cls, row) -> "EpisodeScene":
        data = dict(row)
        data["thumbnail_url"] = (f"scenes/{row['scene_id']}/shots/{row['first_shot_id']}/first-frame"
                                 if row["first_shot_id"] else None)
        return cls.model_validate(data)


class EpisodeDetail(EpisodeRead):
    scenes: list[EpisodeScene]


class JellyfinHealth(BaseModel):
    configured: bool  # JELLYFIN_URL and JELLYFIN_API_KEY are set
    library_dir: str | None
    reachable: bool | None  # None when not configured
    server_name: str | None = None
    version: str | None = None
    error: str | None = None
