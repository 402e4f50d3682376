"""Rules and transactions of the story domain: projects, generation styles, storylines, world."""

from __future__ import annotations

import asyncpg

from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.schemas import changes
from packages.story import events, queries
from packages.story.schemas import (
    ProjectCreate, ProjectUpdate, StorylineCreate, StorylineUpdate, StyleCreate, StyleUpdate, WorldSettingsWrite,
)


async def _check_style(conn, style_id: int | None) -> None:
    if style_id is not None and not await queries.style_exists(conn, style_id):
        raise Invalid("No generation style with that id", code="style_not_found", field="default_style_id")


async def require_project(conn, project_id: int, field: str | None = None):
    row = await queries.get_project(conn, project_id)
    if row is None:
        if field:  # the id came in a body or query: the request is invalid, not the path
            raise Invalid("No project with that id", code="project_not_found", field=field)
        raise NotFound("No project with that id", code="project_not_found")
    return row


# -- projects ---------------------------------------------------------------------------------

async def create_project(conn: asyncpg.Connection, body: ProjectCreate):
    async with transaction(conn) as tx:
        await _check_style(conn, body.default_style_id)
        try:
            project_id = await queries.insert_project(conn, body.model_dump())
        except asyncpg.UniqueViolationError:
            raise Conflict(f"The slug '{body.slug}' is already used by another project",
                           code="slug_taken", field="slug") from None
        await tx.emit(events.ProjectCreated(project_id=project_id))
    return await queries.get_project(conn, project_id)


async def update_project(conn: asyncpg.Connection, project, body: ProjectUpdate):
    fields = changes(body, nullable=frozenset({"default_style_id"}))
    if not fields:
        return project
    if project["status"] == "archived" and "status" in fields:
        raise Conflict("Restore the project before changing its status", code="project_archived", field="status")
    async with transaction(conn) as tx:
        await _check_style(conn, fields.get("default_style_id"))
        await queries.update_project(conn, project["id"], fields)
        await tx.emit(events.ProjectUpdated(project_id=project["id"]))
    return await queries.get_project(conn, project["id"])


async def archive_project(conn: asyncpg.Connection, project):
    if project["status"] != "archived":
        async with transaction(conn) as tx:
            await queries.update_project(conn, project["id"], {"status": "archived",
                                                               "status_before_archive": project["status"]})
            await tx.emit(events.ProjectArchived(project_id=project["id"]))
    return await queries.get_project(conn, project["id"])


async def restore_project(conn: asyncpg.Connection, project):
    if project["status"] == "archived":
        async with transaction(conn) as tx:
            previous = await conn.fetchval("SELECT status_before_archive FROM projects WHERE id = $1", project["id"])
            await queries.update_project(conn, project["id"], {"status": previous or "development",
                                                               "status_before_archive": None})
            await tx.emit(events.ProjectRestored(project_id=project["id"]))
    return await queries.get_project(conn, project["id"])


# -- styles -----------------------------------------------------------------------------------

def _name_taken(name: str) -> Conflict:
    return Conflict(f"A style named '{name}' already exists", code="name_taken", field="name")


async def create_style(conn: asyncpg.Connection, body: StyleCreate):
    async with transaction(conn) as tx:
        try:
            row = await queries.insert_style(conn, body.model_dump())
        except asyncpg.UniqueViolationError:
            raise _name_taken(body.name) from None
        await tx.emit(events.StyleCreated(style_id=row["id"]))
    return row


async def update_style(conn: asyncpg.Connection, style, body: StyleUpdate):
    fields = changes(body)
    if not fields:
        return style
    async with transaction(conn) as tx:
        try:
            row = await queries.update_style(conn, style["id"], fields)
        except asyncpg.UniqueViolationError:
            raise _name_taken(fields["name"]) from None
        await tx.emit(events.StyleUpdated(style_id=style["id"]))
    return row


async def delete_style(conn: asyncpg.Connection, style) -> None:
    async with transaction(conn) as tx:
        if await queries.style_in_use(conn, style["id"]):
            raise Conflict("A project uses this style as its default; pick another style there first",
                           code="style_in_use")
        await queries.delete_style(conn, style["id"])
        await tx.emit(events.StyleDeleted(style_id=style["id"]))


# -- storylines -------------------------------------------------------------------------------

async def create_storyline(conn: asyncpg.Connection, body: StorylineCreate):
    await require_project(conn, body.project_id, field="project_id")
    async with transaction(conn) as tx:
        row = await queries.insert_storyline(conn, body.model_dump())
        await tx.emit(events.StorylineCreated(project_id=row["project_id"], storyline_id=row["id"]))
    return row


async def update_storyline(conn: asyncpg.Connection, storyline, body: StorylineUpdate):
    fields = changes(body)
    if not fields:
        return storyline
    async with transaction(conn) as tx:
        row = await queries.update_storyline(conn, storyline["id"], fields)
        await tx.emit(events.StorylineUpdated(project_id=row["project_id"], storyline_id=row["id"]))
    return row


async def delete_storyline(conn: asyncpg.Connection, storyline) -> None:
    async with transaction(conn) as tx:
        await queries.delete_storyline(conn, storyline["id"])
        await tx.emit(events.StorylineDeleted(project_id=storyline["project_id"], storyline_id=storyline["id"]))


# -- world settings ---------------------------------------------------------------------------

async def save_world_settings(conn: asyncpg.Connection, project_id: int, body: WorldSettingsWrite):
    await require_project(conn, project_id)
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    async with transaction(conn) as tx:
        row = await queries.upsert_world_settings(conn, project_id, fields)
        await tx.emit(events.WorldSettingsUpdated(project_id=project_id, world_settings_id=row["id"]))
    return row
