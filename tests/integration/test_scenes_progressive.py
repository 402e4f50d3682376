"""Progressive scene generation on the ComfyUI and Ollama protocol doubles, with real ffmpeg: shots
in order, each chained from the last frame of the one before, each gated (0.6, 0.45, 0.3 over 3
attempts, a new seed and more steps each time, the best kept), an unusable score never passing,
and the CPU animatic when no backend can render video."""

from __future__ import annotations

import asyncio
import importlib.util

import numpy as np
import pytest
from PIL import Image

from packages.core.settings import Settings
from packages.scene_generation import frames
from tests.conftest import ADMIN_TOKEN
from tests.doubles.comfyui import ComfyUIDouble
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import CHECKPOINT, Scores, make_scene, source_output, studio, wait_scene

ASSEMBLY = importlib.util.find_spec("packages.audio_composition") is not None


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
        double.checkpoints = [CHECKPOINT]
        yield double


def pixels(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32)


def video_submissions(comfy) -> list[dict]:
    return [s for s in comfy.submissions if any(n["class_type"] == "FramePackSampler" for n in s["prompt"].values())]


def uploaded_start(comfy, submission) -> np.ndarray:
    [name] = [n["inputs"]["image"] for n in submission["prompt"].values() if n["class_type"] == "LoadImage"]
    return pixels(comfy.root / "input" / name)


def assert_assembled_or_reported(scene):
    if ASSEMBLY:
        assert scene["status"] == "done" and scene["output_url"], scene
    else:  # the audio side is another part; the job says plainly why it stopped
        assert scene["status"] == "failed" and "assembly" in scene["error"], scene


async def test_shots_run_in_order_chained_and_gated(client, comfy, db, home, ollama_double):
    """Shot N+1 starts from shot N's last frame (the picture sent to ComfyUI is that frame, pixel for
    pixel, and the new video's first frame is close to it); a shot below its gate is retried with a
    new seed and more steps against a lower threshold, and passes there."""
    await client.post("/backends", json={"name": "gpu", "url": comfy.url})
    project, mio = await studio(client)
    source = await source_output(db, home, project)
    ollama_double.answer = Scores(9, 3, 8, 9)  # shot 1 passes; shot 2: 0.3 < 0.6, then 0.8 >= 0.45; shot 3
    scene = await make_scene(client, project, [
        {"prompt": "Mio on the roof", "character_ids": [mio["id"]], "source_output_id": source,
         "shot_type": "establishing", "duration_s": 1},
        {"prompt": "Mio turns", "character_ids": [mio["id"]], "shot_type": "close-up", "duration_s": 1,
         "dialogue_character_id": mio["id"], "dialogue_text": "It is windy."},
        {"prompt": "the sky", "shot_type": "wide", "duration_s": 1, "transition": "cut"}])
    r = await client.post(f"/scenes/{scene['id']}/generate")
    assert r.status_code == 202 and r.json()["status"] == "queued"
    done = await wait_scene(client, scene["id"])
    assert_assembled_or_reported(done)
    shots = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
    assert [s["status"] for s in shots] == ["done"] * 3, shots
    assert [len(s["attempts"]) for s in shots] == [1, 2, 1]
    first, second = shots[1]["attempts"]
    assert (first["passed"], first["threshold"], first["score"]) == (False, 0.6, pytest.approx(0.3))
    assert (second["passed"], second["threshold"]) == (True, 0.45)
    assert second["seed"] != first["seed"] and second["steps"] > first["steps"]
    assert shots[1]["quality_score"] == pytest.approx(0.8) and shots[1]["gate_passed"] is True
    assert shots[1]["generation_id"] == second["generation_id"] and shots[1]["engine"] == "framepack"

    videos = video_submissions(comfy)
    assert len(videos) == 4 and ollama_double.answer.asked == 4
    # chaining: what shot 2's attempts and shot 3 were given is the last frame of the kept video before
    for before, after_submissions in ((shots[0], videos[1:3]), (shots[1], videos[3:4])):
        r = await client.get(f"/{before['video_url']}")
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        video = home / await db.fetchval("SELECT path FROM outputs WHERE id = $1", before["video_output_id"])
        last = pixels(await frames.last_frame(video, home / "check-last.png"))
        for submission in after_submissions:
            assert np.array_equal(uploaded_start(comfy, submission), last)
    shot3_video = home / await db.fetchval("SELECT path FROM outputs WHERE id = $1", shots[2]["video_output_id"])
    shot2_last = pixels(home / await db.fetchval("SELECT path FROM outputs WHERE id = $1",
                                                 shots[1]["last_frame_output_id"]))
    shot3_first = pixels(await frames.first_frame(shot3_video, home / "check-first.png"))
    with Image.open(home / await db.fetchval("SELECT path FROM outputs WHERE id = $1", source)) as img:
        unrelated = np.asarray(img.convert("RGB").resize(shot3_first.shape[1::-1]), dtype=np.float32)
    assert np.abs(shot3_first - shot2_last).mean() < 0.5 * np.abs(shot3_first - unrelated).mean()
    r = await client.get(f"/{shots[2]['first_frame_url']}")
    assert r.status_code == 200 and r.content == (home / await db.fetchval(
        "SELECT path FROM outputs WHERE id = $1", shots[1]["last_frame_output_id"])).read_bytes()
    types = [r["type"] for r in await db.fetch("SELECT type FROM events WHERE type LIKE 'shot.%' ORDER BY id")]
    assert types.count("shot.progress") >= 9
    if ASSEMBLY:  # one pass: the picture's length (shots minus the dissolve into shot 2; shot 3 is a cut)
        durations = [await db.fetchval("SELECT duration_s FROM outputs WHERE id = $1", s["video_output_id"])
                     for s in shots]
        expected = sum(durations) - min(0.3, 0.4 * min(durations[0], durations[1]))
        assert done["duration_s"] == pytest.approx(expected, abs=0.1)
        r = await client.get(f"/{done['output_url']}", headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and len(r.content) == 100
        events = await db.fetch("SELECT payload FROM events WHERE type = 'scene.completed'")
        assert len(events) == 1 and events[0]["payload"]["scene_id"] == scene["id"]


async def test_an_unusable_score_never_passes(client, comfy, db, home, ollama_double):
    """Answers that are not JSON give no score: every attempt fails its gate, the shot fails after 3
    attempts (3 submissions), and the scene fails naming the shot."""
    await client.post("/backends", json={"name": "gpu", "url": comfy.url})
    project, _ = await studio(client)
    source = await source_output(db, home, project)
    ollama_double.garbage_next = 3
    scene = await make_scene(client, project, [{"prompt": "x", "source_output_id": source, "duration_s": 1},
                                               {"prompt": "y", "duration_s": 1}])
    await client.post(f"/scenes/{scene['id']}/generate")
    done = await wait_scene(client, scene["id"])
    assert done["status"] == "failed" and done["error"].startswith("shot 1:"), done
    shots = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
    assert shots[0]["status"] == "failed" and [a["score"] for a in shots[0]["attempts"]] == [None] * 3
    assert not any(a["passed"] for a in shots[0]["attempts"]) and shots[1]["status"] == "pending"
    assert len(video_submissions(comfy)) == 3


async def test_best_attempt_is_kept_when_none_passes(client, comfy, db, home, ollama_double):
    """0.2, 0.25, 0.1 against 0.6, 0.45, 0.3: the best (attempt 2) is kept, marked below its gate."""
    await client.post("/backends", json={"name": "gpu", "url": comfy.url})
    project, _ = await studio(client)
    source = await source_output(db, home, project)
    ollama_double.answer = Scores(2, 2, 1)
    ollama_double.answer.queue = [2, 2, 1]
    scene = await make_scene(client, project, [{"prompt": "x", "source_output_id": source, "duration_s": 1}])
    await client.post(f"/scenes/{scene['id']}/generate")
    await wait_scene(client, scene["id"])
    [shot] = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
    assert shot["status"] == "done" and shot["gate_passed"] is False and len(shot["attempts"]) == 3
    assert shot["generation_id"] == shot["attempts"][0]["generation_id"]  # ties keep the first
    assert shot["quality_score"] == pytest.approx(0.2)


async def test_without_a_backend_shots_are_animatics(client, db, home, ollama_double):
    """No ComfyUI backend can render video: each shot is an animatic rendered on the CPU, labelled
    (engine animatic, is_animatic), chained like any shot; the scene is not publishable as it is."""
    project, _ = await studio(client)
    source = await source_output(db, home, project)
    scene = await make_scene(client, project, [
        {"prompt": "x", "source_output_id": source, "duration_s": 1, "shot_type": "action"},
        {"prompt": "y", "duration_s": 1, "shot_type": "establishing"}])
    await client.post(f"/scenes/{scene['id']}/generate")
    done = await wait_scene(client, scene["id"], timeout=120)
    assert_assembled_or_reported(done)
    assert done["has_animatics"] is True and done["publishable"] is False
    if ASSEMBLY:  # the user accepts animatics: now the scene may be published
        r = await client.patch(f"/scenes/{scene['id']}", json={"accept_animatics": True})
        assert r.status_code == 200 and r.json()["publishable"] is True
    shots = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
    assert all(s["status"] == "done" and s["engine"] == "animatic" and s["is_animatic"] for s in shots), shots
    gens = await db.fetch("SELECT engine, params, status FROM generations ORDER BY id")
    assert [g["engine"] for g in gens] == ["animatic", "animatic"] and gens[1]["params"]["animatic_motion"] == "pan"
    video = home / await db.fetchval("SELECT path FROM outputs WHERE id = $1", shots[1]["video_output_id"])
    assert "animatic" in video.name
    first = pixels(await frames.first_frame(video, home / "f.png"))
    start = pixels(home / await db.fetchval("SELECT path FROM outputs WHERE id = $1", shots[0]["last_frame_output_id"]))
    assert np.abs(first[100:] - start[100:]).mean() < 12  # the still it chained from (below the label)


async def test_cancel_stops_the_scene_and_generate_resumes_it(client, db, home, ollama_double):
    """Cancelling a generating scene cancels its running generation and stops the job; generating it
    again resumes at the first unfinished shot."""
    with ComfyUIDouble(latency=1.0) as slow:
        slow.checkpoints = [CHECKPOINT]
        await client.post("/backends", json={"name": "gpu", "url": slow.url})
        project, _ = await studio(client)
        source = await source_output(db, home, project)
        scene = await make_scene(client, project, [{"prompt": "x", "source_output_id": source, "duration_s": 1},
                                                   {"prompt": "y", "duration_s": 1}])
        await client.post(f"/scenes/{scene['id']}/generate")
        for _ in range(300):
            if video_submissions(slow):
                break
            await asyncio.sleep(0.05)
        r = await client.post(f"/scenes/{scene['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        await asyncio.sleep(0.5)
        gen = await db.fetchrow("SELECT status FROM generations ORDER BY id LIMIT 1")
        assert gen["status"] == "cancelled"
        assert (await client.post(f"/scenes/{scene['id']}/generate")).status_code == 202
        done = await wait_scene(client, scene["id"], timeout=60)
        assert_assembled_or_reported(done)
        shots = (await client.get(f"/scenes/{scene['id']}")).json()["shots"]
        assert [s["status"] for s in shots] == ["done", "done"]


async def test_scenes_run_side_by_side_but_a_scenes_shots_never_overlap(client, db, home, ollama_double):
    """Two scenes and two backends: the scenes' prompts overlap in time, while the prompts of one
    scene never do (each shot chains from the one before)."""
    with ComfyUIDouble(latency=0.4) as one, ComfyUIDouble(latency=0.4) as two:
        for n, double in enumerate((one, two)):
            double.checkpoints = [CHECKPOINT]
            await client.post("/backends", json={"name": f"gpu-{n}", "url": double.url})
        project, _ = await studio(client)
        source = await source_output(db, home, project)
        scenes = []
        for name in ("alpha", "beta"):
            scenes.append(await make_scene(client, project, [
                {"prompt": f"{name} {k}", "duration_s": 1, **({"source_output_id": source} if k == 0 else {})}
                for k in range(3)], title=name))
        for scene in scenes:
            assert (await client.post(f"/scenes/{scene['id']}/generate")).status_code == 202
        for scene in scenes:
            await wait_scene(client, scene["id"])
        spans: dict[str, list[tuple[float, float]]] = {"alpha": [], "beta": []}
        for double in (one, two):
            for submission in video_submissions(double):
                text = " ".join(str(n["inputs"].get("text", "")) for n in submission["prompt"].values())
                stamps = dict((n, d["timestamp"]) for n, d in double.history[submission["prompt_id"]]["status"]["messages"])
                spans["alpha" if "alpha" in text else "beta"].append((stamps["execution_start"],
                                                                      stamps["execution_success"]))
    for own in spans.values():
        own.sort()
        assert len(own) == 3 and all(a[1] <= b[0] for a, b in zip(own, own[1:]))
    assert any(a[0] < b[1] and b[0] < a[1] for a in spans["alpha"] for b in spans["beta"])
