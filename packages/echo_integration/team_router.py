"""HTTP for the creative team: /team/sessions (start, read, stream, interject, answer, edit and
approve the plan, cancel) and /team/models (each project's role models)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette.sse import EventSourceResponse

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.event_stream import last_event_id
from packages.core.settings import AppSettings
from packages.echo_integration import team_queries as q
from packages.echo_integration import team_service as service
from packages.echo_integration.team_schemas import (
    Accepted, Answer, Approval, Approved, Interjection, PlanEdit, Slug, TeamMessageRead, TeamModels, TeamSession,
    TeamSessionCreate, TeamSessionDetail,
)
from packages.echo_integration.team_stream import session_stream

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")
ProjectSlug = Annotated[Slug, Query(alias="project")]


async def session_from_path(session_id: int, conn: Conn):
    row = await q.get_session(conn, session_id)
    if row is None:
        raise NotFound("No team session with that id", code="team_session_not_found")
    return row


SessionRow = Annotated[dict, Depends(session_from_path)]


async def _read(conn, session_id: int) -> TeamSession:
    return TeamSession.model_validate(dict(await q.get_session(conn, session_id)))


@router.post("/team/sessions", response_model=TeamSession, status_code=201, dependencies=[Director],
             operation_id="team-create_session")
async def create_session(body: TeamSessionCreate, conn: Conn, settings: AppSettings):
    return await _read(conn, await service.create_session(conn, settings, body))


@router.get("/team/sessions", response_model=list[TeamSession], operation_id="team-list_sessions")
async def list_sessions(conn: Conn, project: ProjectSlug):
    project_id = await service.project_id_of(conn, project)
    return [TeamSession.model_validate(dict(r)) for r in await q.list_sessions(conn, project_id)]


@router.get("/team/sessions/{session_id}", response_model=TeamSessionDetail, operation_id="team-get_session")
async def get_session(session: SessionRow, conn: Conn):
    messages = [TeamMessageRead.model_validate(dict(m)) for m in await q.list_messages(conn, session["id"])]
    plan = await service.plan_model_of(conn, session)
    return TeamSessionDetail(**TeamSession.model_validate(dict(session)).model_dump(), messages=messages,
                             plan_schema=plan.model_json_schema())


@router.get("/team/sessions/{session_id}/stream", operation_id="team-stream_session",
            responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}})
async def stream_session(session: SessionRow, request: Request,
                         after: Annotated[int | None, Query(ge=0)] = None) -> EventSourceResponse:
    """`message`, `phase`, `consensus`, `question`, `plan`, `state` (stored, with ids: resume by
    Last-Event-ID or `after`) and `token` {message_id, speaker, text} while a specialist speaks."""
    last_id = request.headers.get("last-event-id")
    if last_id and last_id.isdigit():
        after = int(last_id)
    if after is None:  # a fresh client starts from now (it has just read the session)
        async with request.app.state.pool.acquire() as conn:
            after = await last_event_id(conn)
    messages = session_stream(request.app.state.event_hub, request.app.state.database_url, session["id"],
                              session["project_id"], after)
    return EventSourceResponse(messages, ping=15, headers={"Cache-Control": "no-store"})


@router.post("/team/sessions/{session_id}/interject", response_model=Accepted, status_code=202,
             dependencies=[Director], operation_id="team-interject")
async def interject(session: SessionRow, body: Interjection, conn: Conn):
    return Accepted(status=await service.interject(conn, session["id"], body.content))


@router.post("/team/sessions/{session_id}/answer", response_model=Accepted, status_code=202,
             dependencies=[Director], operation_id="team-answer")
async def answer(session: SessionRow, body: Answer, conn: Conn):
    return Accepted(status=await service.answer(conn, session["id"], body))


@router.patch("/team/sessions/{session_id}/plan", response_model=TeamSession, dependencies=[Director],
              operation_id="team-edit_plan")
async def edit_plan(session: SessionRow, body: PlanEdit, conn: Conn):
    await service.edit_plan(conn, session["id"], body.params)
    return await _read(conn, session["id"])


@router.post("/team/sessions/{session_id}/approve", response_model=Approved, status_code=201,
             response_model_exclude_none=True, dependencies=[Director], operation_id="team-approve")
async def approve(session: SessionRow, conn: Conn, settings: AppSettings, body: Approval | None = None):
    return await service.approve(conn, settings, session["id"], body.params if body else None)


@router.post("/team/sessions/{session_id}/cancel", response_model=TeamSession, dependencies=[Director],
             operation_id="team-cancel")
async def cancel(session: SessionRow, conn: Conn):
    await service.cancel(conn, session["id"])
    return await _read(conn, session["id"])


@router.get("/team/models", response_model=TeamModels, operation_id="team-get_models")
async def get_models(conn: Conn, settings: AppSettings, project: ProjectSlug):
    return TeamModels(**await service.models_for(conn, settings, await service.project_id_of(conn, project)))


@router.put("/team/models", response_model=TeamModels, dependencies=[Director], operation_id="team-put_models")
async def put_models(body: TeamModels, conn: Conn, settings: AppSettings, project: ProjectSlug):
    project_id = await service.project_id_of(conn, project)
    await service.put_models(conn, project_id, body)
    return TeamModels(**await service.models_for(conn, settings, project_id))
