"""Rules of Echo Brain: conversations, a message's answer as a stream of SSE messages, memory
search and status. The answer's stream stores the user's message first (so a failed answer keeps
the question), then sends `sources`, `token`s and `done` (the stored answer's id) or `error`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import asyncpg

from packages.core.auth import User
from packages.core.db import transaction
from packages.core.errors import DomainError, NotFound
from packages.core.settings import Settings
from packages.echo_integration import llm, memory, queries
from packages.echo_integration.chat import chat_messages
from packages.echo_integration.embeddings import embedder_name
from packages.echo_integration.events import ConversationCreated, MessageAdded
from packages.echo_integration.schemas import (
    ConversationCreate, EchoStatus, MemoryStatus, OllamaStatus, Source,
)

log = logging.getLogger(__name__)
RETRIEVE = 6
TITLE_CHARS = 60


async def project_of(conn: asyncpg.Connection, slug: str):
    row = await queries.project_by_slug(conn, slug)
    if row is None:
        raise NotFound("No project with that slug", code="project_not_found")
    return row


async def create_conversation(conn: asyncpg.Connection, body: ConversationCreate, user: User):
    project = await project_of(conn, body.project)
    async with transaction(conn) as tx:
        conversation_id = await queries.insert_conversation(conn, project["id"], body.title.strip(), user.name)
        await tx.emit(ConversationCreated(project_id=project["id"], conversation_id=conversation_id))
    return await queries.get_conversation(conn, conversation_id)


async def add_user_message(conn: asyncpg.Connection, conversation, content: str) -> int:
    async with transaction(conn) as tx:
        message_id = await queries.insert_message(conn, conversation["id"], "user", content, [])
        await queries.set_title_if_empty(conn, conversation["id"], " ".join(content.split())[:TITLE_CHARS])
        await queries.touch_conversation(conn, conversation["id"])
        await tx.emit(MessageAdded(project_id=conversation["project_id"], conversation_id=conversation["id"],
                                   message_id=message_id, role="user"))
    return message_id


async def retrieve(settings: Settings, project_id: int, query: str, limit: int = RETRIEVE,
                   ) -> tuple[list[Source], dict[tuple[str, int], str]]:
    """The sources for a question and their whole texts; no memory (store closed, embedder down)
    means no sources rather than no answer."""
    try:
        sources = await memory.search(settings, project_id, query, limit=limit)
        return sources, await memory.full_text(settings, project_id, sources)
    except DomainError as exc:
        log.warning("memory search failed for project %s: %s", project_id, exc.detail)
        return [], {}


def _sse(event: str, data) -> dict:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


async def answer(pool: asyncpg.Pool, settings: Settings, conversation, question: str,
                 message_id: int) -> AsyncIterator[dict]:
    """The SSE messages of one answer; the answer is stored (with its sources) when it completes."""
    async with pool.acquire() as conn:
        history = [dict(m) for m in await queries.recent_messages(conn, conversation["id"], 13)
                   if m["id"] != message_id]
    sources, texts = await retrieve(settings, conversation["project_id"], question)
    yield _sse("sources", [s.model_dump() for s in sources])
    parts: list[str] = []
    try:
        async for text in llm.ollama_chat(settings, chat_messages(history, question, sources, texts)):
            parts.append(text)
            yield _sse("token", {"text": text})
    except DomainError as exc:
        yield _sse("error", {"detail": exc.detail, "code": exc.code})
        return
    async with pool.acquire() as conn, transaction(conn) as tx:
        answer_id = await queries.insert_message(conn, conversation["id"], "assistant", "".join(parts),
                                                 [s.model_dump() for s in sources], settings.chat_model)
        await queries.touch_conversation(conn, conversation["id"])
        await tx.emit(MessageAdded(project_id=conversation["project_id"], conversation_id=conversation["id"],
                                   message_id=answer_id, role="assistant"))
    yield _sse("done", {"message_id": answer_id})


_loading: set[asyncio.Task] = set()


async def status(settings: Settings) -> EchoStatus:
    wanted = [settings.chat_model] + ([settings.embed_model] if settings.embed_model else [])
    reachable, missing = (await llm.probe(settings, wanted)) if settings.ollama_host else (False, [])
    points, error = None, None
    if memory.client_loaded():
        try:
            points = await memory.count(settings)
        except DomainError as exc:
            error = exc.detail
    else:  # importing Qdrant's client takes seconds: this status answers now, the next one counts
        _loading.add(task := asyncio.create_task(memory.load_client()))
        task.add_done_callback(_loading.discard)
    return EchoStatus(
        ollama=OllamaStatus(configured=bool(settings.ollama_host), reachable=reachable, chat_model=settings.chat_model,
                            embed_model=settings.embed_model, missing_models=missing),
        memory=MemoryStatus(backend=memory.backend(settings), points=points, embedder=embedder_name(settings),
                            error=error))
