"""Pilots on a scripted ComfyUI double and Ollama double: 3 strategies render the scene's first 2
shots; the rules critic continues the best (pass rate, then QA, then cost), cancels the others and
moves their unspent budget to it; the scene goes on with the winner; the user can override."""

from __future__ import annotations

import asyncio

import pytest

from packages.core.settings import Settings
from packages.scene_generation.pilots import critique, scores
from tests.conftest import ADMIN_TOKEN
from tests.doubles.comfyui import ComfyUIDouble
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import CHECKPOINT, Scores, make_scene, source_output, studio, wait_scene

STRATEGIES = [{"label": "LTX draft", "engine": "ltx"}, {"label": "FramePack", "engine": "framepack"},
              {"label": "FramePack fast", "engine": "framepack", "steps": 8}]


@pytest.fixture
def ollama_double():
    with OllamaDouble() as double:
        double.answer = Scores()
        yield double


@pytest.fixture
def settings(home, database_url, ollama_double):
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    OLLAMA_HOST=ollama_double.url, ANIME_STUDIO_RETRY_BACKOFF_S=0.01, _env_file=None)


@pytest.fixture
def comfy():
    with ComfyUIDouble(latency=0.05) as double:
        double.checkpoints = [CHECKPOINT, "ltx-video-2b-v0.9.5.safetensors"]  # LTX-Video needs its own
        yield double


async def three_shot_scene(client, db, home):
    project, mio = await studio(client)
    source = await source_output(db, home, project)
    return await make_scene(client, project, [
        {"prompt": "Mio on the roof", "character_ids": [mio["id"]], "source_output_id": source, "duration_s": 1},
        {"prompt": "Mio turns", "character_ids": [mio["id"]], "duration_s": 1},
        {"prompt": "the sky", "duration_s": 1}], music_mode="none")


async def wait_pilot(client, scene_id: int, pilot_id: int, timeout: float = 90) -> dict:
    for _ in range(int(timeout / 0.1)):
        pilot = (await client.get(f"/scenes/{scene_id}/pilots/{pilot_id}")).json()
        if pilot["status"] not in ("queued", "running"):
            return pilot
        await asyncio.sleep(0.1)
    raise AssertionError(pilot)


async def test_the_critic_continues_the_best_and_moves_the_budget(client, comfy, db, home, ollama_double):
    """Scripted QA: LTX 0.9 then 0.3 (1 of 2 passes), FramePack 0.8 and 0.8 (2 of 2), the fast one
    0.9 then 0.2: FramePack wins on pass rate although its QA average is lower than none; the others
    are cancelled and the winner's budget becomes the pilot's 300 s less what they spent. Its two
    shots become the scene's first two, the scene renders shot 3 with its engine and finishes; then
    the user chooses LTX instead and its shots replace them."""
    await client.post("/backends", json={"name": "gpu", "url": comfy.url, "roles": ["worker"]})
    scene = await three_shot_scene(client, db, home)
    ollama_double.answer = Scores(9, 3, 8, 8, 9, 2)
    r = await client.post(f"/scenes/{scene['id']}/pilots", json={"k_shots": 2, "budget_s": 300,
                                                                  "strategies": STRATEGIES})
    assert r.status_code == 202, r.text
    pilot = r.json()
    assert [s["budget_s"] for s in pilot["strategies"]] == [100, 100, 100]
    again = await client.post(f"/scenes/{scene['id']}/pilots", json={"strategies": STRATEGIES[:2]})
    assert again.status_code == 409 and again.json()["code"] == "pilot_running"

    pilot = await wait_pilot(client, scene["id"], pilot["id"])
    assert pilot["status"] == "decided" and pilot["decided_by"] == "critic", pilot
    ltx, framepack, fast = pilot["strategies"]
    assert pilot["winner_id"] == framepack["id"]
    assert [s["status"] for s in (ltx, framepack, fast)] == ["cancelled", "continued", "cancelled"]
    assert (ltx["pass_rate"], framepack["pass_rate"], fast["pass_rate"]) == (0.5, 1.0, 0.5)
    assert framepack["qa_average"] == pytest.approx(0.8) and ltx["qa_average"] == pytest.approx(0.6)
    assert all(s["spent_s"] > 0 for s in (ltx, framepack, fast))
    assert framepack["budget_s"] == pytest.approx(300 - ltx["spent_s"] - fast["spent_s"], abs=1e-3)
    assert (ltx["budget_s"], fast["budget_s"]) == (pytest.approx(ltx["spent_s"]), pytest.approx(fast["spent_s"]))
    assert framepack["cost_per_passed_s"] == pytest.approx(framepack["spent_s"] / 2, rel=1e-3)
    assert {r["engine"] for r in ltx["shots"]} == {"ltx"} and {r["engine"] for r in framepack["shots"]} == {"framepack"}
    assert "FramePack: pass rate 100%" in pilot["critic_notes"]
    # each strategy chains its shot 2 from its own shot 1's last frame
    assert framepack["shots"][1]["start_output_id"] == framepack["shots"][0]["last_frame_output_id"]

    done = await wait_scene(client, scene["id"])
    assert done["status"] == "done" and done["engine"] == "framepack", done
    shots = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
    assert [s["video_output_id"] for s in shots[:2]] == [r["video_output_id"] for r in framepack["shots"]]
    assert shots[2]["status"] == "done" and shots[2]["engine"] == "framepack"
    assert shots[2]["start_output_id"] == framepack["shots"][1]["last_frame_output_id"]

    r = await client.post(f"/scenes/{scene['id']}/pilots/{pilot['id']}/choose", json={"strategy_id": ltx["id"]})
    assert r.status_code == 200, r.text
    chosen = r.json()
    assert chosen["winner_id"] == ltx["id"] and chosen["decided_by"] == "user"
    assert [s["status"] for s in chosen["strategies"]] == ["continued", "cancelled", "cancelled"]
    assert chosen["strategies"][0]["budget_s"] == pytest.approx(300 - framepack["spent_s"] - fast["spent_s"], abs=1e-3)
    done = await wait_scene(client, scene["id"])
    shots = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
    assert done["engine"] == "ltx" and [s["video_output_id"] for s in shots[:2]] == [
        r["video_output_id"] for r in ltx["shots"]]
    assert shots[2]["status"] == "done" and shots[2]["start_output_id"] == ltx["shots"][1]["last_frame_output_id"]


async def test_a_spent_slice_stops_a_strategy_and_nobody_wins(client, comfy, db, home):
    """With a budget far below one render per slice, each strategy stops after its first shot; none
    rendered all K shots, so the pilot fails and says why; the scene is untouched."""
    await client.post("/backends", json={"name": "gpu", "url": comfy.url})
    scene = await three_shot_scene(client, db, home)
    r = await client.post(f"/scenes/{scene['id']}/pilots", json={"k_shots": 2, "budget_s": 0.0002,
                                                                  "strategies": STRATEGIES[:2],
                                                                  "continue_scene": False})
    pilot = await wait_pilot(client, scene["id"], r.json()["id"])
    assert pilot["status"] == "failed" and pilot["winner_id"] is None, pilot
    assert [len(s["shots"]) for s in pilot["strategies"]] == [1, 1]
    assert all("budget slice" in s["note"] for s in pilot["strategies"])
    assert "rendered 1 of 2 shots" in pilot["error"]
    after = (await client.get(f"/scenes/{scene['id']}")).json()
    assert after["status"] == "draft" and after["engine"] is None
    assert [s["status"] for s in after["shots"]] == ["pending"] * 3


async def test_bad_pilot_requests_change_nothing(client, db, home):
    """Too few strategies, duplicate labels, more pilot shots than the scene has, an unknown
    strategy to choose, or choosing before a decision: a 4xx with a code and no pilot row."""
    scene = await three_shot_scene(client, db, home)
    base = f"/scenes/{scene['id']}/pilots"
    r = await client.post(base, json={"strategies": STRATEGIES[:1]})
    assert r.status_code == 422
    r = await client.post(base, json={"strategies": [STRATEGIES[0], {**STRATEGIES[1], "label": "ltx DRAFT"}]})
    assert r.status_code == 422
    r = await client.post(base, json={"k_shots": 4, "strategies": STRATEGIES[:2]})
    assert r.status_code == 422 and r.json()["code"] == "not_enough_shots"
    assert await db.fetchval("SELECT count(*) FROM pilots") == 0
    assert (await client.get(f"{base}/999")).status_code == 404


def test_the_rules_critic():
    """Only a strategy that rendered every pilot shot can win; an animatic only when the scene
    accepts animatics; among equals, the cheaper per passed second wins."""
    def strategy(label, engine, passed, cost, k=2):
        shots = [{"video_output_id": n + 1, "score": 0.8, "passed": n < passed, "duration_s": 2.0} for n in range(k)]
        return {"label": label, "engine": engine, "shots": shots, "note": "", **scores(shots, cost)}

    cheap, dear = strategy("cheap", "ltx", 2, 4.0), strategy("dear", "framepack", 2, 8.0)
    assert critique([dear, cheap], 2, False)[0] is cheap
    animatic = strategy("animatic", "animatic", 2, 0.0)
    assert critique([animatic, dear], 2, False)[0] is dear
    assert critique([animatic, dear], 2, True)[0] is animatic
    short = strategy("short", "ltx", 1, 0.1, k=1)
    winner, notes = critique([short], 2, False)
    assert winner is None and "rendered 1 of 2" in notes
