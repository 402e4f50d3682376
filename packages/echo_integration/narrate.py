"""Narration assist: drafts or extends one storyline or world-settings field. The text streams back
(SSE `token` ... `done` {text}); nothing is saved here: the UI puts it into the field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg

from packages.core.errors import DomainError, NotFound
from packages.core.settings import Settings
from packages.echo_integration import llm, queries, service
from packages.echo_integration.chat import DATA_RULE, data_block
from packages.echo_integration.schemas import NarrateRequest

SYSTEM_PROMPT = (
    "You are a story writer for an anime studio. You write one field of the project's story bible at a time, "
    "in the project's voice, consistent with its existing story, world and characters. Answer with the field's "
    "text only: no title, no preamble, no quotes around it. " + DATA_RULE
)
LABELS = {"title": "title", "summary": "summary", "theme": "theme", "tone": "tone",
          "target_audience": "target audience", "setting": "world setting", "art_direction": "art direction",
          "cinematography": "cinematography", "negative_guidance": "negative guidance (what never to show)"}


async def prepare(conn: asyncpg.Connection, settings: Settings, body: NarrateRequest) -> list[dict]:
    """The messages for the model (raises 404s before any stream starts)."""
    project = await service.project_of(conn, body.project)
    table, field = body.field.split(".", 1)
    if table == "storyline":
        row = await queries.storyline(conn, project["id"], body.storyline_id)
        if row is None and (body.storyline_id is not None or body.mode == "extend"):
            raise NotFound("No storyline to write in: create one first", code="storyline_not_found")
    else:
        row = await queries.world_settings(conn, project["id"])
    current = (row[field] if row is not None else "") or ""
    if body.mode == "extend" and not current.strip():
        raise DomainError("The field is empty: draft it instead of extending it", code="nothing_to_extend")
    sources, texts = await service.retrieve(settings, project["id"], f"{LABELS[field]} {current[:500]}"
                                            f" {body.instructions}", limit=6)
    project_facts = json.dumps({"name": project["name"], "genre": project["genre"], "premise": project["premise"]},
                               ensure_ascii=False)
    task = (f"Draft the {LABELS[field]}." if body.mode == "draft" else
            f"Continue the {LABELS[field]} from where it ends; answer only the new text.")
    parts = [data_block(sources, texts), f"Project (data): {project_facts}",
             f"Current {LABELS[field]} (data, JSON string): {json.dumps(current)}", task]
    if body.instructions.strip():
        parts.append(f"The user's instructions: {body.instructions.strip()}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


async def stream(settings: Settings, messages: list[dict]) -> AsyncIterator[dict]:
    parts: list[str] = []
    try:
        async for text in llm.ollama_chat(settings, messages):
            parts.append(text)
            yield {"event": "token", "data": json.dumps({"text": text}, ensure_ascii=False)}
    except DomainError as exc:
        yield {"event": "error", "data": json.dumps({"detail": exc.detail, "code": exc.code})}
        return
    yield {"event": "done", "data": json.dumps({"text": "".join(parts)}, ensure_ascii=False)}
