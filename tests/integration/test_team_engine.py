"""The creative team's engine against the Ollama double: phases in order, the user answered first,
consensus, loop detection, the user asked after N rounds, Pixel's invalid plans retried then
reported, Lens sending the plan back, and a killed turn resumed from the database."""

from __future__ import annotations

import asyncio

from packages.echo_integration import team
from tests.integration import team_helpers
from tests.integration.team_helpers import detail, spoken, start, steps, studio

ollama_double, script, settings = team_helpers.ollama_double, team_helpers.script, team_helpers.settings

FULL = [("luna", "ideation", 1), ("frame", "ideation", 1), ("saga", "ideation", 1),
        ("luna", "refinement", 1), ("frame", "refinement", 1), ("saga", "refinement", 1), ("lens", "refinement", 1),
        ("pixel", "synthesis", 1), ("lens", "review", 1)]


async def test_phases_progress_to_a_plan(client, db, app, settings, script):
    """Ideation (Luna, Frame, Saga) -> refinement (all four agree: consensus) -> synthesis (Pixel's
    plan, validated) -> review (Lens approves): planned, with every step stored as an event."""
    world = await studio(client)
    session = await start(client, world, brief="Mio at dusk, wistful")
    assert (session["status"], session["phase"], session["round"]) == ("running", "ideation", 1)
    assert await db.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'team:run' "
                             "AND args->>'session_id' = $1", str(session["id"])) == 1
    await steps(app, settings, session["id"])
    done = await detail(client, session["id"])
    assert done["status"] == "planned" and done["phase"] == "review"
    assert spoken(done) == FULL
    assert [s for s, _, _ in script.turns] == [s for s, _, _ in FULL]
    plan = done["plan_params"]
    assert plan["size"] in ("832x1216", "1216x832", "1024x1024") and 1 <= plan["steps"] <= 150
    types = [r["type"] for r in await db.fetch("SELECT type FROM events WHERE type LIKE 'team.%' "
                                              "AND (payload->>'session_id')::bigint = $1 ORDER BY id", session["id"])]
    assert types.count("team.phase") == 4 and "team.plan" in types
    assert types.count("team.consensus") == 2 and types[-1] == "team.state"
    review = script.turns[-1][2]["messages"][1]["content"]
    assert '"params"' in review and plan["prompt"] in review  # Lens reviews Pixel's actual parameters
    first_chat = script.turns[0][2]
    assert first_chat["format"]["required"] == ["message", "agree", "proposal"]
    assert "Mio at dusk, wistful" in first_chat["messages"][1]["content"]


async def test_interjection_is_answered_first(client, app, settings, script):
    """A user's interjection is answered by the very next turn (its id in reply_to), then the
    discussion goes on in order; the brief never counts as an interjection."""
    world = await studio(client)
    session = await start(client, world, brief="keep it quiet")
    await steps(app, settings, session["id"], 2)
    r = await client.post(f"/team/sessions/{session['id']}/interject", json={"content": "Make it rain instead"})
    assert r.status_code == 202 and r.json() == {"status": "running"}
    await steps(app, settings, session["id"], 2)
    now = await detail(client, session["id"])
    user = next(m for m in now["messages"] if m["content"] == "Make it rain instead")
    turns = [m for m in now["messages"] if m["speaker"] not in ("system", "user")]
    assert [m["speaker"] for m in turns] == ["luna", "frame", "saga", "luna"]
    assert turns[2]["structured"]["reply_to"] == user["id"]
    assert "reply_to" not in turns[3]["structured"] and "reply_to" not in turns[0]["structured"]
    asked = script.turns[2][2]["messages"][1]["content"]
    assert "Make it rain instead" in asked and "Answer the director first" in asked
    assert "Answer the director first" not in script.turns[0][2]["messages"][1]["content"]


async def test_no_consensus_after_n_rounds_asks_the_user(client, app, settings, script):
    """Lens keeps disagreeing: after max_rounds rounds the team summarises the options and waits;
    the user's choice sends it to synthesis, where Pixel answers the choice first."""
    script.agree["lens"] = False
    world = await studio(client)
    session = await start(client, world, max_rounds=2)
    await steps(app, settings, session["id"])
    waiting = await detail(client, session["id"])
    assert waiting["status"] == "waiting_user" and waiting["phase"] == "refinement" and waiting["round"] == 2
    question = waiting["question"]
    assert "Lens does not" in question["summary"] and "Luna, Frame and Saga accept" in question["summary"]
    assert 1 <= len(question["options"]) <= 5
    r = await client.post(f"/team/sessions/{session['id']}/answer", json={"option_index": 1})
    assert r.status_code == 202
    await steps(app, settings, session["id"], 1)
    after = await detail(client, session["id"])
    assert spoken(after)[-1] == ("pixel", "synthesis", 1)
    pixel = [m for m in after["messages"] if m["speaker"] == "pixel"][-1]
    assert pixel["structured"]["reply_to"] == next(
        m["id"] for m in after["messages"] if m["speaker"] == "user")
    assert question["options"][1] in script.turns[-1][2]["messages"][1]["content"]


async def test_repetition_stops_the_loop(client, app, settings, script):
    """A specialist saying the same thing twice stops the discussion and asks the user."""
    script.fixed["frame"] = "Low angle, 35 mm, Mio left of centre."
    world = await studio(client)
    session = await start(client, world, max_rounds=5)
    await steps(app, settings, session["id"])
    now = await detail(client, session["id"])
    assert now["status"] == "waiting_user" and "Frame repeated" in now["question"]["summary"]
    assert spoken(now)[-1] == ("frame", "refinement", 1)


async def test_invalid_plans_are_retried_then_reported(client, app, settings, script, ollama_double):
    """Pixel's answer that breaks the schema (or is not JSON) is asked again; after 3 unusable
    answers the session fails with a message naming the problem, and no plan is kept."""
    world = await studio(client)
    script.bad_plans = 1
    ollama_double.garbage_next = 0
    session = await start(client, world)
    await steps(app, settings, session["id"], 7)
    ollama_double.garbage_next = 1  # then one more broken plan: the third try is good
    await steps(app, settings, session["id"], 1)
    ok = await detail(client, session["id"])
    assert ok["phase"] == "review" and ok["plan_params"] is not None
    assert [s for s, _, _ in script.turns].count("pixel") == 2  # garbage never reached the script

    script.bad_plans = 3
    failing = await start(client, world)
    await steps(app, settings, failing["id"])
    failed = await detail(client, failing["id"])
    assert failed["status"] == "failed" and failed["plan_params"] is None
    assert "Pixel gave no usable answer in 3 tries" in failed["error"] and "params.steps" in failed["error"]
    assert failed["messages"][-1]["speaker"] == "system" and failed["messages"][-1]["content"] == failed["error"]


async def test_lens_sends_the_plan_back_a_phase(client, app, settings, script):
    """Lens not approving sends the plan back to synthesis (round 2); approving then ends planned."""
    script.approve = [False, True]
    world = await studio(client)
    session = await start(client, world)
    await steps(app, settings, session["id"])
    now = await detail(client, session["id"])
    assert now["status"] == "planned"
    assert spoken(now)[-4:] == [("pixel", "synthesis", 1), ("lens", "review", 1), ("pixel", "synthesis", 2),
                                ("lens", "review", 2)]
    assert "risk" in script.turns[-2][2]["messages"][1]["content"]  # Pixel read Lens's risks


async def test_a_killed_turn_resumes_from_the_database(client, app, settings, script, ollama_double):
    """A job killed while a specialist speaks stores nothing; a fresh run (state from the database
    only) asks the same specialist again and the session ends with each turn stored once."""
    world = await studio(client)
    session = await start(client, world)
    await steps(app, settings, session["id"], 4)
    ollama_double.latency = 2.0
    turn = asyncio.create_task(team.step(app.state.pool, settings, session["id"]))
    while len(script.turns) < 5:
        await asyncio.sleep(0.05)
    turn.cancel()  # the worker dies mid-answer
    await asyncio.gather(turn, return_exceptions=True)
    ollama_double.latency = 0.0
    assert spoken(await detail(client, session["id"]))[-1] == ("luna", "refinement", 1)
    await team.run(app.state.pool, settings, session["id"])
    done = await detail(client, session["id"])
    assert done["status"] == "planned" and spoken(done) == FULL
    assert [s for s, _, _ in script.turns][4:6] == ["frame", "frame"]


async def test_a_missing_model_fails_with_pull_it_or_pick_another(client, app, settings, script):
    """A role assigned a model Ollama does not have fails the session with a clear message."""
    world = await studio(client)
    models = {"luna": "qwen3", "frame": "llama3.1", "saga": "llama3.1", "pixel": "llama3.1", "lens": "nope:7b"}
    r = await client.put(f"/team/models?project={world['project']['slug']}", json=models)
    assert r.status_code == 200, r.text
    session = await start(client, world)
    assert session["models"]["lens"] == "nope:7b"
    await steps(app, settings, session["id"])
    failed = await detail(client, session["id"])
    assert failed["status"] == "failed" and "nope:7b" in failed["error"] and "pull it" in failed["error"]
    assert script.turns[0][2]["model"] == "qwen3"


async def test_an_answer_broken_off_mid_stream_is_asked_again(client, app, settings, script, ollama_double):
    """Ollama failing mid-answer (an error line, a cut connection) stores nothing from that attempt:
    the same specialist is asked again within the turn and one message is stored."""
    world = await studio(client)
    session = await start(client, world)
    for failure in ("error", "close"):
        ollama_double.mid_stream_failure = failure
        ollama_double.fail_mid_stream = 1
        await steps(app, settings, session["id"], 1)
    now = await detail(client, session["id"])
    assert spoken(now) == FULL[:2] and now["status"] == "running"
    assert [s for s, _, _ in script.turns] == ["luna", "luna", "frame", "frame"]
