"""HTTP for the story domain: /projects, /styles, /storylines, /world-settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.schemas import Page, PageParams, page_of, page_params
from packages.story import queries, service
from packages.story.schemas import (
    ARCHITECTURES, SAMPLERS, SCHEDULERS, ProjectCreate, ProjectRead, ProjectUpdate, StorylineCreate, StorylineRead,
    StorylineUpdate, StyleCreate, StyleOptions, StyleRead, StyleUpdate, WorldSettingsRead, WorldSettingsWrite,
)

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")
Paging = Annotated[PageParams, Depends(page_params)]


async def project_from_path(project_id: int, conn: Conn):
    row = await queries.get_project(conn, project_id)
    if row is None:
        raise NotFound("No project with that id", code="project_not_found")
    return row


async def style_from_path(style_id: int, conn: Conn):
    row = await queries.get_style(conn, style_id)
    if row is None:
        raise NotFound("No generation style with that id", code="style_not_found")
    return row


async def storyline_from_path(storyline_id: int, conn: Conn):
    row = await queries.get_storyline(conn, storyline_id)
    if row is None:
        raise NotFound("No storyline with that id", code="storyline_not_found")
    return row


ProjectRow = Annotated[dict, Depends(project_from_path)]
StyleRow = Annotated[dict, Depends(style_from_path)]
StorylineRow = Annotated[dict, Depends(storyline_from_path)]


# -- projects ---------------------------------------------------------------------------------

@router.get("/projects", response_model=Page[ProjectRead], operation_id="story-list_projects")
async def list_projects(
    conn: Conn, page: Paging,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern="^(development|production|completed|archived)$")] = None,
    include_archived: bool = False,
):
    rows, total = await queries.list_projects(conn, q=q, status=status, include_archived=include_archived,
                                              limit=page.limit, offset=page.offset)
    return page_of(ProjectRead, rows, total)


@router.post("/projects", response_model=ProjectRead, status_code=201, dependencies=[Director],
             operation_id="story-create_project")
async def create_project(body: ProjectCreate, conn: Conn):
    return ProjectRead.model_validate(dict(await service.create_project(conn, body)))


@router.get("/projects/by-slug/{slug}", response_model=ProjectRead, operation_id="story-get_project_by_slug")
async def get_project_by_slug(slug: str, conn: Conn):
    row = await queries.get_project_by_slug(conn, slug)
    if row is None:
        raise NotFound("No project with that slug", code="project_not_found")
    return ProjectRead.model_validate(dict(row))


@router.get("/projects/{project_id}", response_model=ProjectRead, operation_id="story-get_project")
async def get_project(project: ProjectRow):
    return ProjectRead.model_validate(dict(project))


@router.patch("/projects/{project_id}", response_model=ProjectRead, dependencies=[Director],
              operation_id="story-update_project")
async def update_project(project: ProjectRow, body: ProjectUpdate, conn: Conn):
    return ProjectRead.model_validate(dict(await service.update_project(conn, project, body)))


@router.post("/projects/{project_id}/archive", response_model=ProjectRead, dependencies=[Director],
             operation_id="story-archive_project")
async def archive_project(project: ProjectRow, conn: Conn):
    return ProjectRead.model_validate(dict(await service.archive_project(conn, project)))


@router.post("/projects/{project_id}/restore", response_model=ProjectRead, dependencies=[Director],
             operation_id="story-restore_project")
async def restore_project(project: ProjectRow, conn: Conn):
    return ProjectRead.model_validate(dict(await service.restore_project(conn, project)))


# -- generation styles ------------------------------------------------------------------------

@router.get("/styles", response_model=Page[StyleRead], operation_id="story-list_styles")
async def list_styles(conn: Conn, page: Paging):
    rows, total = await queries.list_styles(conn, page.limit, page.offset)
    return page_of(StyleRead, rows, total)


@router.get("/styles/options", response_model=StyleOptions, operation_id="story-style_options")
async def style_options():
    return StyleOptions(samplers=SAMPLERS, schedulers=SCHEDULERS, architectures=ARCHITECTURES)


@router.post("/styles", response_model=StyleRead, status_code=201, dependencies=[Director],
             operation_id="story-create_style")
async def create_style(body: StyleCreate, conn: Conn):
    return StyleRead.model_validate(dict(await service.create_style(conn, body)))


@router.get("/styles/{style_id}", response_model=StyleRead, operation_id="story-get_style")
async def get_style(style: StyleRow):
    return StyleRead.model_validate(dict(style))


@router.patch("/styles/{style_id}", response_model=StyleRead, dependencies=[Director], operation_id="story-update_style")
async def update_style(style: StyleRow, body: StyleUpdate, conn: Conn):
    return StyleRead.model_validate(dict(await service.update_style(conn, style, body)))


@router.delete("/styles/{style_id}", status_code=204, dependencies=[Director], operation_id="story-delete_style")
async def delete_style(style: StyleRow, conn: Conn):
    await service.delete_style(conn, style)
    return Response(status_code=204)


# -- storylines -------------------------------------------------------------------------------

@router.get("/storylines", response_model=Page[StorylineRead], operation_id="story-list_storylines")
async def list_storylines(conn: Conn, page: Paging, project_id: Annotated[int, Query(ge=1)]):
    rows, total = await queries.list_storylines(conn, project_id, page.limit, page.offset)
    return page_of(StorylineRead, rows, total)


@router.post("/storylines", response_model=StorylineRead, status_code=201, dependencies=[Director],
             operation_id="story-create_storyline")
async def create_storyline(body: StorylineCreate, conn: Conn):
    return StorylineRead.model_validate(dict(await service.create_storyline(conn, body)))


@router.get("/storylines/{storyline_id}", response_model=StorylineRead, operation_id="story-get_storyline")
async def get_storyline(storyline: StorylineRow):
    return StorylineRead.model_validate(dict(storyline))


@router.patch("/storylines/{storyline_id}", response_model=StorylineRead, dependencies=[Director],
              operation_id="story-update_storyline")
async def update_storyline(storyline: StorylineRow, body: StorylineUpdate, conn: Conn):
    return StorylineRead.model_validate(dict(await service.update_storyline(conn, storyline, body)))


@router.delete("/storylines/{storyline_id}", status_code=204, dependencies=[Director],
               operation_id="story-delete_storyline")
async def delete_storyline(storyline: StorylineRow, conn: Conn):
    await service.delete_storyline(conn, storyline)
    return Response(status_code=204)


# -- world settings (one per project, addressed by the project) --------------------------------

@router.get("/world-settings/{project_id}", response_model=WorldSettingsRead, operation_id="story-get_world_settings")
async def get_world_settings(project: ProjectRow, conn: Conn):
    row = await queries.get_world_settings(conn, project["id"])
    return WorldSettingsRead.model_validate(dict(row)) if row else WorldSettingsRead(id=None, project_id=project["id"])


@router.put("/world-settings/{project_id}", response_model=WorldSettingsRead, dependencies=[Director],
            operation_id="story-save_world_settings")
async def save_world_settings(project_id: int, body: WorldSettingsWrite, conn: Conn):
    return WorldSettingsRead.model_validate(dict(await service.save_world_settings(conn, project_id, body)))
