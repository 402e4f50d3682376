"""Generation on the ComfyUI protocol double: success, failures that explain themselves, out-of-memory
downsizing, failover, cancel, capability routing and dispatch (one prompt in flight, freed slots
passed straight on), through the real API and in-process worker."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import ADMIN_TOKEN
from tests.doubles.comfyui import ComfyUIDouble
from tests.factories import make_character, make_project, make_style

CHECKPOINT = "animagine-xl-3.1.safetensors"


@pytest.fixture
def settings(home, database_url):
    from packages.core.settings import Settings

    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_RETRY_BACKOFF_S=0.01, _env_file=None)


@pytest.fixture
def comfy():
    with ComfyUIDouble(latency=0.05) as double:
        double.checkpoints = [CHECKPOINT]
        yield double


async def add_backend(client, double, name="gpu-1", **fields) -> dict:
    r = await client.post("/backends", json={"name": name, "url": double.url, **fields})
    assert r.status_code == 201, r.text
    assert r.json()["health"] == "ok", r.json()
    return r.json()


async def character_with_style(client, **style_fields) -> dict:
    style = await make_style(client, checkpoint=CHECKPOINT, width=512, height=768, **style_fields)
    project = await make_project(client, default_style_id=style["id"])
    return await make_character(client, project)


async def wait_done(client, generation_id: int, timeout: float = 30) -> dict:
    for _ in range(int(timeout / 0.05)):
        gen = (await client.get(f"/generations/{generation_id}")).json()
        if gen["status"] in ("succeeded", "failed", "cancelled"):
            return gen
        await asyncio.sleep(0.05)
    raise AssertionError(f"generation {generation_id} did not finish: {gen}")


async def test_image_generation_lands_in_gallery_and_pending_dataset(client, comfy, db, home):
    """A generated image is downloaded at the style's size, shown in the gallery with a thumbnail, and
    becomes a pending image in the character's dataset folder (kohya layout); GPU seconds are recorded."""
    await add_backend(client, comfy)
    character = await character_with_style(client)
    r = await client.post("/generations", json={"character_id": character["id"], "count": 2, "seed": 42})
    assert r.status_code == 201, r.text
    rows = r.json()
    assert [g["params"]["seed"] for g in rows] == [42, 43] and all(g["status"] == "queued" for g in rows)
    done = [await wait_done(client, g["id"]) for g in rows]
    assert all(g["status"] == "succeeded" and g["gpu_seconds"] is not None for g in done), done
    prompt = comfy.submissions[0]["prompt"]
    positive = [n["inputs"]["text"] for n in prompt.values() if n["class_type"] == "CLIPTextEncode"]
    assert any(character["design_prompt"] in text for text in positive)

    page = (await client.get("/gallery", params={"project_id": character["project_id"]})).json()
    assert len(page["items"]) == 2 and {i["dataset_status"] for i in page["items"]} == {"pending"}
    item = page["items"][0]
    assert (item["width"], item["height"]) == (512, 768)
    thumb = await client.get(f"/{item['thumbnail_url']}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    images = await db.fetch("SELECT path, status, source FROM images WHERE character_id = $1", character["id"])
    assert len(images) == 2 and all(i["status"] == "pending" and i["source"] == "generated" for i in images)
    assert all((home / i["path"]).is_file() and "/images/" in i["path"] for i in images)
    types = [r["type"] for r in await db.fetch("SELECT type FROM events WHERE type LIKE 'generation.%' ORDER BY id")]
    assert types.count("generation.submitted") == 2 and types.count("generation.completed") == 2


async def no_refresh_soon(app, db) -> None:
    """Until a few seconds from now no backend refresh will read the doubles: the startup's and the
    periodic one the worker deferred at its start are done, and the next minute's is not close."""
    from datetime import datetime

    await app.state.first_refresh
    if 60 - datetime.now().second < 8:
        await asyncio.sleep(60 - datetime.now().second + 1)
    for _ in range(600):  # the worker defers the last minute's refresh as it starts, then runs it
        done, waiting = await db.fetchrow(
            "SELECT count(*) FILTER (WHERE status NOT IN ('todo', 'doing')), count(*) FILTER (WHERE status IN "
            "('todo', 'doing')) FROM procrastinate_jobs WHERE task_name = 'generation:refresh_backends'")
        if done and not waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("a backend refresh did not finish")


async def test_missing_model_fails_at_once_and_lists_what_the_backend_has(app, client, db, comfy):
    """A checkpoint the backend lacks is not retried: the generation fails once, naming the model and
    listing the backend's checkpoints."""
    await no_refresh_soon(app, db)  # a refresh would see the change below, and no backend would be asked
    await add_backend(client, comfy)
    comfy.checkpoints = ["other-model.safetensors"]  # changed after discovery: ComfyUI refuses the prompt
    character = await character_with_style(client)
    gen = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
    done = await wait_done(client, gen["id"])
    assert done["status"] == "failed" and done["attempts"] == 1 and done["error_code"] == "missing_model", done["error"]
    assert CHECKPOINT in done["error"]
    assert len(comfy.submissions) == 0  # ComfyUI refused it at validation: nothing was queued there


async def test_no_capable_backend_explains_itself(client, comfy):
    """When no backend has a node class the workflow needs, the failure names what is missing."""
    comfy.node_classes.discard("KSampler")
    await add_backend(client, comfy)
    character = await character_with_style(client)
    gen = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
    done = await wait_done(client, gen["id"])
    assert done["status"] == "failed" and "KSampler" in done["error"]


async def test_out_of_memory_retries_at_a_smaller_size(client, comfy):
    """An out-of-memory error retries at 3/4 of the size, and the result has the smaller size."""
    comfy.oom_above_pixels = 512 * 768 - 1
    await add_backend(client, comfy)
    character = await character_with_style(client)
    gen = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
    done = await wait_done(client, gen["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert (done["params"]["width"], done["params"]["height"]) == (384, 576)


async def test_backend_death_moves_the_job_to_another_backend(client, db):
    """When the backend dies mid-job the generation completes on another one."""
    with ComfyUIDouble(latency=1.0) as dying, ComfyUIDouble(latency=0.05) as healthy:
        dying.checkpoints = healthy.checkpoints = [CHECKPOINT]
        await add_backend(client, dying, name="dying")
        character = await character_with_style(client)
        gen = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
        for _ in range(200):
            if dying.submissions:
                break
            await asyncio.sleep(0.02)
        await add_backend(client, healthy, name="healthy")
        dying.kill()
        done = await wait_done(client, gen["id"])
        assert done["status"] == "succeeded" and done["backend_name"] == "healthy"
        assert len(healthy.submissions) == 1


async def test_cancel_interrupts_the_running_prompt(client, comfy):
    """Cancelling a running generation interrupts it on ComfyUI and marks it cancelled."""
    comfy.latency = 5.0
    await add_backend(client, comfy)
    character = await character_with_style(client)
    gen = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
    for _ in range(200):
        if (await client.get(f"/generations/{gen['id']}")).json()["status"] == "running" and comfy.submissions:
            break
        await asyncio.sleep(0.02)
    r = await client.post(f"/generations/{gen['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    done = await wait_done(client, gen["id"], timeout=10)
    assert done["status"] == "cancelled"
    assert (await client.post(f"/generations/{gen['id']}/cancel")).status_code == 409


async def test_capability_routing_picks_the_backend_with_the_model(client):
    """Each job goes to a backend that has its checkpoint, even when another is less busy."""
    with ComfyUIDouble(latency=0.05) as without, ComfyUIDouble(latency=0.05) as with_model:
        without.checkpoints = ["something-else.safetensors"]
        with_model.checkpoints = [CHECKPOINT]
        await add_backend(client, without, name="a-without")
        await add_backend(client, with_model, name="b-with")
        character = await character_with_style(client)
        rows = (await client.post("/generations", json={"character_id": character["id"], "count": 3})).json()
        done = [await wait_done(client, g["id"]) for g in rows]
        assert {g["backend_name"] for g in done} == {"b-with"} and not without.submissions


async def test_video_from_a_gallery_image_falls_back_to_ltx(client, comfy, home):
    """A video starts from a gallery image and takes its shape; a backend without FramePack runs the
    LTX-Video template, and the mp4 is served with range requests."""
    comfy.node_classes -= {"LoadFramePackModel", "FramePackSampler"}
    comfy.checkpoints = [CHECKPOINT, "ltx-video-2b-v0.9.5.safetensors"]
    await add_backend(client, comfy)
    character = await character_with_style(client)
    image = await wait_done(client, (await client.post("/generations", json={"character_id": character["id"]})).json()[0]["id"])
    r = await client.post("/generations", json={"character_id": character["id"], "kind": "video", "duration_s": 1,
                                                "source_output_id": image["outputs"][0], "motion_prompt": "hair sways"})
    assert r.status_code == 201, r.text
    video = await wait_done(client, r.json()[0]["id"])
    assert video["status"] == "succeeded" and video["engine"] == "ltx", video
    item = (await client.get("/gallery", params={"project_id": character["project_id"], "kind": "video"})).json()["items"][0]
    assert item["width"] < item["height"]  # the portrait start image gives a portrait video
    part = await client.get(f"/{item['file_url']}", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100


async def test_bad_requests_change_nothing(client, db):
    """Unknown characters, a video without a source image and a project without a style are 4xx."""
    project = await make_project(client)
    character = await make_character(client, project)
    assert (await client.post("/generations", json={"character_id": 99999})).status_code == 422
    assert (await client.post("/generations", json={"character_id": character["id"]})).json()["code"] == "no_style"
    style = await make_style(client)
    await client.patch(f"/projects/{project['id']}", json={"default_style_id": style["id"]})
    r = await client.post("/generations", json={"character_id": character["id"], "kind": "video"})
    assert r.status_code == 422 and r.json()["code"] == "no_source_image"
    r = await client.post("/generations", json={"character_id": character["id"], "count": 99})
    assert r.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM generations") == 0


async def test_output_details_and_gallery_by_generation(client, comfy):
    """An output's details are readable by id, and the gallery filters by generation."""
    await add_backend(client, comfy)
    character = await character_with_style(client)
    rows = (await client.post("/generations", json={"character_id": character["id"], "count": 2})).json()
    done = [await wait_done(client, g["id"]) for g in rows]
    output_id = done[1]["outputs"][0]
    item = (await client.get(f"/outputs/{output_id}")).json()
    assert item["generation_id"] == done[1]["id"] and item["kind"] == "image"
    page = (await client.get("/gallery", params={"project_id": character["project_id"],
                                                 "generation_id": done[0]["id"]})).json()
    assert [i["generation_id"] for i in page["items"]] == [done[0]["id"]]
    assert (await client.get("/outputs/999999")).status_code == 404


async def test_preview_frames_are_shown_while_sampling(client, comfy):
    """Preview frames ComfyUI sends while sampling are served for the running generation (with a
    progress event saying so) and removed when it ends."""
    comfy.latency, comfy.previews = 2.0, True
    await add_backend(client, comfy)
    character = await character_with_style(client)
    gen = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
    for _ in range(150):
        r = await client.get(f"/generations/{gen['id']}/preview")
        if r.status_code == 200:
            break
        await asyncio.sleep(0.02)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"  # a JPEG
    done = await wait_done(client, gen["id"])
    assert done["status"] == "succeeded"
    assert (await client.get(f"/generations/{gen['id']}/preview")).status_code == 404


def spans(double) -> list[tuple[int, int, int]]:
    """(queued at, started at, finished at) in ms of every prompt the double ran, in start order."""
    out = []
    for entry in double.history.values():
        stamps = dict((name, data["timestamp"]) for name, data in entry["status"]["messages"])
        out.append((entry["prompt"][3]["create_time"], stamps["execution_start"], stamps["execution_success"]))
    return sorted(out, key=lambda s: s[1])


async def test_one_prompt_in_flight_and_a_cancelled_waiter_is_skipped(client, comfy, db):
    """With six jobs on one backend, each prompt reaches ComfyUI only after the one before finished
    (one in flight, no queue flooding), every job but the cancelled one succeeds, and the job
    cancelled while waiting in line is never submitted."""
    comfy.latency = 0.15
    await add_backend(client, comfy)
    character = await character_with_style(client)
    rows = (await client.post("/generations", json={"character_id": character["id"], "count": 6})).json()
    victim = rows[4]["id"]
    for _ in range(200):  # wait until the line has formed, then cancel a job still waiting in it
        if comfy.submissions:
            break
        await asyncio.sleep(0.02)
    assert (await client.post(f"/generations/{victim}/cancel")).status_code == 200
    done = {g["id"]: await wait_done(client, g["id"]) for g in rows}
    assert done[victim]["status"] == "cancelled" and done[victim]["comfy_prompt_id"] is None
    assert all(g["status"] == "succeeded" for gid, g in done.items() if gid != victim), done
    ran = spans(comfy)
    assert len(ran) == 5 and len(comfy.submissions) == 5
    for (_, _, finished), (queued, _, _) in zip(ran, ran[1:]):
        assert queued >= finished, ran  # submitted only once the backend was free
    holding = await db.fetchval("SELECT count(*) FROM generations WHERE holds_slot")
    assert holding == 0
