"""The backend pool: discovery (health, VRAM, queue, node classes, model lists) and dispatch
(an enabled, healthy backend that has every node class and model the workflow needs, fewest
queued first, at most `max_in_flight` prompts on each)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

import asyncpg

from packages.core.db import transaction
from packages.core.events import NOTIFY_CHANNEL, Event, StoredEvent
from packages.visual_pipeline import queries
from packages.visual_pipeline.builder import Requirements, missing_requirements
from packages.visual_pipeline.comfy_client import ComfyClient, ComfyError

log = logging.getLogger(__name__)
MODEL_FOLDERS = ("checkpoints", "loras", "vae", "text_encoders", "clip", "clip_vision", "diffusion_models", "unet",
                 "ipadapter")


class Clients:
    """One ComfyClient (HTTP pool and WebSockets) per backend URL, for the life of the process."""

    def __init__(self) -> None:
        self._clients: dict[str, ComfyClient] = {}

    def get(self, url: str) -> ComfyClient:
        if url not in self._clients:
            self._clients[url] = ComfyClient(url)
        return self._clients[url]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


clients = Clients()


def name_from_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


async def seed_from_settings(conn: asyncpg.Connection, urls: str) -> None:
    """Backends named in COMFYUI_URLS are added once; after that the pool is managed in the UI."""
    for url in (u.strip().rstrip("/") for u in urls.split(",")):
        if url:
            await queries.seed_backend(conn, name=name_from_url(url), url=url)


async def discover(client: ComfyClient) -> dict:
    """What a backend can do and how loaded it is, read from its own API."""
    stats = await client.system_stats()
    object_info = await client.object_info()
    folders = await client.model_folders()
    models = {folder: sorted(await client.models(folder)) for folder in MODEL_FOLDERS if folder in folders}
    queue = await client.queue()
    device = (stats.get("devices") or [{}])[0]
    return {
        "capabilities": {"node_classes": sorted(object_info), "models": models},
        "vram_total": device.get("vram_total"),
        "vram_free": device.get("vram_free"),
        "queue_remaining": len(queue.get("queue_running", [])) + len(queue.get("queue_pending", [])),
    }


async def refresh_backend(conn: asyncpg.Connection, backend: asyncpg.Record) -> None:
    client = clients.get(backend["url"])
    try:
        found = await asyncio.wait_for(discover(client), timeout=30)
    except (ComfyError, asyncio.TimeoutError, ValueError, KeyError) as exc:
        fields = {"health": "unreachable", "last_error": str(exc) or exc.__class__.__name__}
    except Exception as exc:  # an unexpected answer is the backend's fault, not ours: record it
        fields = {"health": "unreachable", "last_error": f"{exc.__class__.__name__}: {exc}"}
    else:
        fields = {"health": "ok", "last_error": None, "last_seen": datetime.now(timezone.utc), **found}
    await queries.update_backend(conn, backend["id"], fields)


async def refresh_all(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        backends = await queries.list_backends(conn)

    async def one(backend):
        async with pool.acquire() as conn:
            await refresh_backend(conn, backend)

    await asyncio.gather(*(one(b) for b in backends))


def missing_on(backend: asyncpg.Record, requires: Requirements) -> list[str]:
    return missing_requirements(requires, backend["capabilities"] or {})


class NoCapableBackend(Exception):
    """No enabled backend has what the workflow needs; `missing` says what the closest one lacks."""

    def __init__(self, missing: dict[str, list[str]]):
        self.missing = missing
        if not missing:
            message = "No ComfyUI backend is configured and healthy; add one under Settings > Backends"
        else:
            name, lacks = min(missing.items(), key=lambda item: len(item[1]))
            message = f"No backend can run this workflow; the closest, {name}, lacks: {', '.join(lacks)}"
        super().__init__(message)


class GenerationGone(Exception):
    """The generation stopped waiting (cancelled) before a backend could be claimed for it."""


class Busy:
    """claim()'s answer when it took no slot: `unusable` says a slot is free that this job cannot
    use (role, capabilities, excluded), so a woken waiter hands the wake on to the next in line;
    otherwise every free slot is taken and waking anyone else would only cost them a query."""

    def __init__(self, unusable: bool):
        self.unusable = unusable


# keyframes and previews go to `keyframe` backends, bulk shots to `worker` ones, final re-renders
# to `hero` ones. When no enabled healthy backend has the role asked for, the next role of its
# chain is used (keyframe -> worker, hero -> worker), and then any backend at all.
ROLE_FALLBACK = {"keyframe": ("keyframe", "worker"), "worker": ("worker",), "hero": ("hero", "worker")}


async def resolve_role(conn: asyncpg.Connection, role: str | None, exclude=()) -> str | None:
    """The role a job asking for `role` is dispatched by now (None: any backend)."""
    if role is None:
        return None
    present = {r for b in await queries.list_backends(conn)
               if b["enabled"] and b["health"] == "ok" and b["id"] not in exclude for r in b["roles"]}
    return next((r for r in ROLE_FALLBACK.get(role, (role,)) if r in present), None)


async def claim(conn: asyncpg.Connection, generation_id: int, requires: Requirements, *, role: str | None = None,
                exclude: list[int] = (), fields=lambda backend: {}, event=lambda backend: None):
    """Assigns the waiting generation to the least busy capable backend with a free slot (of its
    role, or the role's fallback: resolve_role), in one transaction with `fields(backend)` set on
    the generation and `event(backend)` emitted.
    Returns the backend, or Busy when every capable one is busy. Raises NoCapableBackend when no
    enabled healthy backend could ever run it, GenerationGone when it is no longer queued."""
    role = await resolve_role(conn, role, exclude)
    candidates = await queries.dispatch_candidates(conn, role, list(exclude))
    capable = [b for b in candidates if not missing_on(b, requires)]
    for backend in capable:
        async with transaction(conn) as tx:
            if not await queries.lock_backend_slot(conn, backend["id"]):
                continue  # another job took the last slot first
            taken = await queries.take_slot(conn, generation_id, backend["id"], fields(backend))
            if not taken:
                raise GenerationGone()
            if (emitted := event(backend)) is not None:
                await tx.emit(emitted)
            return backend
    unusable = len(capable) < len(candidates)
    if capable:
        return Busy(unusable)  # taken by another claim between the query and the lock
    everyone = [b for b in await queries.list_backends(conn)
                if b["enabled"] and b["health"] == "ok" and b["id"] not in exclude
                and (role is None or role in b["roles"])]
    if any(not missing_on(b, requires) for b in everyone):
        return Busy(unusable)  # capable ones exist but are all busy
    raise NoCapableBackend({b["name"]: missing_on(b, requires) for b in everyone})


# -- in-process handoff -------------------------------------------------------------------------

@dataclass(eq=False)
class Waiter:
    """A job of this process waiting for a slot, with what claim() would need to take one for it."""

    generation_id: int
    requires: Requirements
    role: str | None
    exclude: list[int]
    fields: Callable
    event: Callable
    ticket: int  # its place in line, kept while it waits again after a failed claim
    handed: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    reserved: bool = False  # a handoff is deciding about it: it waits for `handed` instead of claiming
    # set once its prompt is posted (or it gave up): the job that handed it a slot reads its own
    # history and outputs after that, so the idle backend gets its next prompt first
    posted: asyncio.Event = field(default_factory=asyncio.Event)


class Line:
    """This process's waiting jobs, oldest first. A job that frees a slot here gives it straight
    to the first waiter that can use it, in the releasing transaction (hand_on), instead of
    committing, notifying and letting a woken waiter claim it in a second transaction: the backend
    idles for one transaction and the submit, not three hops. Waiters in other processes still get
    slots the usual way (the event wakes them)."""

    def __init__(self) -> None:
        self._waiting: dict[int, Waiter] = {}
        self._tickets = itertools.count()

    def ticket(self) -> int:
        return next(self._tickets)

    def join(self, waiter: Waiter) -> None:
        self._waiting[waiter.generation_id] = waiter

    def leave(self, waiter: Waiter) -> None:
        if self._waiting.get(waiter.generation_id) is waiter:
            del self._waiting[waiter.generation_id]

    def reserve_next(self, backend: asyncpg.Record) -> Waiter | None:
        """The oldest waiter that could run on the backend, reserved (out of the line)."""
        able = [w for w in self._waiting.values()
                if backend["id"] not in w.exclude and (w.role is None or w.role in backend["roles"])
                and not missing_on(backend, w.requires)]
        if not able:
            return None
        waiter = min(able, key=lambda w: w.ticket)
        waiter.reserved = True
        self.leave(waiter)
        return waiter


line = Line()


async def pass_slot(conn: asyncpg.Connection, waiter: Waiter, backend: asyncpg.Record, release_id: int,
                    release_fields: dict, executed: Event) -> tuple[bool, list[StoredEvent]]:
    """The finished generation `release_id` gives its slot on `backend` straight to `waiter` (a job
    of this process, reserved out of the line), in one atomic statement with both events, and
    wakes the waiter: with the backend when it took the slot, else with None (it claims as usual).
    The slot moves from one prompt to the next in one commit, so the backend's count of held slots
    never changes and no lock is needed: a claim elsewhere sees the old holder or the new one,
    never a free slot between them. Returns (released, the stored events to publish)."""
    submitted = waiter.event(backend)
    try:
        rows = await queries.transfer_slot(
            conn, release_id=release_id, release_fields=release_fields, backend_id=backend["id"],
            take_id=waiter.generation_id, take_fields=waiter.fields(backend), channel=NOTIFY_CHANNEL,
            executed=(executed.type, executed.project_id, executed.payload()),
            submitted=(submitted.type, submitted.project_id, submitted.payload()))
    except BaseException:
        waiter.handed.set_result(None)
        raise
    stored = [StoredEvent(id=row["id"], at=row["at"], type=row["type"], project_id=event.project_id,
                          payload=event.payload()) for row, event in zip(rows, (executed, submitted))]
    waiter.handed.set_result(backend if len(rows) == 2 else None)
    return bool(rows), stored
