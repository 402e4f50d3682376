"""The creative team's engine: one turn at a time, every turn reloaded from the database.

A session walks ideation (Luna, Frame, Saga propose) -> refinement (rounds of Luna, Frame, Saga and
Lens, each answering `agree`) -> synthesis (Pixel's structured plan) -> review (Lens approves, or
sends the plan back to synthesis). Phase and round changes are stored as system markers in the
transcript, in the same transaction as the message that caused them, so the next speaker is always
a function of the stored rows (`next_turn`): a job killed mid-turn loses only the unfinished answer
and the next run asks the same specialist again.

Rules: a user message no specialist has answered yet is answered by the next turn (its id goes in
the answer's `reply_to`); all four agreeing ends refinement (consensus); a specialist repeating an
earlier message word for word stops the loop; after `max_rounds` rounds without consensus (or
without Lens's approval) the team summarises the options and asks the user (`waiting_user`). An
unusable answer is asked again (TRIES in all), then the session fails with a system message saying
why; a missing model fails it at once ("pull it or pick another").
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
from pydantic import BaseModel, ValidationError

from packages.core.db import transaction
from packages.core.errors import DomainError
from packages.echo_integration import team_events as ev
from packages.echo_integration import team_queries as q
from packages.echo_integration.llm import EchoModelMissing
from packages.echo_integration.team_plan import answer_schema, parse_answer, plan_model, PlanRejected
from packages.echo_integration.team_roles import (
    ReviewAnswer, TeamAnswer, system_prompt, turn_prompt,
)
from packages.echo_integration.team_stream import speak, token_publisher

log = logging.getLogger(__name__)
ORDER = {"ideation": ("luna", "frame", "saga"), "refinement": ("luna", "frame", "saga", "lens"),
         "synthesis": ("pixel",), "review": ("lens",)}
NEXT_PHASE = {"ideation": "refinement", "refinement": "synthesis", "synthesis": "review"}
SPECIALISTS = frozenset({"luna", "frame", "saga", "pixel", "lens"})
TRIES = 3
MAX_OPTIONS = 5
TRANSCRIPT = 40  # the latest messages a specialist reads


@dataclass(frozen=True)
class Turn:
    speaker: str
    phase: str
    round: int
    marker: int  # id of the system marker that opened this round (0: none yet)
    reply_to: dict | None  # the oldest user message no specialist has answered


def _marker(message: dict) -> bool:
    return message["speaker"] == "system" and (message["structured"] or {}).get("kind") == "phase"


def current_round(messages: list[dict]) -> tuple[int, list[dict]]:
    """(id of the last phase marker, the specialists' messages after it)."""
    marker = max((m["id"] for m in messages if _marker(m)), default=0)
    return marker, [m for m in messages if m["id"] > marker and m["speaker"] in SPECIALISTS]


def unanswered(messages: list[dict]) -> dict | None:
    answered = {(m["structured"] or {}).get("reply_to") for m in messages if m["speaker"] in SPECIALISTS}
    return next((m for m in messages if m["speaker"] == "user" and m["id"] not in answered
                 and (m["structured"] or {}).get("kind") != "brief"), None)


def next_turn(session, messages: list[dict]) -> Turn | None:
    """Who speaks next, decided from the stored rows alone; None when nobody should."""
    if session["status"] != "running":
        return None
    marker, spoken = current_round(messages)
    done = {m["speaker"] for m in spoken}
    speaker = next((s for s in ORDER[session["phase"]] if s not in done), None)
    if speaker is None:
        return None
    return Turn(speaker, session["phase"], session["round"], marker, unanswered(messages))


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def repeated(messages: list[dict], message: dict) -> bool:
    """The speaker said exactly this before (case and spacing aside)."""
    said = _norm(message["content"])
    return any(m["speaker"] == message["speaker"] and m["id"] != message["id"] and _norm(m["content"]) == said
               for m in messages)


def options(messages: list[dict]) -> list[str]:
    """Each specialist's latest proposal (and Lens's latest risks), distinct, at most MAX_OPTIONS."""
    latest: dict[str, dict] = {}
    for m in messages:
        if m["speaker"] in SPECIALISTS and m["structured"]:
            latest[m["speaker"]] = m["structured"]
    found: list[str] = []
    for speaker in ("luna", "frame", "saga", "lens"):
        data = latest.get(speaker) or {}
        found += [data["proposal"]] if data.get("proposal") else []
        found += [f"Address: {risk}" for risk in data.get("risks") or []]
    return list(dict.fromkeys(o.strip() for o in found if o.strip()))[:MAX_OPTIONS]


def _names(speakers) -> str:
    names = [s.capitalize() for s in speakers]
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


# -- one turn -----------------------------------------------------------------------------------

def _answer_model(turn: Turn) -> type[BaseModel] | None:
    if turn.speaker == "pixel":
        return None
    return ReviewAnswer if turn.phase == "review" else TeamAnswer


async def _context(conn, session) -> tuple[dict, type[BaseModel]]:
    """What the specialists are told about the project and the target, and the plan's model."""
    project = await q.project(conn, session["project_id"])
    style = await q.style(conn, session["project_id"])
    world = await q.world(conn, session["project_id"])
    target = session["target"]
    context = {"project": {k: project[k] for k in ("name", "genre", "premise", "description")},
               "style": dict(style) if style else None, "world": dict(world) if world else None,
               "director_brief": session["brief"]}
    if target["kind"] == "shot":
        shot = await q.shot(conn, target["shot_id"])
        if shot is not None:
            context["shot"] = {**{k: shot[k] for k in shot.keys() if k not in ("id", "scene_id", "project_id",
                                                                               "character_ids")},
                               "characters": await q.character_names(conn, list(shot["character_ids"]))}
    else:
        character = await q.character(conn, session["project_id"], character_id=target["character_id"])
        if character is not None:
            context["character_image"] = {"character": character["name"], "design_prompt": character["design_prompt"],
                                          "appearance": character["appearance_data"]}
    return context, plan_model(target["kind"], dict(style) if style else None)


class Unusable(Exception):
    pass


async def _ask(pool, settings, session, turn: Turn, messages: list[dict], context: dict,
               plan: type[BaseModel]) -> tuple[int, str, dict]:
    """(message id, content, structured) of the speaker's answer, validated; Unusable after TRIES
    bad answers. Each attempt streams its tokens under a fresh message id (the id the stored
    message gets when that attempt is the good one), so a broken attempt never mixes its text in."""
    model = session["models"][turn.speaker]
    answer_model = _answer_model(turn)
    schema = answer_schema(plan) if answer_model is None else answer_model.model_json_schema()
    chat = [{"role": "system", "content": system_prompt(turn.speaker)},
            {"role": "user", "content": turn_prompt(turn.speaker, turn.phase, context, messages[-TRANSCRIPT:],
                                                     turn.reply_to)}]
    problems = []
    for attempt in range(TRIES):
        async with pool.acquire() as conn:
            message_id = await q.next_message_id(conn)
        publish = token_publisher(pool, session["id"], message_id, turn.speaker)
        try:
            content = await speak(settings, model, chat, schema, publish)
        except EchoModelMissing:
            raise
        except DomainError as exc:  # unreachable, or broke off mid-answer: ask again after a pause
            problems.append(exc.detail)
            await asyncio.sleep(settings.retry_backoff_s * 2 ** attempt)
            continue
        try:
            if answer_model is None:
                answer = parse_answer(content, plan)
            else:
                answer = answer_model.model_validate_json(content)
        except PlanRejected as exc:
            problems.append(exc.why)
            continue
        except ValidationError as exc:
            first = exc.errors()[0]
            problems.append(f"{'.'.join(str(p) for p in first['loc']) or 'answer'}: {first['msg']}")
            continue
        structured = answer.model_dump(mode="json")
        return message_id, structured.pop("message"), structured
    raise Unusable(f"{turn.speaker.capitalize()} gave no usable answer in {TRIES} tries ({'; '.join(problems)})")


async def step(pool: asyncpg.Pool, settings, session_id: int) -> bool:
    """Runs the next turn of the session; True while it has more turns to run."""
    async with pool.acquire() as conn:
        session = await q.get_session(conn, session_id)
        if session is None:
            return False
        messages = [dict(m) for m in await q.list_messages(conn, session_id)]
        turn = next_turn(session, messages)
        if turn is None:
            return False
        context, plan = await _context(conn, session)
    try:  # no connection is held while the model speaks
        message_id, content, structured = await _ask(pool, settings, session, turn, messages, context, plan)
    except (Unusable, EchoModelMissing) as exc:
        await fail(pool, session_id, turn, str(exc) if isinstance(exc, Unusable) else exc.detail)
        return False
    if turn.reply_to is not None:
        structured["reply_to"] = turn.reply_to["id"]
    return await _store(pool, session_id, turn, message_id, content, structured)


async def fail(pool, session_id: int, turn: Turn, why: str) -> None:
    async with pool.acquire() as conn, transaction(conn) as tx:
        session = await q.get_session(conn, session_id, for_update=True)
        if session["status"] != "running":
            return
        await say(conn, tx, session, "system", why, {"kind": "error", "speaker": turn.speaker})
        await change(conn, tx, session, status="failed", error=why)


async def say(conn, tx, session, speaker: str, content: str, structured: dict | None,
               message_id: int | None = None, phase: str | None = None, round_: int | None = None) -> dict:
    row = dict(await q.insert_message(conn, session["id"], speaker, phase or session["phase"],
                                      round_ or session["round"], content, structured, message_id))
    await tx.emit(ev.TeamMessage(project_id=session["project_id"], session_id=session["id"],
                                 message=message_json(row)))
    return row


def message_json(row: dict) -> dict:
    return {"id": row["id"], "speaker": row["speaker"], "phase": row["phase"], "round": row["round"],
            "content": row["content"], "structured": row["structured"], "created_at": row["created_at"].isoformat()}


async def change(conn, tx, session, **fields):
    """Updates the session and emits what changed (phase, state)."""
    row = await q.update_session(conn, session["id"], fields)
    ids = {"project_id": row["project_id"], "session_id": row["id"]}
    if "phase" in fields or "round" in fields:
        await say(conn, tx, row, "system", f"{row['phase'].capitalize()}, round {row['round']}",
                   {"kind": "phase", "phase": row["phase"], "round": row["round"]})
        await tx.emit(ev.TeamPhase(**ids, phase=row["phase"], round=row["round"]))
    if "status" in fields:
        await tx.emit(ev.TeamState(**ids, status=row["status"], error=row["error"]))
    return row


async def ask_user(conn, tx, session, summary: str, choices: list[str]):
    question = {"summary": summary, "options": choices}
    await say(conn, tx, session, "system", summary, {"kind": "question", **question})
    await tx.emit(ev.TeamQuestion(project_id=session["project_id"], session_id=session["id"], **question))
    return await change(conn, tx, session, status="waiting_user", question=question)


async def _store(pool, session_id: int, turn: Turn, message_id: int, content: str, structured: dict) -> bool:
    """Stores the answer and applies the rules, unless the session moved on meanwhile (cancelled,
    answered, or the turn already taken by another run): then the answer is dropped."""
    async with pool.acquire() as conn, transaction(conn) as tx:
        session = await q.get_session(conn, session_id, for_update=True)
        messages = [dict(m) for m in await q.list_messages(conn, session_id)]
        now = next_turn(session, messages)
        if now is None or (now.speaker, now.phase, now.round, now.marker) != (
                turn.speaker, turn.phase, turn.round, turn.marker):
            return now is not None
        message = await say(conn, tx, session, turn.speaker, content, structured, message_id)
        messages.append(message)
        session = await _advance(conn, tx, session, messages, message)
        return session["status"] == "running"


async def _advance(conn, tx, session, messages: list[dict], message: dict):
    phase, round_, ids = session["phase"], session["round"], {"project_id": session["project_id"],
                                                              "session_id": session["id"]}
    _, spoken = current_round(messages)
    if phase != "synthesis" and repeated(messages, message):
        return await ask_user(conn, tx, session, f"{message['speaker'].capitalize()} repeated an earlier message word "
                              "for word: the discussion is going in circles. Choose a direction or write your own.",
                              options(messages))
    if phase == "ideation":
        if {m["speaker"] for m in spoken} >= set(ORDER["ideation"]):
            return await change(conn, tx, session, phase="refinement", round=1)
        return session
    if phase == "refinement":
        if {m["speaker"] for m in spoken} < set(ORDER["refinement"]):
            return session
        agreed = [m["speaker"] for m in spoken if m["structured"].get("agree")]
        reached = len(agreed) == len(spoken)
        await tx.emit(ev.TeamConsensus(**ids, reached=reached))
        if reached:
            return await change(conn, tx, session, phase="synthesis", round=1)
        if round_ >= session["max_rounds"]:
            against = [m["speaker"] for m in spoken if m["speaker"] not in agreed]
            summary = (f"After {round_} round{'s' if round_ > 1 else ''} the team has not agreed: "
                       + (f"{_names(agreed)} accept{'s' if len(agreed) == 1 else ''} the direction, " if agreed else "")
                       + f"{_names(against)} do{'es' if len(against) == 1 else ''} not. "
                       "Choose a direction or write your own.")
            return await ask_user(conn, tx, session, summary, options(messages))
        return await change(conn, tx, session, round=round_ + 1)
    if phase == "synthesis":
        params = message["structured"]["params"]
        await tx.emit(ev.TeamPlan(**ids, params=params))
        return await change(conn, tx, session, plan_params=params, phase="review")
    # review
    if message["structured"].get("approve"):
        await tx.emit(ev.TeamConsensus(**ids, reached=True))
        return await change(conn, tx, session, status="planned", question=None)
    if round_ >= session["max_rounds"]:
        risks = "; ".join(message["structured"].get("risks") or []) or "no risks named"
        return await ask_user(conn, tx, session, f"Lens has not approved the plan after {round_} review"
                              f"{'s' if round_ > 1 else ''} ({risks}). Choose what Pixel should change, write your "
                              "own, or approve the plan as it is.", options(messages))
    return await change(conn, tx, session, phase="synthesis", round=round_ + 1)


async def run(pool: asyncpg.Pool, settings, session_id: int) -> None:
    """The job's body: turns until the session stops running (planned, waiting for the user,
    failed, cancelled). Each turn reloads everything, so a restarted job resumes where it was."""
    while await step(pool, settings, session_id):
        pass
