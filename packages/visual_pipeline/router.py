"""HTTP for the generation engine: /generations, /backends, /gallery and output files."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import Invalid, NotFound
from packages.core.paths import inside_home
from packages.core.schemas import Page, PageParams, page_params
from packages.core.settings import AppSettings
from packages.visual_pipeline import queries, service
from packages.visual_pipeline.engine import preview_path
from packages.visual_pipeline.schemas import (
    BackendCreate, BackendRead, BackendUpdate, GalleryItem, GalleryPage, GenerationCreate, GenerationRead,
)

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")
Admin = require("admin")
Paging = Annotated[PageParams, Depends(page_params)]
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"}


async def generation_from_path(generation_id: int, conn: Conn):
    row = await queries.get_generation(conn, generation_id)
    if row is None:
        raise NotFound("No generation with that id", code="generation_not_found")
    return row


async def backend_from_path(backend_id: int, conn: Conn):
    row = await queries.get_backend(conn, backend_id)
    if row is None:
        raise NotFound("No backend with that id", code="backend_not_found")
    return row


Generation = Annotated[dict, Depends(generation_from_path)]
Backend = Annotated[dict, Depends(backend_from_path)]


# -- generations ------------------------------------------------------------------------------

@router.post("/generations", response_model=list[GenerationRead], status_code=201, dependencies=[Director],
             operation_id="generation-create_generations")
async def create_generations(body: GenerationCreate, conn: Conn, settings: AppSettings):
    ids = await service.create_generations(conn, settings, body)
    return [GenerationRead.from_row(await queries.get_generation(conn, i)) for i in ids]


@router.get("/generations", response_model=Page[GenerationRead], operation_id="generation-list_generations")
async def list_generations(conn: Conn, page: Paging, project_id: Annotated[int, Query(ge=1)],
                           status: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|cancelled)$")] = None,
                           character_id: Annotated[int | None, Query(ge=1)] = None):
    rows, total = await queries.list_generations(conn, project_id=project_id, status=status, character_id=character_id,
                                                 limit=page.limit, offset=page.offset)
    return Page(items=[GenerationRead.from_row(r) for r in rows], total=total)


@router.get("/generations/{generation_id}", response_model=GenerationRead, operation_id="generation-get_generation")
async def get_generation(generation: Generation):
    return GenerationRead.from_row(generation)


@router.get("/generations/{generation_id}/preview", response_class=FileResponse,
            operation_id="generation-get_preview", responses={200: {"content": {"image/jpeg": {}}}})
async def get_preview(generation: Generation, settings: AppSettings):
    """The latest preview frame ComfyUI sent while sampling (only while the generation runs)."""
    path = preview_path(settings, generation["id"])
    if generation["status"] != "running" or not path.is_file():
        raise NotFound("No preview for this generation now", code="no_preview")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/generations/{generation_id}/cancel", response_model=GenerationRead, dependencies=[Director],
             operation_id="generation-cancel_generation")
async def cancel_generation(generation: Generation, conn: Conn):
    await service.cancel_generation(conn, generation)
    return GenerationRead.from_row(await queries.get_generation(conn, generation["id"]))


@router.post("/generations/{generation_id}/retry", response_model=GenerationRead, dependencies=[Director],
             operation_id="generation-retry_generation")
async def retry_generation(generation: Generation, conn: Conn):
    await service.retry_generation(conn, generation)
    return GenerationRead.from_row(await queries.get_generation(conn, generation["id"]))


# -- backends ---------------------------------------------------------------------------------

@router.get("/backends", response_model=list[BackendRead], operation_id="generation-list_backends")
async def list_backends(conn: Conn):
    return [BackendRead.model_validate(dict(r)) for r in await queries.list_backends(conn)]


@router.post("/backends", response_model=BackendRead, status_code=201, dependencies=[Admin],
             operation_id="generation-create_backend")
async def create_backend(body: BackendCreate, conn: Conn):
    return BackendRead.model_validate(dict(await service.create_backend(conn, body)))


@router.get("/backends/{backend_id}", response_model=BackendRead, operation_id="generation-get_backend")
async def get_backend(backend: Backend):
    return BackendRead.model_validate(dict(backend))


@router.patch("/backends/{backend_id}", response_model=BackendRead, dependencies=[Admin],
              operation_id="generation-update_backend")
async def update_backend(backend: Backend, body: BackendUpdate, conn: Conn):
    return BackendRead.model_validate(dict(await service.update_backend(conn, backend, body)))


@router.delete("/backends/{backend_id}", status_code=204, dependencies=[Admin], operation_id="generation-delete_backend")
async def delete_backend(backend: Backend, conn: Conn):
    await service.delete_backend(conn, backend)


@router.post("/backends/{backend_id}/refresh", response_model=BackendRead, dependencies=[Admin],
             operation_id="generation-refresh_backend")
async def refresh_backend(backend: Backend, conn: Conn):
    return BackendRead.model_validate(dict(await service.refresh_backend(conn, backend["id"])))


# -- gallery ----------------------------------------------------------------------------------

def _cursor(created_at: datetime, output_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{output_id}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, _, output_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(stamp), int(output_id)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("That cursor is not one this API gave out", code="bad_cursor", field="before") from None


@router.get("/gallery", response_model=GalleryPage, operation_id="generation-gallery")
async def gallery(conn: Conn, project_id: Annotated[int, Query(ge=1)],
                  character_id: Annotated[int | None, Query(ge=1)] = None,
                  kind: Annotated[str | None, Query(pattern="^(image|video)$")] = None,
                  status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = None,
                  generation_id: Annotated[int | None, Query(ge=1)] = None,
                  since: datetime | None = None, until: datetime | None = None,
                  before: Annotated[str | None, Query(max_length=200)] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 100):
    rows = await queries.gallery_page(conn, project_id=project_id, character_id=character_id, kind=kind, status=status,
                                      generation_id=generation_id, since=since, until=until, before=_parse_cursor(before) if before else None,
                                      limit=limit)
    items = [_gallery_item(r) for r in rows]
    next_cursor = _cursor(rows[-1]["created_at"], rows[-1]["id"]) if len(rows) == limit else None
    return GalleryPage(items=items, next_cursor=next_cursor)


def _gallery_item(row) -> GalleryItem:
    return GalleryItem(**dict(row), file_url=f"outputs/{row['id']}/file", thumbnail_url=f"outputs/{row['id']}/thumbnail")


@router.get("/outputs/{output_id}", response_model=GalleryItem, operation_id="generation-get_output")
async def get_output(output_id: int, conn: Conn):
    row = await queries.gallery_item(conn, output_id)
    if row is None:
        raise NotFound("No such output", code="output_not_found")
    return _gallery_item(row)


async def _output_file(conn, settings, output_id: int, column: str) -> FileResponse:
    row = await queries.get_output(conn, output_id)
    if row is None or not row[column]:
        raise NotFound("No such output", code="output_not_found")
    path = inside_home(settings, settings.home / row[column])
    if not path.is_file():
        raise NotFound("The output's file is missing (run `anime-studio doctor`)", code="file_missing")
    return FileResponse(path, headers=MEDIA_HEADERS)  # answers Range requests, so players can seek


@router.get("/outputs/{output_id}/file", response_class=FileResponse, operation_id="generation-output_file",
            responses={200: {"content": {"image/png": {}, "video/mp4": {}}}, 206: {"description": "Partial content"}})
async def output_file(output_id: int, conn: Conn, settings: AppSettings):
    return await _output_file(conn, settings, output_id, "path")


@router.get("/outputs/{output_id}/thumbnail", response_class=FileResponse, operation_id="generation-output_thumbnail",
            responses={200: {"content": {"image/webp": {}}}})
async def output_thumbnail(output_id: int, conn: Conn, settings: AppSettings):
    return await _output_file(conn, settings, output_id, "thumbnail")
