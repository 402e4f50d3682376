"""The creative team's HTTP API: bad input is a clear 4xx that changes nothing, the plan is edited
and approved through the same validation as Pixel's, approval queues generations or fills the
shot, role models per project, and the session stream carries tokens then the whole message."""

from __future__ import annotations

import asyncio
import json

from packages.core.settings import Settings
from packages.echo_integration import team
from packages.echo_integration.team_stream import session_stream
from tests.conftest import ADMIN_TOKEN
from tests.integration import team_helpers
from tests.integration.team_helpers import MODEL, detail, start, steps, studio

ollama_double, script, settings = team_helpers.ollama_double, team_helpers.script, team_helpers.settings


async def _planned(client, app, settings, world, **fields) -> dict:
    session = await start(client, world, **fields)
    await steps(app, settings, session["id"])
    planned = await detail(client, session["id"])
    assert planned["status"] == "planned", planned
    return planned


async def test_bad_requests_change_nothing(client, client_as, db, settings, script):
    """Unknown project, character or foreign shot: 422; viewers cannot start; nothing is stored."""
    world = await studio(client)
    other = await studio(client)
    slug = world["project"]["slug"]
    cases = [
        ({"project": "no-such", "target": {"kind": "character_image", "character": "x"}}, 422, "project_not_found"),
        ({"project": slug, "target": {"kind": "character_image", "character": "nobody"}}, 422, "character_not_found"),
        ({"project": slug, "target": {"kind": "shot", "shot_id": other["shot"]["id"]}}, 422, "shot_not_found"),
        ({"project": slug, "target": {"kind": "scene"}}, 422, "validation_error"),
        ({"project": slug, "target": {"kind": "shot", "shot_id": 1}, "max_rounds": 11}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        r = await client.post("/team/sessions", json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    async with client_as("viewer") as viewer:
        r = await viewer.post("/team/sessions", json={"project": slug, "target": {"kind": "shot",
                                                                                   "shot_id": world["shot"]["id"]}})
        assert r.status_code == 403
        assert (await viewer.get(f"/team/sessions?project={slug}")).json() == []
    assert await db.fetchval("SELECT count(*) FROM team_sessions") == 0
    assert (await client.get("/team/sessions?project=no-such")).status_code == 404


async def test_no_ollama_is_a_clear_409(home, database_url):
    """Without OLLAMA_HOST the team cannot start: 409 saying what to set."""
    from httpx import ASGITransport, AsyncClient

    from src.app import create_app

    app = create_app(Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                              ANIME_STUDIO_INPROCESS_WORKER=False, _env_file=None))
    async with app.router.lifespan_context(app), AsyncClient(
            transport=ASGITransport(app=app), base_url="http://test/api/lora",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        world = await studio(client)
        r = await client.post("/team/sessions", json={"project": world["project"]["slug"], "target": {
            "kind": "shot", "shot_id": world["shot"]["id"]}})
        assert r.status_code == 409 and r.json()["code"] == "ollama_not_configured" and "OLLAMA_HOST" in r.text


async def test_commands_refuse_what_does_not_apply(client, app, settings, script):
    """Answer without a question, a bad option, an oversized interjection, a plan before Pixel made
    one, an invalid plan edit: each a 4xx naming the problem, the session unchanged."""
    world = await studio(client)
    session = await start(client, world)
    sid = session["id"]
    r = await client.post(f"/team/sessions/{sid}/answer", json={"option_index": 0})
    assert r.status_code == 409 and r.json()["code"] == "no_question"
    r = await client.post(f"/team/sessions/{sid}/answer", json={"option_index": 0, "content": "both"})
    assert r.status_code == 422
    r = await client.post(f"/team/sessions/{sid}/interject", json={"content": "x" * 4001})
    assert r.status_code == 422
    r = await client.post(f"/team/sessions/{sid}/approve", json={})
    assert r.status_code == 409 and r.json()["code"] == "no_plan"
    await steps(app, settings, sid)
    before = await detail(client, sid)
    assert before["plan_schema"]["properties"]["size"]["enum"] == ["832x1216", "1216x832", "1024x1024"]
    bad = {**before["plan_params"], "size": "4096x4096"}
    r = await client.patch(f"/team/sessions/{sid}/plan", json={"params": bad})
    assert r.status_code == 422 and r.json()["code"] == "invalid_plan" and r.json()["field"] == "size"
    r = await client.patch(f"/team/sessions/{sid}/plan", json={"params": {**before["plan_params"], "seed": 1}})
    assert r.status_code == 422
    assert (await detail(client, sid))["plan_params"] == before["plan_params"]
    assert (await client.get("/team/sessions/999999")).status_code == 404


async def test_question_options_are_checked(client, app, settings, script):
    """An option index past the question's options is 422; a written answer resumes the team."""
    script.agree["saga"] = False
    world = await studio(client)
    session = await start(client, world, max_rounds=1)
    await steps(app, settings, session["id"])
    waiting = await detail(client, session["id"])
    n = len(waiting["question"]["options"])
    r = await client.post(f"/team/sessions/{session['id']}/answer", json={"option_index": n})
    assert r.status_code == 422 and r.json()["code"] == "bad_option"
    assert (await detail(client, session["id"]))["status"] == "waiting_user"
    r = await client.post(f"/team/sessions/{session['id']}/answer", json={"content": "Go with Luna's palette"})
    assert r.status_code == 202
    resumed = await detail(client, session["id"])
    assert (resumed["status"], resumed["phase"], resumed["question"]) == ("running", "synthesis", None)


async def test_edited_plan_is_approved_into_generations(client, db, app, settings, script):
    """The user edits Pixel's plan (validated), approves it: one generation per image asked, with
    the plan's prompt, size, steps and cfg; a second approval is refused."""
    world = await studio(client)
    planned = await _planned(client, app, settings, world)
    edit = {**planned["plan_params"], "prompt": "Mio under an umbrella, rain", "size": "1216x832", "steps": 30,
            "cfg": 7.5, "count": 2}
    r = await client.patch(f"/team/sessions/{planned['id']}/plan", json={"params": edit})
    assert r.status_code == 200 and r.json()["plan_params"]["prompt"] == "Mio under an umbrella, rain"
    r = await client.post(f"/team/sessions/{planned['id']}/approve", json={})
    assert r.status_code == 201, r.text
    ids = r.json()["generation_ids"]
    assert len(ids) == 2
    rows = await db.fetch("SELECT character_id, kind, params FROM generations WHERE id = ANY($1::bigint[])", ids)
    assert {r["character_id"] for r in rows} == {world["character"]["id"]}
    params = rows[0]["params"]
    assert (params["prompt"], params["width"], params["height"], params["steps"], params["cfg"]) == (
        "Mio under an umbrella, rain", 1216, 832, 30, 7.5)
    assert params["team_session_id"] == planned["id"]
    after = await detail(client, planned["id"])
    assert after["status"] == "approved" and after["result"] == {"generation_ids": ids}
    r = await client.post(f"/team/sessions/{planned['id']}/approve", json={})
    assert r.status_code == 409 and r.json()["code"] == "team_session_closed"


async def test_approved_shot_plan_fills_the_shot(client, app, settings, script):
    """For a shot, the approved plan fills its prompt, motion, framing and duration."""
    world = await studio(client)
    script.plan = {"prompt": "Mio on the roof at dusk, wind in her hair", "motion_prompt": "slow push-in",
                   "shot_type": "close-up", "duration_s": 4.0, "camera_angle": "low angle"}
    planned = await _planned(client, app, settings, world, target={"kind": "shot", "shot_id": world["shot"]["id"]})
    assert planned["target"] == {"kind": "shot", "shot_id": world["shot"]["id"], "scene_id": world["scene"]["id"]}
    r = await client.post(f"/team/sessions/{planned['id']}/approve")
    assert r.status_code == 201 and r.json() == {"shot_id": world["shot"]["id"]}
    scene = (await client.get(f"/scenes/{world['scene']['id']}")).json()
    shot = scene["shots"][0]
    assert (shot["prompt"], shot["motion_prompt"], shot["shot_type"], shot["duration_s"], shot["camera_angle"]) == (
        "Mio on the roof at dusk, wind in her hair", "slow push-in", "close-up", 4.0, "low angle")


async def test_cancel_stops_the_turns(client, app, settings, script):
    """A cancelled session runs no more turns and cannot be approved or interjected."""
    world = await studio(client)
    session = await start(client, world)
    await steps(app, settings, session["id"], 2)
    r = await client.post(f"/team/sessions/{session['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert not await team.step(app.state.pool, settings, session["id"])
    assert len(script.turns) == 2
    r = await client.post(f"/team/sessions/{session['id']}/interject", json={"content": "wait"})
    assert r.status_code == 409


async def test_role_models_per_project(client, client_as, settings, script):
    """Unset roles use the chat model; PUT assigns each role (validated names), per project."""
    world = await studio(client)
    other = await studio(client)
    url = f"/team/models?project={world['project']['slug']}"
    assert (await client.get(url)).json() == {r: MODEL for r in ("luna", "frame", "saga", "pixel", "lens")}
    models = {"luna": "qwen3:8b", "frame": "llama3.1", "saga": "llama3.1", "pixel": "qwen3:8b", "lens": "gemma3"}
    assert (await client.put(url, json=models)).json() == models
    assert (await client.put(url, json={**models, "lens": "bad name; drop"})).status_code == 422
    assert (await client.put(url, json={k: v for k, v in models.items() if k != "lens"})).status_code == 422
    async with client_as("viewer") as viewer:
        assert (await viewer.put(url, json=models)).status_code == 403
    assert (await client.get(url)).json() == models
    assert (await client.get(f"/team/models?project={other['project']['slug']}")).json()["luna"] == MODEL


async def test_stream_sends_tokens_then_the_message(client, db, app, settings, script):
    """While a specialist speaks the stream sends `token`s of its message text (under the message's
    id); then the stored `message` event with an id, then `phase` when the phase changes."""
    world = await studio(client)
    session = await start(client, world)
    after = await db.fetchval("SELECT max(id) FROM events")
    received: list[dict] = []

    async def listen():
        async for item in session_stream(app.state.event_hub, app.state.database_url, session["id"],
                                         world["project"]["id"], after):
            received.append(item)
            if item["event"] == "phase":
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)  # the stream is listening
    await steps(app, settings, session["id"], 3)
    await asyncio.wait_for(listener, 10)
    messages = [json.loads(i["data"]) for i in received if i["event"] == "message"]
    first = messages[0]
    tokens = [json.loads(i["data"]) for i in received if i["event"] == "token" and
              json.loads(i["data"])["message_id"] == first["id"]]
    assert tokens and {t["speaker"] for t in tokens} == {"luna"}
    assert "".join(t["text"] for t in tokens) == first["content"]
    assert [m["speaker"] for m in messages][:3] == ["luna", "frame", "saga"]
    assert all("id" in i for i in received if i["event"] != "token")
    assert json.loads(received[-1]["data"]) == {"phase": "refinement", "round": 1}
