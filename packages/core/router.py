"""Core HTTP: health, browser session, tokens, event history and the live event stream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from packages.core import auth
from packages.core.auth import COOKIE_NAME, CurrentUser, User, current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound, Unauthorized
from packages.core.event_stream import count_events_after, events_after, last_event_id, sse_message
from packages.core.events import StoredEvent
from packages.core.job_events import RunningJob, running_jobs
from packages.core.jobs import periodic_tasks
from packages.core.schemas import Page, PageParams, page_params

VERSION = "0.1.0"

# Open routes (no token): health and the exchange of a token for a browser session cookie.
public = APIRouter()
# Everything else is behind the auth dependency from the start.
router = APIRouter(dependencies=[Depends(current_user)])


class Health(BaseModel):
    status: str
    version: str
    database: str


@public.get("/health", response_model=Health, operation_id="core-health")
async def health(conn: Conn) -> Health:
    await conn.fetchval("SELECT 1")
    return Health(status="ok", version=VERSION, database="ok")


class SessionIn(BaseModel):
    token: str = Field(min_length=1, max_length=512)


class SessionOut(BaseModel):
    user: User


@public.post("/auth/session", response_model=SessionOut, operation_id="core-create_session")
async def create_session(body: SessionIn, request: Request, response: Response) -> SessionOut:
    user = await auth.authenticate(request, body.token)
    if user is None:
        raise Unauthorized("That token is not valid (revoked or mistyped)", code="invalid_token")
    response.set_cookie(COOKIE_NAME, body.token, httponly=True, samesite="strict",
                        max_age=30 * 24 * 3600, path="/", secure=request.url.scheme == "https")
    return SessionOut(user=user)


@public.delete("/auth/session", status_code=204, operation_id="core-delete_session")
async def delete_session(response: Response) -> Response:
    response.delete_cookie(COOKIE_NAME, path="/")
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=User, operation_id="core-me")
async def me(user: CurrentUser) -> User:
    return user


class TokenRead(BaseModel):
    id: int
    name: str
    prefix: str
    user_name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(pattern="^(admin|director|reviewer|viewer)$")


class TokenCreated(BaseModel):
    id: int
    name: str
    prefix: str
    role: str
    token: str


@router.get("/tokens", response_model=Page[TokenRead], dependencies=[require("admin")], operation_id="core-list_tokens")
async def list_tokens(conn: Conn, page: Annotated[PageParams, Depends(page_params)]) -> Page[TokenRead]:
    rows, total = await auth.list_tokens(conn, page.limit, page.offset)
    return Page(items=[TokenRead(**dict(r)) for r in rows], total=total)


@router.post("/tokens", response_model=TokenCreated, status_code=201, dependencies=[require("admin")],
             operation_id="core-create_token")
async def create_token(body: TokenCreate, conn: Conn) -> TokenCreated:
    token_id, token = await auth.create_token(conn, user_name=body.name, role=body.role, token_name=body.name)
    return TokenCreated(id=token_id, name=body.name, prefix=token[:7], role=body.role, token=token)


@router.delete("/tokens/{token_id}", status_code=204, dependencies=[require("admin")], operation_id="core-revoke_token")
async def revoke_token(token_id: int, conn: Conn) -> Response:
    if not await auth.revoke_token(conn, token_id):
        raise NotFound("No active token with that id", code="token_not_found")
    return Response(status_code=204)


@router.get("/events", response_model=Page[StoredEvent], operation_id="core-list_events")
async def list_events(
    conn: Conn,
    project_id: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[StoredEvent]:
    """Stored events after an id, oldest first; with project_id, that project's and studio-wide ones."""
    items = await events_after(conn, after, project_id, limit)
    return Page(items=items, total=await count_events_after(conn, after, project_id))


@router.get("/jobs/running", response_model=list[RunningJob], operation_id="core-list_running_jobs")
async def list_running_jobs(conn: Conn, project_id: Annotated[int, Query(ge=1)]) -> list[RunningJob]:
    """The project's background jobs that a worker runs now (reviews, ingestion, pilots...): what
    their job.started events told, for a page opened after them."""
    return await running_jobs(conn, project_id, periodic_tasks())


@router.get("/events/stream", operation_id="core-stream_events",
            responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}})
async def stream_events(
    request: Request,
    project_id: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    last_id = request.headers.get("last-event-id")
    if last_id and last_id.isdigit():
        after = int(last_id)
    if after is None:  # a fresh client starts from now
        async with request.app.state.pool.acquire() as conn:
            after = await last_event_id(conn)

    async def messages():
        async for event in request.app.state.event_hub.subscribe(after, project_id):
            if event is not None:
                yield sse_message(event)

    return EventSourceResponse(messages(), ping=15, headers={"Cache-Control": "no-store"})
