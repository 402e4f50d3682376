"""`anime-studio generate "..." --duration N` end to end without a server (shots planned by the
Ollama story model, rendered on a ComfyUI double, assembled, the path printed), and `status`
showing each backend's role, VRAM, queue and current job."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from packages.core.media import probe_video
from tests.doubles.comfyui import ComfyUIDouble
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import vision_answer
from tests.live import REPO, start_server

CHECKPOINT = "animagine-xl-3.1.safetensors"
PLAN = {"shots": [
    {"shot_type": "establishing", "description": "a misty forest", "motion_prompt": "slow push-in", "duration_s": 4},
    {"shot_type": "action", "description": "the warrior draws a sword", "motion_prompt": "fast pan", "duration_s": 4}]}


def cli(home: Path, *args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    full = {**os.environ, "ANIME_STUDIO_HOME": str(home), **(env or {})}
    full.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "src.cli", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=timeout)


def answer(request: dict):
    """The story model's plan for a request whose format asks for shots, else a vision review."""
    wants_plan = "shots" in (request.get("format") or {}).get("properties", {})
    return PLAN if wants_plan else vision_answer(9)


def test_generate_a_clip_from_one_line_and_status(tmp_path):
    """generate --duration 6 with no server running: the story model's two shots are scaled to 3 s
    each, rendered (keyframe, then two videos) on the one backend, assembled into one file whose
    path is printed and whose length is the clip's; status --json lists the backend's roles, VRAM
    and (idle) current jobs."""
    with ComfyUIDouble(latency=0.05) as comfy, OllamaDouble(latency=0.01) as ollama:
        comfy.checkpoints = [CHECKPOINT]
        ollama.answer = answer
        admin = cli(tmp_path, "token", "create", "--role", "admin").stdout.strip()
        server = start_server(tmp_path)
        try:
            api = httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {admin}"})
            api.post("/backends", json={"name": "gpu", "url": comfy.url, "roles": ["worker", "hero"]}).raise_for_status()
            style = api.post("/styles", json={"name": "S", "checkpoint": CHECKPOINT, "width": 256,
                                              "height": 256}).json()
            api.post("/projects", json={"name": "P", "slug": "p", "default_style_id": style["id"]}).raise_for_status()
        finally:
            server.stop()
        env = {"OLLAMA_HOST": ollama.url, "ANIME_STUDIO_STORY_MODEL": "gemma3"}
        run = cli(tmp_path, "generate", "warrior in mystical forest", "--duration", "6", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "2 shots (3 s, 3 s), planned by gemma3" in run.stdout, run.stdout
        [path] = [line.split(": ", 1)[1] for line in run.stdout.splitlines() if line.startswith("output: ")]
        assert Path(path).is_file() and Path(path).suffix == ".mp4"
        info = asyncio.run(probe_video(Path(path)))
        # both shots are in it (the double's FramePack renders ~2.4 s of a 3 s request, whole latent windows)
        assert 4.0 < info.duration_s <= 6.0, info
        kinds = ["video" if any(n["class_type"] == "FramePackSampler" for n in s["prompt"].values()) else "image"
                 for s in comfy.submissions]
        assert kinds == ["image", "video", "video"], kinds
        texts = [n["inputs"].get("text", "") for n in comfy.submissions[0]["prompt"].values()]
        assert any("warrior in mystical forest" in t and "misty forest" in t for t in texts)

        status = cli(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stderr
        [backend] = json.loads(status.stdout)["backends"]
        assert backend["roles"] == ["hero", "worker"] and backend["vram_total"] == comfy.vram_total
        assert backend["current"] == [] and backend["queue_remaining"] == 0
        text = cli(tmp_path, "status").stdout
        assert "hero,worker" in text and "GiB" in text


def test_generate_a_clip_without_a_prompt_is_refused(tmp_path):
    """--duration without a prompt says what to write and exits 2, creating no scene."""
    run = cli(tmp_path, "generate", "--duration", "10")
    assert run.returncode == 2 and "Say what the clip shows" in run.stderr, run.stdout + run.stderr
