"""A clip from one line of text (`anime-studio generate "..." --duration 30`): the prompt is planned
into shots by the Ollama story model when OLLAMA_HOST is set (structured output, durations scaled
to the requested length), else split evenly into shots of at most MAX_SHOT_S seconds; the shots
become a new scene of the project (shot 1 starts from a keyframe generated from the prompt) whose
job renders them across the farm and assembles them."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from packages.approval.vision import client as ollama_client
from packages.core.db import transaction
from packages.core.settings import Settings
from packages.scene_generation import events, queries
from packages.scene_generation.presets import preset

log = logging.getLogger(__name__)
MAX_SHOT_S = 5.0
MIN_SHOT_S = 1.0


class PlannedShot(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    shot_type: Annotated[str, Field(pattern="^(establishing|wide|medium|close-up|extreme-close-up|action)$")]
    description: Annotated[str, Field(min_length=1, max_length=600)]
    motion_prompt: Annotated[str, Field(max_length=600)]
    duration_s: Annotated[float, Field(ge=1, le=5)]


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    shots: Annotated[list[PlannedShot], Field(min_length=1, max_length=40)]


@dataclass
class Shot:
    shot_type: str
    prompt: str
    motion_prompt: str
    duration_s: float


def even_split(prompt: str, duration_s: float) -> list[Shot]:
    """ceil(duration / 5) shots of equal length, an establishing shot first."""
    count = max(1, math.ceil(duration_s / MAX_SHOT_S - 1e-9))
    length = max(MIN_SHOT_S, round(duration_s / count, 3))
    return [Shot("establishing" if n == 0 else "medium", prompt, "", length) for n in range(count)]


def _fitted(plan: Plan, prompt: str, duration_s: float) -> list[Shot]:
    """The model's shots with their lengths scaled to the requested duration (each kept 1-5 s)."""
    shots = plan.shots[:max(1, math.ceil(duration_s / MIN_SHOT_S))]
    total = sum(s.duration_s for s in shots)
    scale = duration_s / total
    out = [Shot(s.shot_type, f"{prompt}, {s.description}"[:2000], s.motion_prompt,
                min(MAX_SHOT_S, max(MIN_SHOT_S, round(s.duration_s * scale, 3)))) for s in shots]
    if abs(sum(s.duration_s for s in out) - duration_s) > 0.5:  # the plan cannot fill it: split evenly
        return even_split(prompt, duration_s)
    return out


async def plan(settings: Settings, prompt: str, duration_s: float) -> tuple[list[Shot], str]:
    """(shots, how they were planned)."""
    if not settings.ollama_host:
        return even_split(prompt, duration_s), "even split (no OLLAMA_HOST)"
    question = (f"Plan an anime clip of {duration_s:g} seconds from this idea: {prompt}\n"
                "Answer JSON only: shots, each with shot_type (establishing, wide, medium, close-up, "
                "extreme-close-up or action), a visual description for image generation, a motion_prompt "
                "(camera and character motion) and duration_s from 1 to 5.")
    try:
        async with ollama_client(settings) as client:
            response = await client.chat(model=settings.story_model, messages=[{"role": "user", "content": question}],
                                         format=Plan.model_json_schema(), options={"temperature": 0.7})
        return _fitted(Plan.model_validate_json(response.message.content or ""), prompt, duration_s), \
            f"planned by {settings.story_model}"
    except (ValidationError, ValueError) as exc:
        reason = f"the model's plan was unusable ({type(exc).__name__})"
    except Exception as exc:  # unreachable, missing model, broken answer: the even split still works
        reason = f"Ollama unavailable ({type(exc).__name__}: {exc})"
    log.info("clip plan: %s; splitting evenly", reason)
    return even_split(prompt, duration_s), f"even split ({reason})"


async def create_scene(conn: asyncpg.Connection, project_id: int, prompt: str, shots: list[Shot],
                       character_id: int | None = None) -> int:
    """The planned shots as a new scene of the project, in one transaction."""
    async with transaction(conn) as tx:
        scene_id = await queries.insert_scene(conn, project_id, {
            "title": prompt[:200] or "Clip", "description": prompt[:2000], "location": "", "time_of_day": "",
            "weather": "", "mood": "", "target_duration_s": round(sum(s.duration_s for s in shots), 3),
            "music_mode": "none", "accept_animatics": False})
        for position, shot in enumerate(shots, start=1):
            await queries.insert_shot(conn, scene_id, position, {
                "shot_type": shot.shot_type, "camera_angle": preset(shot.shot_type).camera_angle,
                "duration_s": shot.duration_s, "prompt": shot.prompt[:2000], "negative_prompt": "",
                "motion_prompt": shot.motion_prompt[:2000], "character_ids": [character_id] if character_id else [],
                "source_output_id": None, "dialogue_character_id": None, "dialogue_text": "",
                "transition": "dissolve", "transition_s": 0.3})
        await tx.emit(events.SceneCreated(project_id=project_id, scene_id=scene_id))
    return scene_id
