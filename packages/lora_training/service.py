"""Rules and transactions of LoRA training: readiness (enough approved images), launching a run
(one queued or running run per character), cancelling, the character's LoRAs and the active one,
and where a run's files live (output/training/<run id>/, the LoRA under output/loras/)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg

from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.paths import inside_home
from packages.core.settings import Settings
from packages.lora_training import base_models, events, queries
from packages.lora_training.schemas import TERMINAL, Readiness, TrainingCreate, TrainingParams

SAMPLE_NAME = re.compile(r"^step-\d{6}\.png$")


def work_dir(settings: Settings, run_id: int) -> Path:
    return inside_home(settings, settings.output_dir / "training" / str(int(run_id)))


def loras_dir(settings: Settings) -> Path:
    return inside_home(settings, settings.output_dir / "loras")


def lora_file_name(project_slug: str, character_slug: str, run_id: int) -> str:
    """The LoRA's file name, as ComfyUI's loras folder lists it (slugs are validated, the id an int)."""
    return f"{project_slug}_{character_slug}_run{int(run_id)}.safetensors"


async def readiness(conn: asyncpg.Connection, settings: Settings, character_id: int) -> Readiness:
    if await character_queries.get_character(conn, character_id) is None:
        raise NotFound("No character with that id", code="character_not_found")
    approved = await queries.count_approved(conn, character_id)
    required = settings.training_min_images
    ready = approved >= required
    message = (f"{approved} approved images: ready to train" if ready else
               f"Training needs at least {required} approved images; this character has {approved}. "
               f"Approve {required - approved} more in the Approve tab.")
    return Readiness(character_id=character_id, approved=approved, required=required, ready=ready, message=message)


async def create_run(conn: asyncpg.Connection, settings: Settings, body: TrainingCreate) -> int:
    """Checks the character, the base model and the dataset, stores the queued run and defers its job."""
    character = await character_queries.get_character(conn, body.character_id)
    if character is None:
        raise Invalid(f"No character with id {body.character_id}", code="character_not_found", field="character_id")
    if character["archived"]:
        raise Conflict("The character is archived; restore it to train", code="character_archived")
    await asyncio.to_thread(base_models.resolve, settings, body.base_model)
    ready = await readiness(conn, settings, body.character_id)
    if not ready.ready:
        raise Conflict(ready.message, code="not_enough_images")
    params = TrainingParams.model_validate(body.model_dump(include=set(TrainingParams.model_fields))).model_dump()
    params["trigger"] = params["trigger"] or character["slug"]
    async with transaction(conn) as tx:
        run_id = await queries.insert_run(conn, character_id=character["id"], base_model=body.base_model,
                                          params=params)
        if run_id is None:
            active = await queries.active_run(conn, character["id"])
            raise Conflict(f"This character already has a training run in progress (run {active})",
                           code="training_in_progress")
        await tx.emit(events.TrainingQueued(project_id=character["project_id"], character_id=character["id"],
                                            run_id=run_id))
    from packages.lora_training.jobs import enqueue_run

    await enqueue_run(run_id)  # after the commit; a lost job is re-queued by the sweep
    return run_id


async def load_run(conn: asyncpg.Connection, run_id: int):
    row = await queries.get_run(conn, run_id)
    if row is None:
        raise NotFound("No training run with that id", code="run_not_found")
    return row


async def cancel_run(conn: asyncpg.Connection, run_id: int):
    """A queued run is cancelled at once; a running one is asked to stop (its job sends SIGTERM to
    the trainer, SIGKILL after the grace period, and marks it cancelled). Finished runs: 409."""
    async with transaction(conn) as tx:
        row = await queries.lock_run(conn, run_id)
        if row is None:
            raise NotFound("No training run with that id", code="run_not_found")
        if row["status"] in TERMINAL:
            raise Conflict(f"The run is already {row['status']}", code="run_finished")
        await queries.request_cancel(conn, run_id)
        if row["status"] == "queued":
            await queries.update_run(conn, run_id, {"status": "cancelled", "finished_at": _now()})
            await tx.emit(events.TrainingCancelled(project_id=row["project_id"], character_id=row["character_id"],
                                                   run_id=run_id))
    return await load_run(conn, run_id)


async def use_run(conn: asyncpg.Connection, run_id: int):
    """Makes the run's LoRA its character's active one (generation then loads it)."""
    async with transaction(conn):
        row = await load_run(conn, run_id)
        if row["lora_id"] is None:
            raise Conflict("This run has no LoRA (it has not finished successfully)", code="no_lora")
        await queries.set_active_lora(conn, row["character_id"], row["lora_id"])
    return await queries.get_lora(conn, row["lora_id"])


def sample_file(settings: Settings, run_id: int, name: str) -> Path:
    if not SAMPLE_NAME.match(name):
        raise NotFound("No such sample", code="sample_not_found")
    path = work_dir(settings, run_id) / "samples" / name
    if not path.is_file():
        raise NotFound("No such sample", code="sample_not_found")
    return path


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
