"""A server killed in the middle of a scene: after a restart the scene job resumes at the first
unfinished shot, follows the generation that was in flight (by its own prompt id) and completes
the scene; ComfyUI saw exactly one submission per shot."""

from __future__ import annotations

import signal

import httpx

from tests.doubles.comfyui import ComfyUIDouble
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import CHECKPOINT, Scores
from tests.integration.test_generation_crash import wait_for
from tests.live import start_server

TOKEN = "scene-crash-admin-token-0123456789"


def videos(comfy) -> list[dict]:
    return [s for s in comfy.submissions if any(n["class_type"] == "FramePackSampler" for n in s["prompt"].values())]


def test_killed_mid_scene_resumes_without_resubmitting(tmp_path):
    """kill -9 while shot 2 renders; the restarted server finishes the scene: three shots done, three
    video submissions (shot 2's prompt followed, not sent again), one attempt each."""
    with ComfyUIDouble(latency=1.0) as comfy, OllamaDouble() as ollama:
        comfy.checkpoints = [CHECKPOINT]
        ollama.answer = Scores(default=9)
        env = {"ANIME_STUDIO_STALLED_JOB_S": "2", "OLLAMA_HOST": ollama.url}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        server = start_server(tmp_path, token=TOKEN, env=env)
        try:
            with httpx.Client(base_url=server.api, headers=headers, timeout=30) as api:
                assert api.post("/backends", json={"name": "gpu", "url": comfy.url}).status_code == 201
                style = api.post("/styles", json={"name": "S", "checkpoint": CHECKPOINT, "width": 512,
                                                  "height": 512}).json()
                project = api.post("/projects", json={"name": "P", "slug": "p", "default_style_id": style["id"]}).json()
                mio = api.post("/characters", json={"project_id": project["id"], "name": "Mio", "slug": "mio",
                                                    "design_prompt": "1girl"}).json()
                scene = api.post("/scenes", json={"project_id": project["id"], "title": "Roof"}).json()
                for prompt in ("Mio stands", "Mio turns", "Mio runs"):  # shot 1's image is generated first
                    r = api.post(f"/scenes/{scene['id']}/shots", json={"prompt": prompt, "duration_s": 1,
                                                                       "character_ids": [mio["id"]]})
                    assert r.status_code == 201, r.text
                assert api.post(f"/scenes/{scene['id']}/generate").status_code == 202
                wait_for(lambda: len(videos(comfy)) == 2, timeout=60)
                server.process.send_signal(signal.SIGKILL)
                server.process.wait()
        finally:
            server.stop()
        restarted = start_server(tmp_path, token=TOKEN, env=env)
        try:
            with httpx.Client(base_url=restarted.api, headers=headers, timeout=30) as api:
                done = wait_for(lambda: (s := api.get(f"/scenes/{scene['id']}").json())["status"]
                                in ("done", "failed") and s, timeout=90)
                shots = done["shots"]
                assert [s["status"] for s in shots] == ["done"] * 3, done
                assert done["status"] == "done" or "assembly" in done["error"], done
                assert [len(s["attempts"]) for s in shots] == [1, 1, 1]
                assert len(videos(comfy)) == 3
                assert len({s["prompt_id"] for s in videos(comfy)}) == 3
                # one start image generated for shot 1, never again
                assert len(comfy.submissions) - len(videos(comfy)) == 1
        finally:
            restarted.stop()
