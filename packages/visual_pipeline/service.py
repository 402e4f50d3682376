"""Rules and transactions of the generation engine: generations (create, cancel, retry) and the
backend pool (add, change, remove, refresh)."""

from __future__ import annotations

import random

import asyncpg

from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.settings import Settings
from packages.visual_pipeline import events, pool, queries
from packages.visual_pipeline.comfy_client import ComfyError
from packages.visual_pipeline.jobs import enqueue_generation
from packages.visual_pipeline.schemas import BackendCreate, BackendUpdate, GenerationCreate

TERMINAL = ("succeeded", "failed", "cancelled")


async def _subject(conn, body: GenerationCreate) -> tuple[int, dict | None]:
    """(project id, character row or None) for a request, checked."""
    if body.character_id is not None:
        character = await character_queries.get_character(conn, body.character_id)
        if character is None:
            raise Invalid("No character with that id", code="character_not_found", field="character_id")
        if character["archived"]:
            raise Conflict("The character is archived; restore it to generate", code="character_archived")
        return character["project_id"], dict(character)
    if body.project_id is None:
        raise Invalid("Give a character_id, or a project_id and a prompt", code="no_subject", field="character_id")
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)", body.project_id):
        raise Invalid("No project with that id", code="project_not_found", field="project_id")
    if not body.prompt.strip():
        raise Invalid("Without a character, the prompt is the whole design: write one", code="no_prompt", field="prompt")
    return body.project_id, None


def _engines(settings: Settings, first: str | None) -> list[str]:
    chain = [e.strip() for e in settings.video_engines.split(",") if e.strip()]
    if first:
        chain = [first] + [e for e in chain if e != first]
    return chain


async def create_generations(conn: asyncpg.Connection, settings: Settings, body: GenerationCreate, *,
                             origin: dict | None = None) -> list[int]:
    """One generation row and job per output requested (insert_generations, then the jobs)."""
    ids = await insert_generations(conn, settings, body, origin=origin)
    for gen_id in ids:  # after the commit; a job lost here is re-queued by the periodic sweep
        await enqueue_generation(gen_id)
    return ids


async def insert_generations(conn: asyncpg.Connection, settings: Settings, body: GenerationCreate, *,
                             origin: dict | None = None) -> list[int]:
    """One generation row (and its event) per output requested, in one transaction, or in the
    caller's when it runs inside one: the caller then defers the jobs (enqueue_generation) after
    its commit. The overrides the body sets (steps, cfg, negative_extra, ip_adapter_weight) are
    stored in params; `origin` (internal callers only, e.g. {"correction_of": image_id}) is stored
    with them to say where the request came from."""
    project_id, character = await _subject(conn, body)
    style = await character_queries.default_style_for_project(conn, project_id)
    if style is None:
        raise Conflict("The project has no default generation style; choose one in the Project tab", code="no_style")
    if body.kind == "video":
        source = await queries.get_output(conn, body.source_output_id) if body.source_output_id else None
        if source is None or source["kind"] != "image" or source["project_id"] != project_id:
            raise Invalid("A video starts from an image of this project's gallery", code="no_source_image",
                          field="source_output_id")
    seed = body.seed if body.seed is not None else random.randrange(2**31)
    base = {"prompt": body.prompt, "role": body.role, "ip_adapter": True, **(origin or {})}
    base |= {name: getattr(body, name) for name in body.OVERRIDES if getattr(body, name) is not None}
    if body.kind == "image":
        base |= {"width": body.width or style["width"], "height": body.height or style["height"]}
    else:
        base |= {"width": body.width, "height": body.height, "motion_prompt": body.motion_prompt,
                 "duration_s": body.duration_s, "engines": _engines(settings, body.engine),
                 "source_output_id": body.source_output_id}
    engine = "txt2img" if body.kind == "image" else base["engines"][0]
    ids = []
    async with transaction(conn) as tx:
        for n in range(body.count):
            gen_id = await queries.insert_generation(
                conn, project_id=project_id, character_id=character["id"] if character else None, kind=body.kind,
                engine=engine, params={**base, "seed": (seed + n) % 2**32})
            ids.append(gen_id)
            await tx.emit(events.GenerationQueued(project_id=project_id, generation_id=gen_id,
                                                  character_id=character["id"] if character else None,
                                                  status="queued"))
    return ids


async def cancel_generation(conn: asyncpg.Connection, gen) -> None:
    if gen["status"] in TERMINAL:
        raise Conflict(f"The generation is already {gen['status']}", code="generation_finished")
    async with transaction(conn) as tx:
        await queries.update_generation(conn, gen["id"], {"status": "cancelled", "holds_slot": False, "step": "cancelled"})
        await tx.emit(events.GenerationCancelled(project_id=gen["project_id"], generation_id=gen["id"],
                                                 character_id=gen["character_id"], status="cancelled"))
    if gen["status"] == "running" and gen["comfy_prompt_id"] and gen["backend_id"]:
        backend = await queries.get_backend(conn, gen["backend_id"])
        if backend is not None:
            try:  # the job sees the interruption and stops; if the backend is gone there is nothing to stop
                await pool.clients.get(backend["url"]).cancel(str(gen["comfy_prompt_id"]))
            except ComfyError:
                pass


async def retry_generation(conn: asyncpg.Connection, gen) -> None:
    if gen["status"] not in ("failed", "cancelled"):
        raise Conflict("Only a failed or cancelled generation can be retried", code="generation_not_finished")
    async with transaction(conn) as tx:
        await queries.update_generation(conn, gen["id"], {
            "status": "queued", "holds_slot": False, "attempts": 0, "error": None, "error_code": None, "backend_id": None,
            "comfy_prompt_id": None, "progress": 0.0, "step": "queued again", "finished_at": None})
        await tx.emit(events.GenerationQueued(project_id=gen["project_id"], generation_id=gen["id"],
                                              character_id=gen["character_id"], status="queued"))
    await enqueue_generation(gen["id"])


# -- backends ---------------------------------------------------------------------------------

async def _changed(tx, backend_id: int) -> None:
    await tx.emit(events.BackendChanged(backend_id=backend_id))


async def create_backend(conn: asyncpg.Connection, body: BackendCreate):
    async with transaction(conn) as tx:
        try:
            backend_id = await queries.insert_backend(conn, name=body.name, url=str(body.url).rstrip("/"),
                                                      roles=body.roles, enabled=body.enabled,
                                                      max_in_flight=body.max_in_flight)
        except asyncpg.UniqueViolationError:
            raise Conflict("A backend with that name or URL exists", code="backend_exists", field="url") from None
        await _changed(tx, backend_id)
    await refresh_backend(conn, backend_id)
    return await queries.get_backend(conn, backend_id)


async def update_backend(conn: asyncpg.Connection, backend, body: BackendUpdate):
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "roles" in fields:
        fields["roles"] = sorted(set(fields["roles"]))
    async with transaction(conn) as tx:
        try:
            await queries.update_backend(conn, backend["id"], fields)
        except asyncpg.UniqueViolationError:
            raise Conflict("A backend with that name exists", code="backend_exists", field="name") from None
        await _changed(tx, backend["id"])
    return await queries.get_backend(conn, backend["id"])


async def delete_backend(conn: asyncpg.Connection, backend) -> None:
    if backend["running"]:
        raise Conflict("Generations are running on this backend; disable it and wait, or cancel them",
                       code="backend_busy")
    async with transaction(conn) as tx:
        await queries.delete_backend(conn, backend["id"])
        await _changed(tx, backend["id"])


async def refresh_backend(conn: asyncpg.Connection, backend_id: int):
    backend = await queries.get_backend(conn, backend_id)
    if backend is None:
        raise NotFound("No backend with that id", code="backend_not_found")
    await pool.refresh_backend(conn, backend)
    async with transaction(conn) as tx:
        await _changed(tx, backend_id)
    return await queries.get_backend(conn, backend_id)
