"""Runs one generation to its end: build the workflow, get a backend, submit (or find the prompt
already submitted), follow it, store the outputs. Failures: a missing model or node fails at once
and says what the backend has; an out-of-memory error retries smaller; an unreachable backend
moves to another; other errors retry with exponential backoff (2^attempt s, 3 attempts).

A job borrows a database connection for each step only, never while it waits on ComfyUI or for a
free backend: many long jobs must not starve the API and the event stream of connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from packages.core.db import transaction
from packages.core.events import bus
from packages.core.jobs import runtime
from packages.visual_pipeline import events, pool, queries
from packages.visual_pipeline.comfy_client import ComfyError, Progress, PromptResult
from packages.visual_pipeline.outputs import store_outputs
from packages.visual_pipeline.pool import Busy, GenerationGone, NoCapableBackend, Waiter, claim, clients
from packages.visual_pipeline.recipe import Recipe, RecipeError, build_recipe, downsized

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
TERMINAL = ("succeeded", "failed", "cancelled")
POSTED_WAIT_S = 0.05  # at most this long a job that handed its slot on waits for the next prompt to go out
FAIL_AT_ONCE = ("missing_model", "missing_node", "validation", "no_outputs")
# events after which a backend slot may be free (or a backend changed): waiting jobs try again
SLOT_EVENTS = frozenset({"backend.slot_freed", "generation.failed", "generation.cancelled", "generation.retrying",
                         "backend.changed"})


class Cancelled(Exception):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _load(gen_id: int):
    async with runtime.acquire() as conn:
        return await queries.get_generation(conn, gen_id)


async def _update(gen_id: int, event_cls=None, *, event: dict | None = None, **fields):
    """Changes the row and emits its event in one transaction; returns the fresh row."""
    async with runtime.acquire() as conn:
        async with transaction(conn) as tx:
            await queries.update_generation(conn, gen_id, fields)
            fresh = await queries.get_generation(conn, gen_id)
            if event_cls is not None:
                await tx.emit(event_cls(project_id=fresh["project_id"], generation_id=gen_id,
                                        character_id=fresh["character_id"], status=fresh["status"],
                                        progress=fresh["progress"], step=fresh["step"], **(event or {})))
    return fresh


async def _release(gen, backend) -> None:
    """ComfyUI finished the prompt: gives the slot back, straight to the next job of this process
    waiting for that backend when there is one (pool.pass_slot: one statement, no lock), else
    frees it and says so (backend.slot_freed wakes waiters anywhere)."""
    fields = {"progress": 1.0, "step": "saving outputs"}
    executed = events.GenerationExecuted(project_id=gen["project_id"], generation_id=gen["id"],
                                         character_id=gen["character_id"], status="running", **fields)
    async with runtime.acquire() as conn:
        if (waiter := pool.line.reserve_next(backend)) is not None:
            released, stored = await pool.pass_slot(conn, waiter, backend, gen["id"], fields, executed)
            for event in stored:
                await bus.publish(event)
            if len(stored) == 2:  # handed on: the next prompt goes out before this one's history
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.posted.wait(), POSTED_WAIT_S)
                return
            if released:  # the waiter could not take it (cancelled, or the backend was disabled)
                async with transaction(conn) as tx:
                    await tx.emit(events.BackendSlotFreed(backend_id=backend["id"]))
                return
        async with transaction(conn) as tx:
            if await queries.release_slot(conn, gen["id"], fields):
                await tx.emit(executed)
                await tx.emit(events.BackendSlotFreed(backend_id=backend["id"]))  # wakes waiters anywhere
            else:  # it held no slot any more (cancelled meanwhile): only the step changes
                await queries.update_generation(conn, gen["id"], fields)
                fresh = await queries.get_generation(conn, gen["id"])
                await tx.emit(executed.model_copy(update={"status": fresh["status"]}))


async def _fail(gen_id: int, message: str, code: str) -> None:
    await _update(gen_id, events.GenerationFailed, event={"error": message}, status="failed", holds_slot=False,
                  error=message, error_code=code, finished_at=_now(), step="failed")


async def _dispatch(gen, recipe: Recipe, params: dict, exclude: list[int]):
    """Claims a backend and records the attempt (prompt id first, so a crash after submitting can
    find the prompt) in one transaction; waits in line while every capable backend is busy.
    Returns (backend, prompt id, client id, the waiter's `posted` event when a job handed it the
    slot, else None)."""
    prompt_id, attempt = str(uuid.uuid4()), gen["attempts"] + 1

    def fields(backend) -> dict:
        return {"comfy_prompt_id": prompt_id, "comfy_client_id": clients.get(backend["url"]).client_id,
                "attempts": attempt, "workflow": recipe.built.workflow, "engine": recipe.built.engine,
                "params": params, "started_at": gen["started_at"] or _now(), "progress": 0.0, "error": None,
                "error_code": None, "step": f"{recipe.stage} on {backend['name']} (attempt {attempt})"}

    def submitted(backend):
        return events.GenerationSubmitted(project_id=gen["project_id"], generation_id=gen["id"],
                                          character_id=gen["character_id"], status="running",
                                          step=fields(backend)["step"], backend_id=backend["id"])

    woken, ticket = False, pool.line.ticket()
    while True:
        async with runtime.acquire() as conn:
            try:
                backend = await claim(conn, gen["id"], recipe.built.requires, role=recipe.role, exclude=exclude,
                                      fields=fields, event=submitted)
            except GenerationGone:
                raise Cancelled() from None
        if not isinstance(backend, Busy):
            return backend, prompt_id, clients.get(backend["url"]).client_id, None
        if woken and backend.unusable:  # a free slot we cannot use (role, models): next in line
            runtime.pass_on("backend.slot_freed")
        waiter = Waiter(gen["id"], recipe.built.requires, recipe.role, exclude, fields, submitted, ticket)
        woken, handed = await _wait_in_line(waiter)
        if handed is not None:  # a job of this process freed a slot and took it for us
            return handed, prompt_id, clients.get(handed["url"]).client_id, waiter.posted


async def _wait_in_line(waiter: Waiter):
    """Waits for a slot: handed over by a job of this process (the backend), or an event that may
    have freed one anywhere (True), or the timeout (False). Returns (woken, backend or None)."""
    pool.line.join(waiter)
    change = asyncio.ensure_future(runtime.wait_for_change(SLOT_EVENTS, timeout=2.0))
    try:
        await asyncio.wait({change, waiter.handed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        pool.line.leave(waiter)
        if not change.done():
            change.cancel()
    if waiter.reserved:  # a handoff chose it: its answer decides (None: the slot went elsewhere)
        try:
            return True, await waiter.handed
        except GenerationGone:
            raise Cancelled() from None
    return change.result(), None


async def _follow(gen, backend, recipe: Recipe, prompt_id: str, client_id: str, resume: bool,
                  posted: asyncio.Event | None = None) -> PromptResult:
    """Runs the prompt to its end; `posted` (see _dispatch) is set once the prompt is submitted."""
    try:
        return await _run_prompt(gen, backend, recipe, prompt_id, client_id, resume, posted)
    finally:
        if posted is not None:
            posted.set()


async def _run_prompt(gen, backend, recipe: Recipe, prompt_id: str, client_id: str, resume: bool,
                      posted: asyncio.Event | None) -> PromptResult:
    gen_id = gen["id"]
    client = clients.get(backend["url"])
    for local, remote in recipe.uploads:  # input images under names derived from their bytes
        await client.upload_image(local, name=remote.split("/", 1)[1])
    last = 0.0

    async def on_progress(p: Progress) -> None:  # at most 5 updates a second, and always the last
        nonlocal last
        now = time.monotonic()
        if now - last < 0.2 and p.value < p.max:
            return
        last = now
        await _update(gen_id, events.GenerationProgress, progress=round(p.value / max(p.max, 1), 3),
                      step=f"{recipe.stage}: step {p.value}/{p.max}")

    preview_at = 0.0

    async def on_preview(image_format: str, image: bytes) -> None:  # the latest preview, at most twice a second
        nonlocal preview_at
        if time.monotonic() - preview_at < 0.5:
            return
        preview_at = time.monotonic()
        path = preview_path(runtime.settings, gen_id)
        await asyncio.to_thread(_write_atomically, path, image)
        await _update(gen_id, events.GenerationProgress, event={"has_preview": True})

    async def on_finished() -> None:  # ComfyUI is done: the slot goes back now, before any download
        await _release(gen, backend)

    return await client.run(recipe.built.workflow, prompt_id, client_id=client_id, resume=resume,
                            on_progress=on_progress, on_preview=on_preview, on_finished=on_finished,
                            on_submitted=posted.set if posted is not None else None)


def preview_path(settings, gen_id: int) -> Path:
    return settings.output_dir / "previews" / f"gen{gen_id}.jpg"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)


async def execute(generation_id: int) -> None:
    try:
        await _execute(generation_id)
    except Cancelled:
        await _update(generation_id, events.GenerationCancelled, status="cancelled", holds_slot=False,
                      finished_at=_now(), step="cancelled")
    finally:  # the preview was only for watching it run
        preview_path(runtime.settings, generation_id).unlink(missing_ok=True)


async def _execute(generation_id: int) -> None:
    gen = await _load(generation_id)
    if gen is None or gen["status"] in TERMINAL:
        return  # finished before (a second run of a finished job does nothing)
    settings = runtime.settings
    exclude: list[int] = []
    params = dict(gen["params"])
    while True:
        if gen["kind"] == "video" and (params.get("engines") or [None])[0] == "animatic":
            await _animatic(gen, params)  # the chain's last engine: no backend needed
            return
        async with runtime.acquire() as conn:
            try:
                recipe = await build_recipe(conn, settings, gen, params)
            except RecipeError as exc:
                await _fail(gen["id"], str(exc), exc.code)
                return
            backend = None
            if gen["status"] == "running" and gen["comfy_prompt_id"] and gen["backend_id"]:
                backend = await queries.get_backend(conn, gen["backend_id"])
        resume, posted = backend is not None, None
        if resume:  # a crash left it submitted: follow the same prompt on the same backend
            prompt_id, client_id = str(gen["comfy_prompt_id"]), gen["comfy_client_id"]
        else:
            try:
                backend, prompt_id, client_id, posted = await _dispatch(gen, recipe, params, exclude)
            except NoCapableBackend as exc:
                if recipe.fallback is not None:  # e.g. framepack -> ltx, or without IP-Adapter
                    params = recipe.fallback
                    continue
                await _fail(gen["id"], str(exc), "no_capable_backend")
                return
        try:
            result = await _follow(gen, backend, recipe, prompt_id, client_id, resume, posted)
        except ComfyError as exc:
            gen = await _load(gen["id"])
            if gen["status"] == "cancelled":
                raise Cancelled() from exc
            params = await _after_failure(gen, backend, exc, params, exclude)
            if params is None:
                return
            gen = await _load(gen["id"])
            continue
        # the slot is free (on_finished; or now, when the result came from history after a resume)
        gen = await _update(gen["id"], holds_slot=False, progress=1.0, step="saving outputs",
                            gpu_seconds=result.execution_seconds)
        output_ids = await store_outputs(runtime.pool, settings, gen, recipe, clients.get(backend["url"]), result)
        await _update(gen["id"], events.GenerationCompleted, event={"output_ids": output_ids}, status="succeeded",
                      finished_at=_now(), step="done", outputs=output_ids)
        return


async def _animatic(gen, params: dict) -> None:
    """Renders the animatic on the CPU (packages/visual_pipeline/animatic.py) and records it."""
    from packages.visual_pipeline import animatic

    gen = await _update(gen["id"], events.GenerationProgress, status="running", engine="animatic", params=params,
                        attempts=gen["attempts"] + 1, started_at=gen["started_at"] or _now(), backend_id=None,
                        step="animatic on the CPU")
    try:
        output_ids = await animatic.store(runtime.pool, runtime.settings, gen, params)
    except ValueError as exc:
        await _fail(gen["id"], str(exc), "animatic_failed")
        return
    if (await _load(gen["id"]))["status"] == "cancelled":  # cancelled while it rendered
        return
    await _update(gen["id"], events.GenerationCompleted, event={"output_ids": output_ids}, status="succeeded",
                  finished_at=_now(), step="done (animatic)", outputs=output_ids, progress=1.0)


async def _after_failure(gen, backend, exc: ComfyError, params: dict, exclude: list[int]) -> dict | None:
    """Records a failed attempt and returns the params for the next one, or None when it is over."""
    if exc.kind in FAIL_AT_ONCE:
        message = exc.message
        if exc.kind == "missing_model" and exc.input_name:
            have = (backend["capabilities"] or {}).get("models") or {}
            listed = "; ".join(f"{folder}: {', '.join(names) or 'none'}" for folder, names in sorted(have.items()))
            message = f"{backend['name']} has no {exc.input_name} '{exc.value}'. It has {listed or 'no models'}"
        await _fail(gen["id"], message, exc.kind)
        return None
    if exc.kind == "unreachable":
        async with runtime.acquire() as conn:
            await queries.update_backend(conn, backend["id"], {"health": "unreachable", "last_error": exc.message})
        exclude.append(backend["id"])
    next_params = downsized(params) if exc.kind == "oom" else params
    if exc.kind == "oom" and next_params is None:
        await _fail(gen["id"], f"Out of memory even at the smallest size: {exc.message}", "oom")
        return None
    if gen["attempts"] >= MAX_ATTEMPTS:
        await _fail(gen["id"], f"Failed after {gen['attempts']} attempts: {exc.message}", exc.kind)
        return None
    delay = (2 ** gen["attempts"]) * runtime.settings.retry_backoff_s
    await _update(gen["id"], events.GenerationRetrying, event={"error": exc.message}, status="queued",
                  holds_slot=False, backend_id=None, comfy_prompt_id=None, error=exc.message, error_code=exc.kind,
                  step=f"retrying in {delay:g} s after {exc.kind}")
    await asyncio.sleep(delay)
    return next_params
