"""Keeps the project memory in step with the rows it holds.

A change to a storyline, the world settings, a character, a scene or its shots, a review with a
reason, or a chat note emits an event; the reaction here only defers `echo:sync_memory` for that
project (one waiting job per project, run one at a time). The job reads the project's rows, turns
each into a text document, and embeds only those whose text (or embedder) changed since the last
run, by the sha256 kept in `memory_points`; points of rows that are gone are removed. Running it
twice in a row embeds nothing the second time.

With Qdrant in local mode only the server process can open the store, so the job runs on the
`echo` queue, which the server's in-process worker works; separate workers that cannot open it
fail the job with a clear MemoryUnavailable (set QDRANT_URL to share the store).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
import procrastinate

from packages.core.db import transaction
from packages.core.events import EventBus, StoredEvent
from packages.core.jobs import defer_once, runtime
from packages.core.settings import Settings
from packages.echo_integration import memory, queries
from packages.echo_integration.embeddings import embedder_name
from packages.echo_integration.events import MemoryUpdated

log = logging.getLogger(__name__)
echo_jobs = procrastinate.Blueprint()
QUEUE = "echo"
TASK = "echo:sync_memory"
DEBOUNCE_S = 2.0  # edits in a burst (typing in a field) become one job
TRIGGERS = (
    "storyline.created", "storyline.updated", "storyline.deleted", "world_settings.updated",
    "character.created", "character.updated", "character.archived", "character.restored",
    "scene.created", "scene.updated", "scene.deleted", "scene.shots_changed",
    "image.approved", "image.rejected", "feedback.recorded", "echo.message_added",
)
_registered: set[int] = set()


def _text(*parts: tuple[str, Any]) -> str:
    lines = []
    for label, value in parts:
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False) if value else ""
        value = str(value or "").strip()
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def documents(slug: str, rows: Mapping[str, list]) -> list[dict]:
    """One document (kind, row_id, title, url, text) per project row the memory holds."""
    base = f"/p/{slug}"
    docs: list[dict] = []

    def add(kind: str, row_id: int, title: str, url: str, text: str) -> None:
        if text.strip():
            docs.append({"kind": kind, "row_id": row_id, "title": title[:200], "url": url, "text": text})

    for r in rows.get("storyline", []):
        add("storyline", r["id"], r["title"], f"{base}/story",
            _text(("Storyline", r["title"]), ("Summary", r["summary"]), ("Theme", r["theme"]), ("Tone", r["tone"]),
                  ("Audience", r["target_audience"]), ("Arcs", r["arcs"])))
    for r in rows.get("world", []):
        add("world", r["id"], "World settings", f"{base}/story",
            _text(("World setting", r["setting"]), ("Art direction", r["art_direction"]),
                  ("Cinematography", r["cinematography"]), ("Palettes", r["palettes"]),
                  ("Negative guidance", r["negative_guidance"])))
    for r in rows.get("character", []):
        look = r["appearance_data"] or {}
        add("character", r["id"], r["name"], f"{base}/characters/{r['slug']}",
            _text(("Character", r["name"]), ("Design", r["design_prompt"]), ("Species", look.get("species")),
                  ("Gender", look.get("gender")), ("Key colors", look.get("key_colors")),
                  ("Key features", look.get("key_features")), ("Common errors", look.get("common_errors")),
                  ("Voice", r["voice"])))
    for r in rows.get("scene", []):
        add("scene", r["id"], r["title"], f"{base}/scenes/{r['id']}",
            _text(("Scene", f"{r['position']}. {r['title']}"), ("Description", r["description"]),
                  ("Location", r["location"]), ("Time of day", r["time_of_day"]), ("Weather", r["weather"]),
                  ("Mood", r["mood"])))
    for r in rows.get("shot", []):
        add("shot", r["id"], f"{r['scene_title']} — shot {r['position']}", f"{base}/scenes/{r['scene_id']}",
            _text(("Shot", f"{r['position']} of scene {r['scene_title']}"), ("Type", r["shot_type"]),
                  ("Camera", r["camera_angle"]), ("Prompt", r["prompt"]), ("Motion", r["motion_prompt"]),
                  ("Dialogue", r["dialogue_text"])))
    for r in rows.get("review", []):
        add("review", r["id"], f"{r['character_name']}: image {r['image_id']} {r['decision']}", f"{base}/approve",
            _text(("Review", f"{r['reviewer']} {r['decision']} an image of {r['character_name']}"),
                  ("Reason", r["reason"]), ("Note", r["note"])))
    for r in rows.get("note", []):
        add("note", r["id"], r["conversation_title"] or "Chat note", f"{base}/project?conversation={r['conversation_id']}",
            _text(("Note", r["content"])))
    return docs


def digest(doc: dict, embedder: str) -> str:
    return hashlib.sha256(f"{embedder}\n{doc['title']}\n{doc['url']}\n{doc['text']}".encode()).hexdigest()


async def sync_project(conn: asyncpg.Connection, settings: Settings, project_id: int, *, rebuild: bool = False) -> dict:
    """Brings one project's memory up to date; returns {embedded, removed}."""
    slug = await queries.project_slug(conn, project_id)
    if slug is None:
        return {"embedded": 0, "removed": 0}
    if rebuild:
        await memory.clear_project(settings, project_id)
        await queries.forget_project(conn, project_id)
    embedder = embedder_name(settings)
    docs = documents(slug, await queries.memory_rows(conn, project_id))
    known = await queries.memory_hashes(conn, project_id)
    changed = [(d, h) for d in docs if known.get((d["kind"], d["row_id"])) != (h := digest(d, embedder))]
    gone = sorted(set(known) - {(d["kind"], d["row_id"]) for d in docs})
    await memory.upsert(settings, project_id, [d for d, _ in changed])
    await memory.remove(settings, project_id, gone)
    async with transaction(conn) as tx:
        await queries.upsert_memory_hashes(conn, project_id, [(d["kind"], d["row_id"], h) for d, h in changed])
        await queries.delete_memory_hashes(conn, project_id, gone)
        if changed or gone:
            await tx.emit(MemoryUpdated(project_id=project_id, embedded=len(changed), removed=len(gone)))
    return {"embedded": len(changed), "removed": len(gone)}


@echo_jobs.task(name="sync_memory", queue=QUEUE)
async def sync_memory(project_id: int, rebuild: bool = False) -> dict:
    """Re-embeds the project's changed rows (idempotent: a second run embeds nothing)."""
    async with runtime.acquire() as conn:
        return await sync_project(conn, runtime.settings, project_id, rebuild=rebuild)


async def request_sync(project_id: int, *, rebuild: bool = False, delay_s: float | None = None) -> None:
    key = f"echo:memory-rebuild:{project_id}" if rebuild else f"echo:memory:{project_id}"
    await defer_once(TASK, key, delay_s=delay_s, project_id=project_id, rebuild=rebuild)


async def on_event(event: StoredEvent) -> None:
    if event.type == "echo.message_added" and event.payload.get("role") != "user":
        return  # answers are not memory; the user's messages are (notes)
    if event.project_id is not None:
        await request_sync(event.project_id, delay_s=DEBOUNCE_S)


def register(bus: EventBus) -> None:
    """Subscribes the memory's reaction, once per bus."""
    if id(bus) in _registered:
        return
    _registered.add(id(bus))
    for event_type in TRIGGERS:
        bus.subscribe(event_type, on_event)
