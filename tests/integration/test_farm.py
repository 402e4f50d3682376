"""The GPU farm's roles on four ComfyUI protocol doubles (1 keyframe, 2 workers, 1 hero):
keyframes to the keyframe GPU, bulk shots to the workers (scenes in parallel), hero passes to the
hero GPU, and the fallback when a role has no backend."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from packages.core.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.doubles.comfyui import ComfyUIDouble
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import CHECKPOINT, Scores, make_scene, source_output, studio, wait_scene

ROLES = ("keyframe", "worker", "worker", "hero")


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
def farm():
    with contextlib.ExitStack() as stack:
        doubles = [stack.enter_context(ComfyUIDouble(latency=0.4 if role == "worker" else 0.05)) for role in ROLES]
        for double in doubles:
            double.checkpoints = [CHECKPOINT]
        yield doubles


async def add_farm(client, farm) -> list[dict]:
    backends = []
    for n, (double, role) in enumerate(zip(farm, ROLES)):
        r = await client.post("/backends", json={"name": f"{n}-{role}", "url": double.url, "roles": [role]})
        assert r.status_code == 201, r.text
        backends.append(r.json())
    return backends


def kinds(double) -> list[str]:
    """'video' or 'image' for each prompt the double was sent."""
    return ["video" if any(n["class_type"] == "FramePackSampler" for n in s["prompt"].values()) else "image"
            for s in double.submissions]


def sampler_steps(submission) -> int:
    return next(n["inputs"]["steps"] for n in submission["prompt"].values() if n["class_type"] == "FramePackSampler")


async def wait_gen(client, gen_id: int, timeout: float = 30) -> dict:
    for _ in range(int(timeout / 0.05)):
        gen = (await client.get(f"/generations/{gen_id}")).json()
        if gen["status"] in ("succeeded", "failed", "cancelled"):
            return gen
        await asyncio.sleep(0.05)
    raise AssertionError(gen)


async def test_roles_route_keyframes_shots_and_hero_passes(client, farm, db, home):
    """Keyframes (a shot's start image) go only to the keyframe backend, shots only to the worker
    backends and both workers render at once when two scenes run; a hero pass goes only to the hero
    backend, at 1.5x the steps, and replaces the shot's video."""
    keyframe, worker_a, worker_b, hero = farm
    await add_farm(client, farm)
    project, mio = await studio(client)
    source = await source_output(db, home, project)
    scenes = [await make_scene(client, project, [
        {"prompt": "Mio on the roof", "character_ids": [mio["id"]], "duration_s": 1},
        {"prompt": "the sky", "duration_s": 1}], music_mode="none"),
        await make_scene(client, project, [{"prompt": "a street", "source_output_id": source, "duration_s": 1},
                                           {"prompt": "a cat", "duration_s": 1}], music_mode="none")]
    for scene in scenes:
        assert (await client.post(f"/scenes/{scene['id']}/generate")).status_code == 202
    done = [await wait_scene(client, s["id"]) for s in scenes]
    assert [d["status"] for d in done] == ["done", "done"], done
    assert kinds(keyframe) == ["image"]  # the first scene's start image; the second has a source
    assert kinds(worker_a) and kinds(worker_b), "both workers render when two scenes run"
    assert set(kinds(worker_a) + kinds(worker_b)) == {"video"} and len(kinds(worker_a) + kinds(worker_b)) == 4
    assert not hero.submissions

    shot = (await client.get(f"/scenes/{scenes[1]['id']}")).json()["shots"][0]
    r = await client.post(f"/scenes/{scenes[1]['id']}/shots/{shot['id']}/hero-pass")
    assert r.status_code == 202 and r.json()["shot_ids"] == [shot["id"]], r.text
    again = await client.post(f"/scenes/{scenes[1]['id']}/shots/{shot['id']}/hero-pass")
    assert again.status_code == 409 and again.json()["code"] == "hero_pass_running"
    for _ in range(300):
        after = (await client.get(f"/scenes/{scenes[1]['id']}")).json()
        if after["shots"][0]["hero_status"] in ("done", "failed") and after["status"] == "done":
            break
        await asyncio.sleep(0.1)
    hero_shot = after["shots"][0]
    assert hero_shot["hero_status"] == "done", hero_shot
    assert hero_shot["video_output_id"] == hero_shot["hero_output_id"] != shot["video_output_id"]
    assert kinds(hero) == ["video"] and len(kinds(worker_a) + kinds(worker_b)) == 4
    assert sampler_steps(hero.submissions[0]) == round(sampler_steps(worker_a.submissions[0] if worker_a.submissions
                                                                     else worker_b.submissions[0]) * 1.5)
    gen = (await client.get(f"/generations/{hero_shot['hero_generation_id']}")).json()
    assert gen["params"]["role"] == "hero" and gen["backend_name"] == "3-hero"


async def test_a_role_without_backend_falls_back(client, farm):
    """With the keyframe and hero backends disabled, a keyframe job and a hero job run on a worker
    (keyframe -> worker, hero -> worker); a worker job never waits for a missing role."""
    backends = await add_farm(client, farm)
    for b in (backends[0], backends[3]):
        assert (await client.patch(f"/backends/{b['id']}", json={"enabled": False})).status_code == 200
    project, mio = await studio(client)
    gens = []
    for role in ("keyframe", "hero", "worker"):
        r = await client.post("/generations", json={"character_id": mio["id"], "role": role})
        assert r.status_code == 201, r.text
        gens.append(r.json()[0])
    done = [await wait_gen(client, g["id"]) for g in gens]
    assert [g["status"] for g in done] == ["succeeded"] * 3, done
    assert {g["backend_name"] for g in done} <= {"1-worker", "2-worker"}
    assert not farm[0].submissions and not farm[3].submissions


async def test_hero_pass_refuses_what_it_cannot_do(client, farm, db, home):
    """A hero pass of a shot that is not done, or of a scene with no finished shot, is a 409 that
    changes nothing."""
    await add_farm(client, farm)
    project, _ = await studio(client)
    scene = await make_scene(client, project, [{"prompt": "x", "duration_s": 1}])
    shot = scene["shots"][0]
    r = await client.post(f"/scenes/{scene['id']}/shots/{shot['id']}/hero-pass")
    assert r.status_code == 409 and r.json()["code"] == "shot_not_done"
    r = await client.post(f"/scenes/{scene['id']}/hero-pass")
    assert r.status_code == 409 and r.json()["code"] == "shot_not_done"
    assert (await client.get(f"/scenes/{scene['id']}")).json()["shots"][0]["hero_status"] == "none"
    assert (await client.post(f"/scenes/{scene['id']}/shots/999999/hero-pass")).status_code == 404
