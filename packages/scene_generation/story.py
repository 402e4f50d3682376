"""Story-to-Scenes: the project's storyline, world settings and characters go to Ollama with a JSON
schema as `format` (structured output); the answer — 3 to 8 scenes of 2 to 5 shots (type,
description, motion prompt, 2-5 s, optional dialogue) — is validated strictly against the same
pydantic model and saved as editable draft scenes in one transaction. An unusable answer is asked
again (3 tries), then reported; nothing is saved from it."""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
import httpx
import ollama
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from packages.approval.vision import client as ollama_client
from packages.core.db import transaction
from packages.core.errors import Conflict, DomainError, Invalid
from packages.core.settings import Settings
from packages.scene_generation import events, queries
from packages.scene_generation.presets import preset

TRIES = 3
Text = Annotated[str, Field(max_length=600)]


class StoryUnavailable(DomainError):
    status = 503
    code = "ollama_unreachable"


class StoryFailed(DomainError):
    status = 502
    code = "story_invalid_answer"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ShotIdea(_Answer):
    shot_type: Literal["establishing", "wide", "medium", "close-up", "extreme-close-up", "action"]
    description: Annotated[str, Field(min_length=1, max_length=600)]
    motion_prompt: Text
    duration_s: Annotated[float, Field(ge=2, le=5)]
    dialogue_character: Annotated[str, Field(max_length=100)]  # "" when nobody speaks
    dialogue_text: Text


class SceneIdea(_Answer):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text
    location: Annotated[str, Field(max_length=200)]
    time_of_day: Annotated[str, Field(max_length=100)]
    weather: Annotated[str, Field(max_length=100)]
    mood: Annotated[str, Field(max_length=100)]
    shots: Annotated[list[ShotIdea], Field(min_length=2, max_length=5)]


class StoryAnswer(_Answer):
    scenes: Annotated[list[SceneIdea], Field(min_length=3, max_length=8)]


def prompt(project, storyline, world, characters) -> str:
    lines = [f'You are the director of the anime "{project["name"]}". Break its story into 3 to 8 scenes, '
             "each with 2 to 5 shots, as JSON only."]
    for label, value in (("genre", project["genre"]), ("premise", project["premise"])):
        if value:
            lines.append(f"{label}: {value}")
    if storyline:
        lines.append(f"storyline: {storyline['title']}. {storyline['summary']}")
        for label in ("theme", "tone"):
            if storyline[label]:
                lines.append(f"{label}: {storyline[label]}")
        for arc in storyline["arcs"] or []:
            lines.append(f"arc: {arc if isinstance(arc, str) else arc.get('title', '')} "
                         f"{'' if isinstance(arc, str) else arc.get('description', '')}".rstrip())
    if world:
        for label in ("setting", "art_direction", "cinematography"):
            if world[label]:
                lines.append(f"{label.replace('_', ' ')}: {world[label]}")
    if characters:
        lines.append("characters (use these exact names for dialogue):")
        lines += [f"- {c['name']}: {c['design_prompt']}" for c in characters]
    lines += ["For each shot: shot_type (establishing, wide, medium, close-up, extreme-close-up or action), a "
              "visual description for image generation, a motion_prompt (camera and character motion), "
              "duration_s from 2 to 5, and optional dialogue (dialogue_character and dialogue_text, both "
              "empty when nobody speaks)."]
    return "\n".join(lines)


async def _ask(settings: Settings, text: str) -> StoryAnswer:
    errors = []
    async with ollama_client(settings) as client:
        for _ in range(TRIES):
            try:
                response = await client.chat(model=settings.story_model, messages=[{"role": "user", "content": text}],
                                             format=StoryAnswer.model_json_schema(), options={"temperature": 0.7})
            except ollama.ResponseError as exc:
                if exc.status_code == 404:
                    raise StoryFailed(f"Ollama at {settings.ollama_host} has no model '{settings.story_model}' "
                                      f"(run `ollama pull {settings.story_model}` or set ANIME_STUDIO_STORY_MODEL)",
                                      code="story_model_missing") from None
                errors.append(f"Ollama error: {exc.error}")
                continue
            except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise StoryUnavailable(f"Cannot reach Ollama at {settings.ollama_host} ({type(exc).__name__}); "
                                       "is it running?") from None
            except httpx.HTTPError as exc:
                errors.append(f"the answer broke off ({type(exc).__name__})")
                continue
            try:
                return StoryAnswer.model_validate_json(response.message.content or "")
            except ValidationError as exc:
                first = exc.errors()[0]
                errors.append(f"{'.'.join(str(p) for p in first['loc']) or 'answer'}: {first['msg']}")
    raise StoryFailed(f"The model gave no usable answer in {TRIES} tries ({'; '.join(errors)})")


async def scenes_from_story(conn: asyncpg.Connection, settings: Settings, project_id: int,
                            storyline_id: int | None) -> list[int]:
    if not settings.ollama_host:
        raise Conflict("Story-to-Scenes needs an Ollama server: set OLLAMA_HOST", code="ollama_not_configured")
    project = await conn.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)
    if project is None:
        raise Invalid("No project with that id", code="project_not_found", field="project_id")
    if storyline_id is not None:
        storyline = await conn.fetchrow("SELECT * FROM storylines WHERE id = $1 AND project_id = $2",
                                        storyline_id, project_id)
        if storyline is None:
            raise Invalid("No storyline with that id in this project", code="storyline_not_found",
                          field="storyline_id")
    else:
        storyline = await conn.fetchrow("SELECT * FROM storylines WHERE project_id = $1 ORDER BY id DESC LIMIT 1",
                                        project_id)
    if storyline is None and not project["premise"].strip():
        raise Conflict("Write a storyline or the project's premise first", code="no_story")
    world = await conn.fetchrow("SELECT * FROM world_settings WHERE project_id = $1", project_id)
    characters = await conn.fetch("SELECT id, name, design_prompt FROM characters WHERE project_id = $1 "
                                  "AND NOT archived ORDER BY id", project_id)
    answer = await _ask(settings, prompt(project, storyline, world, characters))
    return await _save(conn, project_id, storyline["id"] if storyline else None, answer, characters)


def _present(text: str, characters) -> list[int]:
    folded = text.casefold()
    return [c["id"] for c in characters if c["name"].casefold() in folded][:8]


async def _save(conn, project_id: int, storyline_id: int | None, answer: StoryAnswer, characters) -> list[int]:
    by_name = {c["name"].casefold(): c["id"] for c in characters}
    ids = []
    async with transaction(conn) as tx:
        for idea in answer.scenes:
            scene_id = await queries.insert_scene(conn, project_id, {
                "title": idea.title.strip(), "description": idea.description, "location": idea.location,
                "time_of_day": idea.time_of_day, "weather": idea.weather, "mood": idea.mood,
                "target_duration_s": sum(s.duration_s for s in idea.shots), "music_mode": "mood",
                "accept_animatics": False}, storyline_id)
            for position, shot in enumerate(idea.shots, start=1):
                speaker = by_name.get(shot.dialogue_character.strip().casefold())
                await queries.insert_shot(conn, scene_id, position, {
                    "shot_type": shot.shot_type, "camera_angle": preset(shot.shot_type).camera_angle,
                    "duration_s": shot.duration_s, "prompt": shot.description, "negative_prompt": "",
                    "motion_prompt": shot.motion_prompt, "character_ids": _present(shot.description, characters),
                    "source_output_id": None, "dialogue_character_id": speaker,
                    "dialogue_text": shot.dialogue_text.strip(), "transition": "dissolve", "transition_s": 0.3})
            await tx.emit(events.SceneCreated(project_id=project_id, scene_id=scene_id))
            ids.append(scene_id)
    return ids
