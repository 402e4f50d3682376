"""A server killed (or stopped) mid-generation: after a restart the job finds its own prompt by id
on ComfyUI and follows it to the end, without submitting it a second time."""

from __future__ import annotations

import signal
import time

import httpx

from tests.doubles.comfyui import ComfyUIDouble
from tests.live import start_server

TOKEN = "crash-admin-token-0123456789"
CHECKPOINT = "animagine-xl-3.1.safetensors"


def wait_for(predicate, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def _generation(api: httpx.Client, comfy_url: str) -> dict:
    assert api.post("/backends", json={"name": "gpu", "url": comfy_url}).status_code == 201
    style = api.post("/styles", json={"name": "S", "checkpoint": CHECKPOINT, "width": 512, "height": 512}).json()
    project = api.post("/projects", json={"name": "P", "slug": "p", "default_style_id": style["id"]}).json()
    character = api.post("/characters", json={"project_id": project["id"], "name": "Mio", "slug": "mio",
                                               "design_prompt": "1girl"}).json()
    return api.post("/generations", json={"character_id": character["id"]}).json()[0]


def _finished(api: httpx.Client, generation_id: int, timeout: float = 60) -> dict:
    return wait_for(lambda: (g := api.get(f"/generations/{generation_id}").json())["status"] in
                    ("succeeded", "failed") and g, timeout=timeout)


def test_killed_server_resumes_without_submitting_twice(tmp_path):
    """kill -9 while ComfyUI runs the prompt; the restarted server's worker retries the stalled job,
    which follows the same prompt id: one submission, one output, status succeeded."""
    env = {"ANIME_STUDIO_STALLED_JOB_S": "2"}
    with ComfyUIDouble(latency=3.0) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        server = start_server(tmp_path, token=TOKEN, env=env)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        api = httpx.Client(base_url=server.api, headers=headers, timeout=30)
        try:
            gen = _generation(api, comfy.url)
            wait_for(lambda: comfy.submissions)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
        finally:
            api.close()
        # the embedded PostgreSQL outlives its killed owner: the restart finds it (or restarts it)
        restarted = start_server(tmp_path, token=TOKEN, env=env)
        try:
            with httpx.Client(base_url=restarted.api, headers=headers, timeout=30) as api:
                done = _finished(api, gen["id"])
                assert done["status"] == "succeeded", done
                assert len(comfy.submissions) == 1
                assert len(done["outputs"]) == 1
        finally:
            restarted.stop()


def test_stopped_server_does_not_wait_for_the_job_and_resumes_it(tmp_path):
    """Ctrl+C while ComfyUI runs a long prompt: the server stops after a short grace, not when the
    prompt is done (the job goes back to the queue); the next start follows the same prompt id to
    the end: one submission, one output, status succeeded."""
    with ComfyUIDouble(latency=20.0) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        server = start_server(tmp_path, token=TOKEN)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        api = httpx.Client(base_url=server.api, headers=headers, timeout=30)
        try:
            gen = _generation(api, comfy.url)
            [prompt_id] = wait_for(lambda: [s["prompt_id"] for s in comfy.submissions])
        finally:
            api.close()
        server.stop()  # SIGINT, as Ctrl+C
        assert server.process.returncode == 0
        assert prompt_id not in comfy.history  # it stopped while the prompt still ran
        restarted = start_server(tmp_path, token=TOKEN)
        try:
            with httpx.Client(base_url=restarted.api, headers=headers, timeout=30) as api:
                done = _finished(api, gen["id"])
                assert done["status"] == "succeeded", done
                assert len(comfy.submissions) == 1 and len(done["outputs"]) == 1
        finally:
            restarted.stop()
