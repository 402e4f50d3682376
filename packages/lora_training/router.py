"""HTTP for LoRA training: base models, readiness, runs (launch, list, read, cancel, use), their
sample images, and a character's LoRAs. Parse, authorise, call service.py, shape the response."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse

from packages.characters.schemas import MAX_ID, CharacterRow
from packages.characters.service import character_from_path
from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.schemas import Page, PageParams, page_params
from packages.core.settings import AppSettings
from packages.lora_training import base_models, queries, service
from packages.lora_training.schemas import BaseModelRead, LoraRead, Readiness, TrainingCreate, TrainingRunRead

# Secure by default: every route needs a token; launching, cancelling and choosing a LoRA need a director.
router = APIRouter(dependencies=[Depends(current_user)])
DIRECTOR = [require("director")]
Paging = Annotated[PageParams, Depends(page_params)]
Character = Annotated[CharacterRow, Depends(character_from_path)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/training/base-models", response_model=list[BaseModelRead], operation_id="training-base_models")
async def list_base_models(settings: AppSettings):
    """Diffusers folders and .safetensors checkpoints (SD1.5, SDXL) under ANIME_STUDIO_HOME/models and
    COMFYUI_MODELS_DIR/checkpoints."""
    found = await asyncio.to_thread(base_models.scan, settings)
    return [BaseModelRead(name=m.name, path=m.shown, kind=m.kind, architecture=m.architecture) for m in found]


@router.get("/training/readiness", response_model=Readiness, operation_id="training-readiness")
async def readiness(conn: Conn, settings: AppSettings, character_id: Annotated[int, Query(ge=1, le=MAX_ID)]):
    return await service.readiness(conn, settings, character_id)


@router.post("/training/runs", response_model=TrainingRunRead, status_code=201, dependencies=DIRECTOR,
             operation_id="training-create")
async def create_run(body: TrainingCreate, conn: Conn, settings: AppSettings):
    """Queues a run (409 `not_enough_images` below the approved-image minimum, 409 `training_in_progress`
    while the character has a queued or running run)."""
    run_id = await service.create_run(conn, settings, body)
    return TrainingRunRead.from_row(await service.load_run(conn, run_id))


@router.get("/training/runs", response_model=Page[TrainingRunRead], operation_id="training-list")
async def list_runs(conn: Conn, page: Paging, character_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None):
    rows, total = await queries.list_runs(conn, character_id=character_id, limit=page.limit, offset=page.offset)
    return Page(items=[TrainingRunRead.from_row(r) for r in rows], total=total)


@router.get("/training/runs/{run_id}", response_model=TrainingRunRead, operation_id="training-get")
async def get_run(run_id: RunId, conn: Conn):
    return TrainingRunRead.from_row(await service.load_run(conn, run_id))


@router.post("/training/runs/{run_id}/cancel", response_model=TrainingRunRead, dependencies=DIRECTOR,
             operation_id="training-cancel")
async def cancel_run(run_id: RunId, conn: Conn):
    """A queued run is cancelled at once; a running one stops after its current step (status follows)."""
    return TrainingRunRead.from_row(await service.cancel_run(conn, run_id))


@router.post("/training/runs/{run_id}/use", response_model=LoraRead, dependencies=DIRECTOR,
             operation_id="training-use")
async def use_run(run_id: RunId, conn: Conn):
    """Makes the run's LoRA the character's active one (409 `no_lora` when the run produced none)."""
    return LoraRead.model_validate(dict(await service.use_run(conn, run_id)))


@router.get("/training/runs/{run_id}/samples/{name}", response_class=FileResponse,
            operation_id="training-sample", responses={200: {"content": {"image/png": {}}}})
async def sample(run_id: RunId, name: Annotated[str, Path(max_length=64)], conn: Conn, settings: AppSettings):
    await service.load_run(conn, run_id)
    path = service.sample_file(settings, run_id, name)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/characters/{character_id}/loras", response_model=list[LoraRead], operation_id="training-loras")
async def character_loras(character: Character, conn: Conn):
    return [LoraRead.model_validate(dict(r)) for r in await queries.list_loras(conn, character.id)]
