"""Request and response shapes of the Scene Builder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ShotType = Literal["establishing", "wide", "medium", "close-up", "extreme-close-up", "action"]
Transition = Literal["dissolve", "fade", "wipe", "cut"]
MusicMode = Literal["mood", "none"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Seconds = Annotated[float, Field(gt=0, le=600)]
ShotSeconds = Annotated[float, Field(ge=1, le=10)]
TransitionSeconds = Annotated[float, Field(ge=0, le=2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MotionPreset(BaseModel):
    shot_type: ShotType
    label: str
    camera_angle: str
    default_duration_s: float
    animatic_motion: Literal["push-in", "pan", "tilt", "shake"]
    motion_prompts: list[str]


# -- scenes -----------------------------------------------------------------------------------

class SceneFields(Strict):
    description: Text = ""
    location: Short = ""
    time_of_day: Short = ""
    weather: Short = ""
    mood: Short = ""
    target_duration_s: Seconds | None = None
    music_mode: MusicMode = "mood"
    accept_animatics: bool = False


class SceneCreate(SceneFields):
    project_id: int
    title: Title


class SceneUpdate(Strict):
    title: Title | None = None
    description: Text | None = None
    location: Short | None = None
    time_of_day: Short | None = None
    weather: Short | None = None
    mood: Short | None = None
    target_duration_s: Seconds | None = None
    music_mode: MusicMode | None = None
    accept_animatics: bool | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"target_duration_s"})


class SceneRead(BaseModel):
    id: int
    project_id: int
    position: int
    title: str
    description: str
    location: str
    time_of_day: str
    weather: str
    mood: str
    target_duration_s: float | None
    music_mode: MusicMode
    accept_animatics: bool
    # partial: stopped by its budget at the last finished shot (step says why)
    status: Literal["draft", "queued", "generating", "assembling", "done", "failed", "cancelled", "partial"]
    progress: float
    step: str
    error: str | None
    shot_count: int
    shots_done: int
    has_animatics: bool
    publishable: bool  # done, and either no animatic shot or the user accepts animatics
    duration_s: float | None
    output_url: str | None
    engine: str | None = None  # the strategy its shots render with (a pilot's winner); None: the chain
    steps: int | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> "SceneRead":
        data = dict(row)
        data["output_url"] = f"scenes/{row['id']}/output" if row["output_path"] else None
        data["publishable"] = (row["status"] == "done" and bool(row["output_path"])
                               and (not row["has_animatics"] or row["accept_animatics"]))
        return cls.model_validate(data)


# -- shots ------------------------------------------------------------------------------------

class ShotCreate(Strict):
    shot_type: ShotType = "medium"
    camera_angle: Short = ""
    duration_s: ShotSeconds = 3.0
    prompt: Text = ""
    negative_prompt: Text = ""
    motion_prompt: Text = ""
    character_ids: Annotated[list[int], Field(max_length=8)] = []
    source_output_id: int | None = None
    dialogue_character_id: int | None = None
    dialogue_text: Text = ""
    transition: Transition = "dissolve"
    transition_s: TransitionSeconds = 0.3
    position: Annotated[int, Field(ge=1)] | None = None


class ShotUpdate(Strict):
    shot_type: ShotType | None = None
    camera_angle: Short | None = None
    duration_s: ShotSeconds | None = None
    prompt: Text | None = None
    negative_prompt: Text | None = None
    motion_prompt: Text | None = None
    character_ids: Annotated[list[int], Field(max_length=8)] | None = None
    source_output_id: int | None = None
    dialogue_character_id: int | None = None
    dialogue_text: Text | None = None
    transition: Transition | None = None
    transition_s: TransitionSeconds | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"source_output_id", "dialogue_character_id"})


class ShotAttempt(BaseModel):
    attempt: int
    generation_id: int
    seed: int
    steps: int | None
    engine: str | None
    score: float | None
    threshold: float
    passed: bool
    reviewer: Literal["vision", "metrics"] | None
    error: str | None
    video_output_id: int | None = None


class ShotRead(BaseModel):
    id: int
    scene_id: int
    position: int
    shot_type: ShotType
    camera_angle: str
    duration_s: float
    prompt: str
    negative_prompt: str
    motion_prompt: str
    character_ids: list[int]
    source_output_id: int | None
    dialogue_character_id: int | None
    dialogue_text: str
    transition: Transition
    transition_s: float
    status: Literal["pending", "generating", "reviewing", "done", "failed"]
    attempt: int
    attempts: list[ShotAttempt]
    engine: str | None
    seed: int | None
    steps: int | None
    quality_score: float | None
    threshold: float | None
    gate_passed: bool | None
    is_animatic: bool
    error: str | None
    generation_id: int | None
    video_output_id: int | None
    start_output_id: int | None  # the image the shot started from (gallery output)
    last_frame_output_id: int | None  # its last frame, what the next shot starts from
    hero_status: Literal["none", "queued", "rendering", "done", "failed"] = "none"  # its final re-render
    hero_generation_id: int | None = None
    hero_output_id: int | None = None
    hero_error: str | None = None
    video_url: str | None
    first_frame_url: str | None
    last_frame_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> "ShotRead":
        data = dict(row)
        base = f"scenes/{row['scene_id']}/shots/{row['id']}"
        data["video_url"] = f"{base}/video" if row["video_output_id"] else None
        data["first_frame_url"] = f"{base}/first-frame" if row["start_output_id"] else None
        data["last_frame_url"] = f"{base}/last-frame" if row["last_frame_output_id"] else None
        data["character_ids"] = list(row["character_ids"] or [])
        return cls.model_validate(data)


class SceneDetail(SceneRead):
    shots: list[ShotRead]


class StoryRequest(Strict):
    project_id: int
    storyline_id: int | None = None
