"""HTTP for ingestion: images, a zip, a video file or a video URL into a character's dataset,
and the ingestion records. Parse, authorise, call packages/approval/ingest.py, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile

from packages.approval import ingest, ingest_queries
from packages.approval.ingest_schemas import IngestionRead, VideoUrlIngest
from packages.characters.schemas import MAX_ID, CharacterRow
from packages.characters.service import character_from_path
from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.schemas import Page, PageParams, page_params
from packages.core.settings import AppSettings

# Secure by default: every route needs a token; adding images needs a reviewer (or director, admin).
router = APIRouter(dependencies=[Depends(current_user)])
Character = Annotated[CharacterRow, Depends(character_from_path)]
Paging = Annotated[PageParams, Depends(page_params)]
REVIEWER = [require("reviewer")]


async def ingestion_from_path(ingestion_id: int, conn: Conn):
    row = await ingest_queries.get_ingestion(conn, ingestion_id)
    if row is None:
        raise NotFound("No ingestion with that id", code="ingestion_not_found")
    return row


Ingestion = Annotated[dict, Depends(ingestion_from_path)]


@router.post("/characters/{character_id}/ingest/images", response_model=IngestionRead, status_code=201,
             dependencies=REVIEWER, operation_id="ingestion-ingest_images")
async def ingest_images(character: Character, conn: Conn, settings: AppSettings,
                        files: Annotated[list[UploadFile], File(description="PNG, JPEG or WEBP images")]):
    """Adds the images now (near-duplicates and images under 256 px dropped); one bad file refuses all."""
    return IngestionRead.from_row(await ingest.ingest_uploads(conn, settings, character, files))


@router.post("/characters/{character_id}/ingest/zip", response_model=IngestionRead, status_code=202,
             dependencies=REVIEWER, operation_id="ingestion-ingest_zip")
async def ingest_zip(character: Character, conn: Conn, settings: AppSettings,
                     file: Annotated[UploadFile, File(description="A zip of images")]):
    """Queues a job for the zip's images; members that are not images are skipped and counted."""
    return IngestionRead.from_row(await ingest.start_zip(conn, settings, character, file))


@router.post("/characters/{character_id}/ingest/video", response_model=IngestionRead, status_code=202,
             dependencies=REVIEWER, operation_id="ingestion-ingest_video_url")
async def ingest_video_url(character: Character, body: VideoUrlIngest, conn: Conn, settings: AppSettings):
    """Queues a job that downloads the video (yt-dlp), keeps frames at scene changes and its audio as a voice sample."""
    return IngestionRead.from_row(await ingest.start_video_url(conn, settings, character, body))


@router.post("/characters/{character_id}/ingest/video-upload", response_model=IngestionRead, status_code=202,
             dependencies=REVIEWER, operation_id="ingestion-ingest_video_upload")
async def ingest_video_upload(character: Character, conn: Conn, settings: AppSettings,
                              file: Annotated[UploadFile, File(description="A video file")]):
    """Queues a job that keeps the video's frames at scene changes and its audio as a voice sample."""
    return IngestionRead.from_row(await ingest.start_video_upload(conn, settings, character, file))


@router.get("/ingestions", response_model=Page[IngestionRead], operation_id="ingestion-list_ingestions")
async def list_ingestions(conn: Conn, page: Paging,
                          character_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None):
    rows, total = await ingest_queries.list_ingestions(conn, character_id=character_id, limit=page.limit, offset=page.offset)
    return Page(items=[IngestionRead.from_row(r) for r in rows], total=total)


@router.get("/ingestions/{ingestion_id}", response_model=IngestionRead, operation_id="ingestion-get_ingestion")
async def get_ingestion(ingestion: Ingestion):
    return IngestionRead.from_row(ingestion)
