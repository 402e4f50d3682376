"""HTTP for characters, their prompt and their reference images (contract: api-contract.md,
"Characters"). Parse, authorise, call the service, shape the response; nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile
from fastapi.responses import FileResponse

from packages.characters import reference_images, service
from packages.characters.schemas import (
    MAX_ID,
    CharacterCreate,
    CharacterRead,
    CharacterRow,
    CharacterUpdate,
    PromptRead,
    ReferenceImageRead,
)
from packages.characters.service import character_from_path
from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.schemas import Page, PageParams, page_of, page_params
from packages.core.settings import AppSettings

# Secure by default: every route needs a valid token (viewer reads); writes add require("director").
router = APIRouter(dependencies=[Depends(current_user)])

Character = Annotated[CharacterRow, Depends(character_from_path)]
Paging = Annotated[PageParams, Depends(page_params)]
ImageId = Annotated[int, Path(ge=1, le=MAX_ID)]
DIRECTOR = [require("director")]
FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"}


@router.get("/characters", response_model=Page[CharacterRead], operation_id="characters-list_characters")
async def list_characters(
    conn: Conn,
    page: Paging,
    project_id: Annotated[int, Query(ge=1, le=MAX_ID)],
    q: Annotated[str | None, Query(max_length=200)] = None,
    archived: bool = False,
) -> Page[CharacterRead]:
    rows, total = await service.list_characters(conn, project_id=project_id, archived=archived, q=q,
                                                limit=page.limit, offset=page.offset)
    return page_of(CharacterRead, (CharacterRead.fields_of(r) for r in rows), total)


@router.post("/characters", response_model=CharacterRead, status_code=201, dependencies=DIRECTOR,
             operation_id="characters-create_character")
async def create_character(body: CharacterCreate, conn: Conn) -> CharacterRead:
    return CharacterRead.from_row(await service.create_character(conn, body))


@router.get("/characters/by-slug/{slug}", response_model=CharacterRead, operation_id="characters-get_character_by_slug")
async def get_character_by_slug(slug: str, conn: Conn, project_id: Annotated[int, Query(ge=1, le=MAX_ID)]) -> CharacterRead:
    return CharacterRead.from_row(await service.load_character_by_slug(conn, project_id, slug))


@router.get("/characters/{character_id}", response_model=CharacterRead, operation_id="characters-get_character")
async def get_character(character: Character) -> CharacterRead:
    return CharacterRead.from_row(character)


@router.patch("/characters/{character_id}", response_model=CharacterRead, dependencies=DIRECTOR,
              operation_id="characters-update_character")
async def update_character(character: Character, body: CharacterUpdate, conn: Conn) -> CharacterRead:
    return CharacterRead.from_row(await service.update_character(conn, character, body))


@router.post("/characters/{character_id}/archive", response_model=CharacterRead, dependencies=DIRECTOR,
             operation_id="characters-archive_character")
async def archive_character(character: Character, conn: Conn) -> CharacterRead:
    return CharacterRead.from_row(await service.set_archived(conn, character, True))


@router.post("/characters/{character_id}/restore", response_model=CharacterRead, dependencies=DIRECTOR,
             operation_id="characters-restore_character")
async def restore_character(character: Character, conn: Conn) -> CharacterRead:
    return CharacterRead.from_row(await service.set_archived(conn, character, False))


@router.get("/characters/{character_id}/prompt", response_model=PromptRead, operation_id="characters-get_prompt")
async def get_prompt(character: Character, conn: Conn) -> PromptRead:
    return PromptRead(**(await service.character_prompt(conn, character)).as_dict())


@router.get("/characters/{character_id}/reference-images", response_model=Page[ReferenceImageRead],
            operation_id="characters-list_reference_images")
async def list_reference_images(character: Character, conn: Conn, page: Paging) -> Page[ReferenceImageRead]:
    rows, total = await reference_images.list_reference_images(conn, character, limit=page.limit,
                                                               offset=page.offset)
    return Page(items=[ReferenceImageRead.from_row(r) for r in rows], total=total)


@router.post("/characters/{character_id}/reference-images", response_model=Page[ReferenceImageRead],
             status_code=201, dependencies=DIRECTOR, operation_id="characters-upload_reference_images")
async def upload_reference_images(
    character: Character,
    files: Annotated[list[UploadFile], File(description="One or more PNG, JPEG or WEBP images")],
    conn: Conn,
    settings: AppSettings,
) -> Page[ReferenceImageRead]:
    rows = await reference_images.upload_reference_images(conn, settings, character, files)
    return Page(items=[ReferenceImageRead.from_row(r) for r in rows], total=len(rows))


@router.delete("/characters/{character_id}/reference-images/{image_id}", status_code=204, dependencies=DIRECTOR,
               response_class=Response, operation_id="characters-delete_reference_image")
async def delete_reference_image(character: Character, image_id: ImageId, conn: Conn,
                                 settings: AppSettings) -> Response:
    await reference_images.delete_reference_image(conn, settings, character, image_id)
    return Response(status_code=204)


@router.get("/reference-images/{image_id}/file", response_class=FileResponse,
            operation_id="characters-get_reference_image_file",
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                             "description": "The image bytes"}})
async def get_reference_image_file(image_id: ImageId, conn: Conn, settings: AppSettings) -> FileResponse:
    path, content_type = await reference_images.reference_image_file(conn, settings, image_id)
    return FileResponse(path, media_type=content_type, headers=FILE_HEADERS)
