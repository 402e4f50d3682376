"""Rules of the characters domain: creating, editing, archiving, and building the prompt.
Reference images have their own service in reference_images.py."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Path

from packages.characters import queries
from packages.characters.events import CharacterArchived, CharacterCreated, CharacterRestored, CharacterUpdated
from packages.characters.prompt import BuiltPrompt, build_prompt
from packages.characters.schemas import MAX_ID, AppearanceRead, CharacterCreate, CharacterRow, CharacterUpdate
from packages.core.db import Conn, transaction
from packages.core.errors import Conflict, Invalid, NotFound


async def load_character(conn: asyncpg.Connection, character_id: int) -> CharacterRow:
    row = await queries.get_character(conn, character_id)
    if row is None:
        raise NotFound(f"No character with id {character_id}", code="character_not_found")
    return CharacterRow(**dict(row))


async def load_character_by_slug(conn: asyncpg.Connection, project_id: int, slug: str) -> CharacterRow:
    row = await queries.get_character_by_slug(conn, project_id, slug)
    if row is None:
        raise NotFound("This project has no character with that slug", code="character_not_found")
    return CharacterRow(**dict(row))


async def character_from_path(character_id: Annotated[int, Path(ge=1, le=MAX_ID)], conn: Conn) -> CharacterRow:
    """Path loader: the character named by `{character_id}`, or 404 — once per request."""
    return await load_character(conn, character_id)


def _project_not_found(project_id: int) -> Invalid:
    return Invalid(f"No project with id {project_id}", code="project_not_found", field="project_id")


def _slug_taken(slug: str) -> Conflict:
    return Conflict(f"This project already has a character with the slug '{slug}'", code="slug_taken", field="slug")


async def list_characters(conn: asyncpg.Connection, *, project_id: int, archived: bool, q: str | None, limit: int,
                          offset: int) -> tuple[list[asyncpg.Record], int]:
    return await queries.list_characters(conn, project_id=project_id, archived=archived, q=q or None,
                                         limit=limit, offset=offset)


async def create_character(conn: asyncpg.Connection, body: CharacterCreate) -> CharacterRow:
    if not await queries.project_exists(conn, body.project_id):
        raise _project_not_found(body.project_id)
    try:
        async with transaction(conn) as tx:
            character_id = await queries.insert_character(
                conn, project_id=body.project_id, name=body.name, slug=body.slug, design_prompt=body.design_prompt,
                appearance_data=body.appearance_data.model_dump(), voice=body.voice)
            await tx.emit(CharacterCreated(project_id=body.project_id, character_id=character_id))
    except asyncpg.UniqueViolationError:
        raise _slug_taken(body.slug) from None
    except asyncpg.ForeignKeyViolationError:  # the project was deleted meanwhile
        raise _project_not_found(body.project_id) from None
    return await load_character(conn, character_id)


async def update_character(conn: asyncpg.Connection, character: CharacterRow, body: CharacterUpdate) -> CharacterRow:
    """Only the fields sent change. `appearance_data` is merged key by key: the keys sent replace
    the stored ones, the others stay."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return character
    if "appearance_data" in changes:
        stored = AppearanceRead(**character.appearance_data).model_dump()
        changes["appearance_data"] = {**character.appearance_data, **stored, **changes["appearance_data"]}
    async with transaction(conn) as tx:
        await queries.update_character(conn, character.id, changes)
        await tx.emit(CharacterUpdated(project_id=character.project_id, character_id=character.id))
    return await load_character(conn, character.id)


async def set_archived(conn: asyncpg.Connection, character: CharacterRow, archived: bool) -> CharacterRow:
    """Archiving hides a character from the default list and keeps everything it has. Archiving
    an archived character (or restoring an active one) changes nothing and emits nothing."""
    event = CharacterArchived if archived else CharacterRestored
    async with transaction(conn) as tx:
        if await queries.set_archived(conn, character.id, archived):
            await tx.emit(event(project_id=character.project_id, character_id=character.id))
    return await load_character(conn, character.id)


async def character_prompt(conn: asyncpg.Connection, character: CharacterRow) -> BuiltPrompt:
    """The character's generation prompt from its project's default style (409 `no_style`
    without one), with its active LoRA's trigger as generation adds it (lora_training.generation)."""
    from packages.lora_training.generation import with_active_lora

    style = await queries.default_style_for_project(conn, character.project_id)
    if style is None:
        raise Conflict("The character's project has no default generation style; choose one on the project first",
                       code="no_style")
    prompt, _ = await with_active_lora(conn, character.id, build_prompt(style, character.model_dump()))
    return prompt
