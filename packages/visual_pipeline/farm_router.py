"""HTTP for the farm's live view: what each backend runs now (its roles, VRAM and queue are on
GET /backends)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from packages.core.auth import current_user
from packages.core.db import Conn
from packages.visual_pipeline.farm import BackendJob, current_jobs

router = APIRouter(dependencies=[Depends(current_user)])


@router.get("/farm/jobs", response_model=list[BackendJob], operation_id="generation-farm_jobs")
async def farm_jobs(conn: Conn):
    return await current_jobs(conn)
