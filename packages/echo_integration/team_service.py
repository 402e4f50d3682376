"""Rules and transactions of the creative team's commands: start a session, interject, answer the
team's question, edit or approve the plan, cancel; and each project's role models. The turns
themselves run in the job (team.py)."""

from __future__ import annotations

import asyncpg

from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, NotFound
from packages.core.settings import Settings
from packages.echo_integration import team_queries as q
from packages.echo_integration.team import change, say
from packages.echo_integration.team_events import TeamPlan
from packages.echo_integration.team_jobs import enqueue_session
from packages.echo_integration.team_plan import check_params, generation_body, plan_model
from packages.echo_integration.team_roles import SPECIALISTS
from packages.echo_integration.team_schemas import Answer, Approved, TeamModels, TeamSessionCreate
from packages.scene_generation import queries as scene_queries
from packages.scene_generation import service as scene_service
from packages.scene_generation.schemas import ShotUpdate
from packages.visual_pipeline.jobs import enqueue_generation
from packages.visual_pipeline.service import insert_generations

CLOSED = ("approved", "cancelled")


async def project_id_of(conn: asyncpg.Connection, slug: str, *, invalid: bool = False) -> int:
    row = await q.project_by_slug(conn, slug)
    if row is None:
        if invalid:
            raise Invalid("No project with that slug", code="project_not_found", field="project")
        raise NotFound("No project with that slug", code="project_not_found")
    return row["id"]


async def models_for(conn: asyncpg.Connection, settings: Settings, project_id: int) -> dict:
    """The project's role models; a role nobody assigned uses the Echo Brain chat model."""
    stored = await q.get_models(conn, project_id) or {}
    return {role: stored.get(role) or settings.chat_model for role in SPECIALISTS}


async def put_models(conn: asyncpg.Connection, project_id: int, body: TeamModels) -> None:
    async with conn.transaction():
        await q.put_models(conn, project_id, body.model_dump())


async def _target(conn, project_id: int, body: TeamSessionCreate) -> dict:
    target = body.target
    if target.kind == "shot":
        shot = await q.shot(conn, target.shot_id)
        if shot is None or shot["project_id"] != project_id:
            raise Invalid("No shot with that id in this project", code="shot_not_found", field="shot_id")
        return {"kind": "shot", "shot_id": shot["id"], "scene_id": shot["scene_id"]}
    character = await q.character(conn, project_id, slug=target.character)
    if character is None:
        raise Invalid("No character with that slug in this project", code="character_not_found", field="character")
    if character["archived"]:
        raise Conflict("The character is archived; restore it first", code="character_archived")
    return {"kind": "character_image", "character": character["slug"], "character_id": character["id"]}


async def create_session(conn: asyncpg.Connection, settings: Settings, body: TeamSessionCreate) -> int:
    if not settings.ollama_host:
        raise Conflict("The creative team needs an Ollama server: set OLLAMA_HOST", code="ollama_not_configured")
    project_id = await project_id_of(conn, body.project, invalid=True)
    target = await _target(conn, project_id, body)
    models = await models_for(conn, settings, project_id)
    async with transaction(conn) as tx:
        session = await q.insert_session(conn, project_id, target, body.brief, body.max_rounds, models)
        if body.brief:
            await say(conn, tx, session, "user", body.brief, {"kind": "brief"})
        await change(conn, tx, session, status="running", phase="ideation", round=1)
    await enqueue_session(session["id"])
    return session["id"]


async def _locked(conn, session_id: int):
    session = await q.get_session(conn, session_id, for_update=True)
    if session is None:
        raise NotFound("No team session with that id", code="team_session_not_found")
    return session


def _open(session) -> None:
    if session["status"] in CLOSED:
        raise Conflict(f"The session is {session['status']}; start a new one", code="team_session_closed")


async def _resume(conn, tx, session, content: str, structured: dict) -> None:
    """The director's words when the team waits for them: they decide, Pixel synthesises."""
    await say(conn, tx, session, "user", content, structured)
    await change(conn, tx, session, status="running", question=None, error=None, phase="synthesis", round=1)


async def interject(conn: asyncpg.Connection, session_id: int, content: str) -> str:
    """The user's words join the transcript; the next turn answers them first. A waiting session
    takes them as the answer; a planned one reopens the discussion; a failed one tries again."""
    async with transaction(conn) as tx:
        session = await _locked(conn, session_id)
        _open(session)
        status = session["status"]
        if status == "waiting_user":
            await _resume(conn, tx, session, content, {"kind": "answer"})
        else:
            await say(conn, tx, session, "user", content, {"kind": "interjection"})
            if status == "planned":
                await change(conn, tx, session, status="running", phase="refinement", round=1)
            elif status == "failed":
                await change(conn, tx, session, status="running", error=None)
    await enqueue_session(session_id)
    return "running"


async def answer(conn: asyncpg.Connection, session_id: int, body: Answer) -> str:
    async with transaction(conn) as tx:
        session = await _locked(conn, session_id)
        if session["status"] != "waiting_user" or not session["question"]:
            raise Conflict("The team has no question waiting for an answer", code="no_question")
        choices = session["question"]["options"]
        if body.option_index is not None:
            if body.option_index >= len(choices):
                raise Invalid(f"option_index is 0 to {len(choices) - 1}" if choices else "There are no options: "
                              "write your answer as content", code="bad_option", field="option_index")
            content = choices[body.option_index]
        else:
            content = body.content
        await _resume(conn, tx, session, content, {"kind": "answer", "option_index": body.option_index})
    await enqueue_session(session_id)
    return "running"


async def plan_model_of(conn, session):
    return plan_model(session["target"]["kind"], dict(await q.style(conn, session["project_id"]) or {}) or None)


async def edit_plan(conn: asyncpg.Connection, session_id: int, params: dict) -> None:
    async with transaction(conn) as tx:
        session = await _locked(conn, session_id)
        _open(session)
        checked = check_params(params, await plan_model_of(conn, session))
        await change(conn, tx, session, plan_params=checked)
        await tx.emit(TeamPlan(project_id=session["project_id"], session_id=session_id, params=checked))


async def approve(conn: asyncpg.Connection, settings: Settings, session_id: int, params: dict | None) -> Approved:
    """The plan (the user's edit when given) becomes generations of the character's image, or fills
    the shot's prompt, motion and framing. Once: an approved session refuses a second approval."""
    generation_ids: list[int] = []
    async with transaction(conn) as tx:
        session = await _locked(conn, session_id)
        _open(session)
        plan = params if params is not None else session["plan_params"]
        if plan is None:
            raise Conflict("Pixel has not made a plan yet", code="no_plan")
        checked = check_params(plan, await plan_model_of(conn, session))
        target = session["target"]
        if target["kind"] == "shot":
            result = Approved(shot_id=await _fill_shot(conn, session, target, checked))
        else:
            character = await q.character(conn, session["project_id"], character_id=target["character_id"])
            if character is None:
                raise Conflict("The character no longer exists", code="character_not_found")
            generation_ids = await insert_generations(conn, settings, generation_body(checked, character["id"]),
                                                      origin={"team_session_id": session_id})
            result = Approved(generation_ids=generation_ids)
        await change(conn, tx, session, status="approved", plan_params=checked, question=None,
                   result=result.model_dump(exclude_none=True))
    for gen_id in generation_ids:  # after the commit
        await enqueue_generation(gen_id)
    return result


async def _fill_shot(conn, session, target: dict, params: dict) -> int:
    scene = await scene_queries.get_scene(conn, target["scene_id"])
    shot = await scene_queries.get_shot(conn, target["shot_id"])
    if scene is None or shot is None or shot["scene_id"] != scene["id"]:
        raise Conflict("The shot no longer exists", code="shot_not_found")
    await scene_service.update_shot(conn, scene, shot, ShotUpdate(**params))
    return shot["id"]


async def cancel(conn: asyncpg.Connection, session_id: int) -> None:
    async with transaction(conn) as tx:
        session = await _locked(conn, session_id)
        if session["status"] == "approved":
            raise Conflict("The session is approved; nothing to cancel", code="team_session_closed")
        if session["status"] != "cancelled":
            await change(conn, tx, session, status="cancelled", question=None)
