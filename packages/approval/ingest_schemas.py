"""Request and response shapes and events of ingestion."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, Field

from packages.core.events import Event


class IngestionRead(BaseModel):
    id: int
    project_id: int
    character_id: int
    kind: str
    source: str
    status: str
    progress: float
    step: str
    frames_found: int
    images_added: int
    duplicates_dropped: int
    too_small_dropped: int
    files_skipped: int
    error: str | None
    error_code: str | None
    voice_sample: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row) -> IngestionRead:
        return cls.model_validate({k: row[k] for k in cls.model_fields})


class VideoUrlIngest(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL, or file:// inside the studio home or "
                                                                 "ANIME_STUDIO_INGEST_DIR")


class IngestionEvent(Event):
    project_id: int
    ingestion_id: int
    character_id: int
    status: str
    progress: float = 0.0
    step: str = ""


class IngestionProgress(IngestionEvent):
    type: ClassVar[str] = "ingestion.progress"


class IngestionCompleted(IngestionEvent):
    type: ClassVar[str] = "ingestion.completed"
    images_added: int
    duplicates_dropped: int
    too_small_dropped: int


class IngestionFailed(IngestionEvent):
    type: ClassVar[str] = "ingestion.failed"
    error: str
