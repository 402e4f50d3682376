"""HTTP for the approval domain: dataset images and their review queue, decisions, quality gates
(contract: approval-contract.md). Parse, authorise, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse

from packages.approval import queries, service
from packages.approval.schemas import (
    MAX_ID, REASONS, ApproveBody, BulkBody, BulkResult, CharacterSummary, GateRead, GatesUpdate, ImageRead,
    ReasonRead, RejectBody, Source, Status,
)
from packages.core.auth import User, current_user, require
from packages.core.db import Conn
from packages.core.errors import Invalid, NotFound
from packages.core.paths import inside_home
from packages.core.schemas import Page, PageParams, page_params
from packages.core.settings import AppSettings

# Secure by default: every route needs a valid token (viewer reads); decisions need reviewer.
router = APIRouter(dependencies=[Depends(current_user)])
Reviewer = Annotated[User, require("reviewer")]
Director = require("director")
Paging = Annotated[PageParams, Depends(page_params)]
Id = Annotated[int, Query(ge=1, le=MAX_ID)]
ImageId = Annotated[int, Path(ge=1, le=MAX_ID)]
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"}


async def image_from_path(image_id: ImageId, conn: Conn):
    row = await queries.get_image(conn, image_id)
    if row is None:
        raise NotFound("No image with that id", code="image_not_found")
    return row


Image = Annotated[dict, Depends(image_from_path)]


# -- the queue (fixed paths before /images/{image_id}) ----------------------------------------

@router.get("/images", response_model=Page[ImageRead], operation_id="approval-list_images")
async def list_images(conn: Conn, page: Paging, project_id: Id | None = None, character_id: Id | None = None,
                      status: Status | None = None, source: Source | None = None,
                      min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
                      max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
                      verdict: Literal["approve", "reject", "none"] | None = None):
    """Review order: pending images oldest first; otherwise newest first. The score filters apply
    to `scores.quality`."""
    if project_id is None and character_id is None:
        raise Invalid("Give a project_id or a character_id", code="validation_error", field="project_id")
    rows, total = await queries.list_images(
        conn, project_id=project_id, character_id=character_id, status=status, source=source, min_score=min_score,
        max_score=max_score, verdict=verdict, order="oldest" if status == "pending" else "newest",
        limit=page.limit, offset=page.offset)
    return Page(items=[ImageRead.from_row(r) for r in rows], total=total)


@router.get("/images/summary", response_model=list[CharacterSummary], operation_id="approval-summary")
async def summary(conn: Conn, project_id: Id):
    if not await queries.project_exists(conn, project_id):
        raise NotFound("No project with that id", code="project_not_found")
    return [CharacterSummary.model_validate(dict(r)) for r in await queries.summary(conn, project_id)]


@router.get("/images/reasons", response_model=list[ReasonRead], operation_id="approval-reasons")
async def reasons():
    return [ReasonRead(code=code, label=label, key=str(key)) for key, (code, label) in enumerate(REASONS, start=1)]


@router.post("/images/bulk", response_model=BulkResult, operation_id="approval-bulk")
async def bulk(body: BulkBody, conn: Conn, settings: AppSettings, user: Reviewer):
    """All or nothing (an unknown id changes nothing); images already in that state are left as they are."""
    decision = "approved" if body.action == "approve" else "rejected"
    reason = body.reason if decision == "rejected" else None
    note = body.note if decision == "rejected" else None
    ids = await service.decide(conn, settings, user, body.ids, decision, reason=reason, note=note, skip_decided=True)
    items = [ImageRead.from_row(r) for r in await queries.get_images(conn, ids)]
    return BulkResult(items=items, total=len(items))


# -- one image --------------------------------------------------------------------------------

@router.get("/images/{image_id}", response_model=ImageRead, operation_id="approval-get_image")
async def get_image(image: Image):
    return ImageRead.from_row(image)


async def _file(conn, settings, image_id: int, column: str, media_type: str | None) -> FileResponse:
    row = await queries.image_file(conn, image_id)
    if row is None:
        raise NotFound("No image with that id", code="image_not_found")
    if row[column]:
        path = inside_home(settings, settings.home / row[column])
        if path.is_file():
            return FileResponse(path, media_type=media_type, headers=MEDIA_HEADERS)
    if column == "thumbnail":  # no thumbnail (yet): the image itself
        return await _file(conn, settings, image_id, "path", None)
    raise NotFound(f"The file of image {image_id} is missing (run `anime-studio doctor`)", code="file_missing")


@router.get("/images/{image_id}/file", response_class=FileResponse, operation_id="approval-image_file",
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
async def image_file(image_id: ImageId, conn: Conn, settings: AppSettings):
    return await _file(conn, settings, image_id, "path", None)


@router.get("/images/{image_id}/thumbnail", response_class=FileResponse, operation_id="approval-image_thumbnail",
            responses={200: {"content": {"image/webp": {}}}})
async def image_thumbnail(image_id: ImageId, conn: Conn, settings: AppSettings):
    return await _file(conn, settings, image_id, "thumbnail", "image/webp")


@router.post("/images/{image_id}/approve", response_model=ImageRead, operation_id="approval-approve")
async def approve(image_id: ImageId, conn: Conn, settings: AppSettings, user: Reviewer,
                  body: ApproveBody | None = None):
    caption = body.caption if body else None
    await service.decide(conn, settings, user, [image_id], "approved", caption=caption)
    return ImageRead.from_row(await queries.get_image(conn, image_id))


@router.post("/images/{image_id}/reject", response_model=ImageRead, operation_id="approval-reject")
async def reject(image_id: ImageId, body: RejectBody, conn: Conn, settings: AppSettings, user: Reviewer):
    await service.decide(conn, settings, user, [image_id], "rejected", reason=body.reason, note=body.note)
    return ImageRead.from_row(await queries.get_image(conn, image_id))


@router.post("/images/{image_id}/undo", response_model=ImageRead, operation_id="approval-undo")
async def undo(image_id: ImageId, conn: Conn, settings: AppSettings, user: Reviewer):
    await service.undo(conn, settings, user, image_id)
    return ImageRead.from_row(await queries.get_image(conn, image_id))


# -- quality gates ----------------------------------------------------------------------------

@router.get("/quality/gates", response_model=list[GateRead], operation_id="approval-list_gates")
async def list_gates(conn: Conn):
    return [GateRead.model_validate(dict(r)) for r in await queries.list_gates(conn)]


@router.put("/quality/gates", response_model=list[GateRead], dependencies=[Director],
            operation_id="approval-update_gates")
async def update_gates(body: GatesUpdate, conn: Conn):
    await service.update_gates(conn, body)
    return [GateRead.model_validate(dict(r)) for r in await queries.list_gates(conn)]
