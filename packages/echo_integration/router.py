"""HTTP for Echo Brain: /echo/status, /echo/conversations, /echo/search, /echo/enhance,
/echo/narrate, /echo/reindex. Answers and narration stream as SSE (sse-starlette)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette import EventSourceResponse

from packages.core.auth import CurrentUser, current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.settings import AppSettings
from packages.echo_integration import enhance as enhancer
from packages.echo_integration import indexer, memory, narrate as narrator, queries, service
from packages.echo_integration.schemas import (
    ConversationCreate, ConversationRead, ConversationSummary, EchoStatus, EnhanceRead, EnhanceRequest,
    MessageCreate, MessageRead, NarrateRequest, ReindexAccepted, ReindexRequest, SearchRequest, Source,
)

router = APIRouter(dependencies=[Depends(current_user)])
Writer = require("reviewer")  # chatting stores conversations; reading them needs any token
Director = require("director")
SSE = {200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}}
Slug = Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


async def conversation_from_path(conversation_id: int, conn: Conn):
    row = await queries.get_conversation(conn, conversation_id)
    if row is None:
        raise NotFound("No conversation with that id", code="conversation_not_found")
    return row


ConversationRow = Annotated[dict, Depends(conversation_from_path)]


@router.get("/echo/status", response_model=EchoStatus, operation_id="echo-status")
async def status(settings: AppSettings) -> EchoStatus:
    return await service.status(settings)


@router.get("/echo/conversations", response_model=list[ConversationSummary], operation_id="echo-list_conversations")
async def list_conversations(project: Slug, conn: Conn):
    row = await service.project_of(conn, project)
    return [ConversationSummary.model_validate(dict(r)) for r in await queries.list_conversations(conn, row["id"])]


@router.post("/echo/conversations", response_model=ConversationSummary, status_code=201, dependencies=[Writer],
             operation_id="echo-create_conversation")
async def create_conversation(body: ConversationCreate, conn: Conn, user: CurrentUser):
    return ConversationSummary.model_validate(dict(await service.create_conversation(conn, body, user)))


@router.get("/echo/conversations/{conversation_id}", response_model=ConversationRead,
            operation_id="echo-get_conversation")
async def get_conversation(conversation: ConversationRow, conn: Conn):
    messages = [MessageRead.model_validate(dict(m)) for m in await queries.messages(conn, conversation["id"])]
    return ConversationRead(**dict(conversation), messages=messages)


@router.post("/echo/conversations/{conversation_id}/messages", dependencies=[Writer], responses=SSE,
             operation_id="echo-send_message")
async def send_message(body: MessageCreate, conversation: ConversationRow, conn: Conn, request: Request,
                       settings: AppSettings) -> EventSourceResponse:
    """Stores the message, then streams the answer: `sources`, `token` {text}..., `done` {message_id}
    or `error` {detail, code}."""
    message_id = await service.add_user_message(conn, conversation, body.content)
    stream = service.answer(request.app.state.pool, settings, dict(conversation), body.content, message_id)
    return EventSourceResponse(stream, ping=15, headers={"Cache-Control": "no-store"})


@router.post("/echo/search", response_model=list[Source], operation_id="echo-search")
async def search(body: SearchRequest, conn: Conn, settings: AppSettings):
    project = await service.project_of(conn, body.project)
    return await memory.search(settings, project["id"], body.query, limit=body.limit)


@router.post("/echo/enhance", response_model=EnhanceRead, dependencies=[Writer], operation_id="echo-enhance")
async def enhance(body: EnhanceRequest, conn: Conn, settings: AppSettings):
    return await enhancer.enhance(conn, settings, body)


@router.post("/echo/narrate", dependencies=[Writer], responses=SSE, operation_id="echo-narrate")
async def narrate(body: NarrateRequest, conn: Conn, settings: AppSettings) -> EventSourceResponse:
    """Streams a draft or continuation of one field: `token` {text}..., `done` {text} or `error`."""
    messages = await narrator.prepare(conn, settings, body)
    return EventSourceResponse(narrator.stream(settings, messages), ping=15, headers={"Cache-Control": "no-store"})


@router.post("/echo/reindex", response_model=ReindexAccepted, status_code=202, dependencies=[Director],
             operation_id="echo-reindex")
async def reindex(body: ReindexRequest, conn: Conn):
    project = await service.project_of(conn, body.project)
    await indexer.request_sync(project["id"], rebuild=True)
    return ReindexAccepted(project_id=project["id"], queued=True)
