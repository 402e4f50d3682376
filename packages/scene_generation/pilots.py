"""Pilots: before a scene is rendered, 2 or 3 strategies (engine and tier) render its first K
shots, each within a slice of the pilot's GPU-second budget (pilots_run.py). Each is scored: the
vision QA average of its shots' last frames, its gate pass rate and its cost per passed second
(GPU-seconds spent / seconds of video that passed the gate). The critic (rules, critique()) keeps
the best and cancels the others, and the winner's slice grows by what the others left unspent;
the winner's shots become the scene's first K shots, the scene takes its engine and steps, and
(continue_scene) the scene job goes on from shot K+1. The user can choose another strategy
afterwards (choose()): the same hand-over with that one."""

from __future__ import annotations

import asyncpg

from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid
from packages.core.jobs import defer_once
from packages.core.settings import Settings
from packages.scene_generation import farm_queries, gate, queries
from packages.scene_generation.farm_events import PilotChanged
from packages.scene_generation.pilots_schemas import PilotCreate
from packages.scene_generation.service import BUSY

PILOT_TASK = "farm:run_pilot"


def _event(scene, pilot_id: int, status: str, step: str = "") -> PilotChanged:
    return PilotChanged(project_id=scene["project_id"], scene_id=scene["id"], pilot_id=pilot_id, status=status,
                        step=step)


async def start(conn: asyncpg.Connection, settings: Settings, scene, body: PilotCreate) -> int:
    if body.critic_model and not settings.ollama_host:
        raise Conflict("An Ollama critic needs an Ollama server: set OLLAMA_HOST, or run the pilot with the rules "
                       "critic alone", code="ollama_not_configured")
    async with transaction(conn) as tx:
        fresh = await queries.get_scene(conn, scene["id"], for_update=True)
        if fresh["status"] in BUSY:
            raise Conflict("The scene is being generated; cancel it first or wait", code="scene_busy")
        if await farm_queries.active_pilot(conn, scene["id"]):
            raise Conflict("A pilot of this scene is already running", code="pilot_running")
        shots = await queries.list_shots(conn, scene["id"])
        if len(shots) < body.k_shots:
            raise Invalid(f"The scene has {len(shots)} shots; a pilot of {body.k_shots} needs as many",
                          code="not_enough_shots", field="k_shots")
        first = shots[0]
        if first["source_output_id"] is None and not first["prompt"].strip() and not first["character_ids"]:
            raise Invalid("The first shot needs a source image, a prompt or a character to start from",
                          code="no_start_image", field="source_output_id")
        if await conn.fetchval("SELECT default_style_id FROM projects WHERE id = $1", scene["project_id"]) is None:
            raise Conflict("The project has no default generation style; choose one in the Project tab",
                           code="no_style")
        pilot_id = await farm_queries.insert_pilot(conn, scene["id"], body.k_shots, body.budget_s,
                                                   body.continue_scene, body.critic_model)
        slice_s = body.budget_s / len(body.strategies) if body.budget_s else None
        for position, strategy in enumerate(body.strategies, start=1):
            await farm_queries.insert_strategy(conn, pilot_id, position, strategy.label, strategy.engine,
                                               strategy.steps, slice_s)
        await tx.emit(_event(scene, pilot_id, "queued", "queued"))
    await defer_once(PILOT_TASK, f"pilot-{pilot_id}", pilot_id=pilot_id)
    return pilot_id


async def cancel(conn: asyncpg.Connection, scene, pilot) -> None:
    async with transaction(conn) as tx:
        fresh = await farm_queries.get_pilot(conn, pilot["id"], for_update=True)
        if fresh["status"] not in ("queued", "running"):
            raise Conflict(f"The pilot is already {fresh['status']}", code="pilot_finished")
        await farm_queries.update_pilot(conn, pilot["id"], {"status": "cancelled", "step": "cancelled"})
        await tx.emit(_event(scene, pilot["id"], "cancelled", "cancelled"))


# -- scores and the critic ------------------------------------------------------------------------

def scores(records: list[dict], spent_s: float) -> dict:
    """qa_average, pass_rate and cost_per_passed_s of a strategy's rendered shots."""
    rendered = [r for r in records if r["video_output_id"] is not None]
    scored = [r["score"] for r in rendered if r["score"] is not None]
    passed_s = sum(r["duration_s"] for r in rendered if r["passed"])
    return {"qa_average": round(sum(scored) / len(scored), 4) if scored else None,
            "pass_rate": round(sum(r["passed"] for r in rendered) / len(rendered), 4) if rendered else None,
            "cost_per_passed_s": round(spent_s / passed_s, 4) if passed_s else None}


def rank(strategy) -> tuple:
    """Higher is better: pass rate, then QA average, then the lower cost per passed second."""
    cost = strategy["cost_per_passed_s"]
    return (strategy["pass_rate"] or 0.0, strategy["qa_average"] or 0.0, -cost if cost is not None else float("-inf"))


def unable(strategy, k_shots: int, accept_animatics: bool) -> str | None:
    """Why the strategy cannot win (None: it can): it must have rendered all K shots, and be no
    animatic unless the scene accepts animatics."""
    done = sum(r["video_output_id"] is not None for r in strategy["shots"])
    if done < k_shots:
        return f"{strategy['label']}: rendered {done} of {k_shots} shots ({strategy['note'] or 'stopped'})"
    if strategy["engine"] == "animatic" and not accept_animatics:
        return f"{strategy['label']}: an animatic, and the scene does not accept animatics"
    return None


def table_line(strategy) -> str:
    """The critic's line about one able strategy (its numbers), without the verdict."""
    cost = (f"{strategy['cost_per_passed_s']:.2f} GPU-s per passed s" if strategy["cost_per_passed_s"] is not None
            else "none passed")
    qa = f"{strategy['qa_average']:.2f}" if strategy["qa_average"] is not None else "?"
    return f"{strategy['label']}: pass rate {strategy['pass_rate'] or 0:.0%}, QA {qa}, {cost}"


def critique(strategies: list, k_shots: int, accept_animatics: bool) -> tuple[dict | None, str]:
    """The rules critic: (the winner or None, its notes). Only a strategy that can win (unable())
    is ranked; then rank decides."""
    notes = [n for n in (unable(s, k_shots, accept_animatics) for s in strategies) if n]
    able = [s for s in strategies if unable(s, k_shots, accept_animatics) is None]
    if not able:
        return None, "; ".join(notes) or "no strategy rendered its shots"
    ranked = sorted(able, key=rank, reverse=True)
    lines = [f"{table_line(s)} - " + ("continued (best pass rate, then QA, then cost)" if s is ranked[0] else "cancelled")
             for s in ranked]
    return ranked[0], "; ".join(lines + notes)


# -- the hand-over to the winner ------------------------------------------------------------------

async def decide(conn, tx, scene, pilot, winner, by: str, notes: str, critic: str | None = None) -> None:
    """Inside a transaction: the winner continues, the others are cancelled and their unspent slices
    move to it; its shots become the scene's first K (later shots will be rendered again, they chain
    from them) and the scene takes its engine and steps. `critic`: whose choice it was ("rules" or
    "ollama:<model>"; None keeps the pilot's)."""
    strategies = await farm_queries.list_strategies(conn, pilot["id"])
    others_spent = sum(s["spent_s"] for s in strategies if s["id"] != winner["id"])
    for s in strategies:
        fields = {"status": "continued" if s["id"] == winner["id"] else "cancelled"}
        if pilot["budget_s"]:
            fields["budget_s"] = (round(pilot["budget_s"] - others_spent, 4) if s["id"] == winner["id"]
                                  else s["spent_s"])
        await farm_queries.update_strategy(conn, s["id"], fields)
    records = sorted(winner["shots"], key=lambda r: r["position"])
    for record in records:
        await farm_queries.adopt_shot(conn, record["shot_id"], {
            **record, "attempts": [{"attempt": 1, "generation_id": record["generation_id"], "seed": record["seed"],
                                    "steps": record["steps"], "engine": record["engine"], "score": record["score"],
                                    "threshold": record["threshold"], "passed": record["passed"],
                                    "reviewer": record["reviewer"], "error": record["error"],
                                    "video_output_id": record["video_output_id"]}]})
    await farm_queries.reset_shots_after(conn, scene["id"], records[-1]["position"] if records else 0)
    await farm_queries.set_scene_strategy(conn, scene["id"], winner["engine"], winner["steps"])
    await farm_queries.update_pilot(conn, pilot["id"], {"status": "decided", "winner_id": winner["id"],
                                                        "decided_by": by, "critic_notes": notes,
                                                        "step": f"{winner['label']} continues",
                                                        **({"critic": critic} if critic else {})})
    await tx.emit(_event(scene, pilot["id"], "decided", f"{winner['label']} continues"))


async def continue_scene(conn, scene_id: int) -> None:
    """Starts the scene job with the winner (it resumes after the adopted shots)."""
    from packages.scene_generation.service import start_generation

    scene = await queries.get_scene(conn, scene_id)
    if scene is not None and scene["status"] not in BUSY:
        await start_generation(conn, scene)


async def choose(conn: asyncpg.Connection, scene, pilot, strategy_id: int) -> None:
    """The user's override of the critic: this strategy continues instead."""
    async with transaction(conn) as tx:
        fresh = await farm_queries.get_pilot(conn, pilot["id"], for_update=True)
        if fresh["status"] != "decided":
            raise Conflict("The pilot is not decided yet (or it stopped); wait for it", code="pilot_not_decided")
        if (await queries.get_scene(conn, scene["id"], for_update=True))["status"] in BUSY:
            raise Conflict("The scene is being generated; cancel it first", code="scene_busy")
        strategies = {s["id"]: s for s in await farm_queries.list_strategies(conn, pilot["id"])}
        winner = strategies.get(strategy_id)
        if winner is None:
            raise Invalid("No strategy with that id in this pilot", code="strategy_not_found", field="strategy_id")
        if sum(r["video_output_id"] is not None for r in winner["shots"]) < fresh["k_shots"]:
            raise Conflict("That strategy did not render all of the pilot's shots", code="strategy_incomplete")
        notes = f"{winner['label']} chosen by the user over the critic. Critic: {fresh['critic_notes']}"
        await decide(conn, tx, scene, fresh, winner, "user", notes[:4000])
    if fresh["continue_scene"]:
        await continue_scene(conn, scene["id"])


def gate_threshold() -> float:
    """A pilot shot is judged like a scene's first attempt."""
    return gate.threshold(1)
