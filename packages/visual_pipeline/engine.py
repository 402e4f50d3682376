"""Runs one generation to its end: build the workflow, get a backend, submit (or find the prompt
already submitted), follow it, store the outputs. Failures: a missing model or node fails at once
and says what the backend has; an out-of-memory error retries smaller; an unreachable backend
moves to another; other errors retry with exponential backoff (2^attempt s, 3 attempts)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timezone

import asyncpg

from packages.core.db import transaction
from packages.core.jobs import runtime
from packages.visual_pipeline import events, queries
from packages.visual_pipeline.comfy_client import ComfyError, Progress
from packages.visual_pipeline.outputs import store_outputs
from packages.visual_pipeline.pool import NoCapableBackend, claim, clients
from packages.visual_pipeline.recipe import Recipe, RecipeError, build_recipe, downsized

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
TERMINAL = ("succeeded", "failed", "cancelled")
FAIL_AT_ONCE = ("missing_model", "missing_node", "validation", "no_outputs")


class Cancelled(Exception):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _event(conn, gen, event_cls, **extra) -> None:
    fresh = await queries.get_generation(conn, gen["id"])
    async with transaction(conn) as tx:
        await tx.emit(event_cls(project_id=fresh["project_id"], generation_id=fresh["id"],
                                character_id=fresh["character_id"], status=fresh["status"],
                                progress=fresh["progress"], step=fresh["step"], **extra))


async def _set(conn, gen_id: int, **fields) -> None:
    await queries.update_generation(conn, gen_id, fields)


async def _wait_for_slot(conn, gen, recipe: Recipe, exclude: list[int]):
    """Claims a backend, waiting (woken by any committed event, such as a generation finishing)
    while every capable backend is busy."""
    while True:
        current = await queries.get_generation(conn, gen["id"])
        if current["status"] == "cancelled":
            raise Cancelled()
        backend = await claim(conn, gen["id"], recipe.built.requires, role=recipe.role, exclude=exclude)
        if backend is not None:
            return backend
        await runtime.wait_for_change(timeout=2.0)


async def _follow(conn, gen_id: int, backend, recipe: Recipe, prompt_id: str, client_id: str):
    client = clients.get(backend["url"])
    for local, remote in recipe.uploads:  # input images under names derived from their bytes
        await client.upload_image(local, name=remote.split("/", 1)[1])
    last = 0.0

    async def on_progress(p: Progress) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.2 and p.value < p.max:
            return
        last = now
        await _set(conn, gen_id, progress=round(p.value / max(p.max, 1), 3), step=f"{recipe.stage}: step {p.value}/{p.max}")
        gen = await queries.get_generation(conn, gen_id)
        await _event(conn, gen, events.GenerationProgress)

    return await client.run(recipe.built.workflow, prompt_id, client_id=client_id, on_progress=on_progress)


async def execute(generation_id: int) -> None:
    async with runtime.acquire() as conn:
        try:
            await _execute(conn, generation_id)
        except Cancelled:
            await _set(conn, generation_id, status="cancelled", finished_at=_now(), step="cancelled")
            await _event(conn, await queries.get_generation(conn, generation_id), events.GenerationCancelled)


async def _execute(conn: asyncpg.Connection, generation_id: int) -> None:
    gen = await queries.get_generation(conn, generation_id)
    if gen is None or gen["status"] in TERMINAL:
        return  # finished before (a second run of a finished job does nothing)
    settings = runtime.settings
    exclude: list[int] = []
    params = dict(gen["params"])
    while True:
        try:
            recipe = await build_recipe(conn, settings, gen, params)
        except RecipeError as exc:
            await _fail(conn, gen, str(exc), exc.code)
            return
        backend = None
        if gen["status"] == "running" and gen["comfy_prompt_id"] and gen["backend_id"]:
            backend = await queries.get_backend(conn, gen["backend_id"])
        if backend is not None:  # a crash left it submitted: follow the same prompt on the same backend
            prompt_id, client_id = str(gen["comfy_prompt_id"]), gen["comfy_client_id"]
        else:
            try:
                backend = await _wait_for_slot(conn, gen, recipe, exclude)
            except NoCapableBackend as exc:
                if recipe.fallback is not None:  # e.g. framepack -> ltx, or without IP-Adapter
                    params = recipe.fallback
                    continue
                await _fail(conn, gen, str(exc), "no_capable_backend")
                return
            prompt_id, client_id = str(uuid.uuid4()), clients.get(backend["url"]).client_id
            await _set(conn, gen["id"], comfy_prompt_id=prompt_id, comfy_client_id=client_id, attempts=gen["attempts"] + 1,
                       workflow=recipe.built.workflow, engine=recipe.built.engine, params=params,
                       started_at=gen["started_at"] or _now(), progress=0.0, error=None, error_code=None,
                       step=f"{recipe.stage} on {backend['name']} (attempt {gen['attempts'] + 1})")
            await _event(conn, gen, events.GenerationSubmitted, backend_id=backend["id"])
        try:
            result = await _follow(conn, gen["id"], backend, recipe, prompt_id, client_id)
        except ComfyError as exc:
            gen = await queries.get_generation(conn, gen["id"])
            if gen["status"] == "cancelled":
                raise Cancelled() from exc
            decision = await _after_failure(conn, gen, backend, exc, params, exclude)
            if decision is None:
                return
            params = decision
            gen = await queries.get_generation(conn, gen["id"])
            continue
        output_ids = await store_outputs(conn, settings, gen, recipe, clients.get(backend["url"]), result)
        await _set(conn, gen["id"], status="succeeded", progress=1.0, finished_at=_now(), step="done",
                   gpu_seconds=result.execution_seconds, outputs=output_ids)
        await _event(conn, gen, events.GenerationCompleted, output_ids=output_ids)
        return


async def _after_failure(conn, gen, backend, exc: ComfyError, params: dict, exclude: list[int]) -> dict | None:
    """Records a failed attempt and returns the params for the next one, or None when it is over."""
    if exc.kind in FAIL_AT_ONCE:
        message = exc.message
        if exc.kind == "missing_model" and exc.input_name:
            have = (backend["capabilities"] or {}).get("models") or {}
            listed = "; ".join(f"{folder}: {', '.join(names) or 'none'}" for folder, names in sorted(have.items()))
            message = f"{backend['name']} has no {exc.input_name} '{exc.value}'. It has {listed or 'no models'}"
        await _fail(conn, gen, message, exc.kind)
        return None
    if exc.kind == "unreachable":
        await queries.update_backend(conn, backend["id"], {"health": "unreachable", "last_error": exc.message})
        exclude.append(backend["id"])
    next_params = downsized(params) if exc.kind == "oom" else params
    if exc.kind == "oom" and next_params is None:
        await _fail(conn, gen, f"Out of memory even at the smallest size: {exc.message}", "oom")
        return None
    if gen["attempts"] >= MAX_ATTEMPTS:
        await _fail(conn, gen, f"Failed after {gen['attempts']} attempts: {exc.message}", exc.kind)
        return None
    delay = (2 ** gen["attempts"]) * runtime.settings.retry_backoff_s
    await _set(conn, gen["id"], status="queued", backend_id=None, comfy_prompt_id=None, error=exc.message,
               error_code=exc.kind, step=f"retrying in {delay:g} s after {exc.kind}")
    await _event(conn, gen, events.GenerationProgress)
    await asyncio.sleep(delay)
    return next_params


async def _fail(conn, gen, message: str, code: str) -> None:
    await _set(conn, gen["id"], status="failed", error=message, error_code=code, finished_at=_now(), step="failed")
    await _event(conn, gen, events.GenerationFailed, error=message)

