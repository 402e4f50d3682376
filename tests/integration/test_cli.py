"""The `anime-studio` command as a user runs it: tokens, status and generation without a server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from packages.core.embedded import EmbeddedPostgres
from tests.doubles.comfyui import ComfyUIDouble
from tests.live import REPO, start_server

CHECKPOINT = "animagine-xl-3.1.safetensors"


def cli(home: Path, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANIME_STUDIO_HOME": str(home), **(env or {})}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "src.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_token_status_and_generate_without_a_server(tmp_path):
    """A token made by the CLI works on the API; `status` lists the backend; `generate` with no server
    running works the jobs itself, prints progress and the output files, and exits 0."""
    with ComfyUIDouble(latency=0.05) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        made = cli(tmp_path, "token", "create", "--role", "director", "--name", "cli-user")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        server = start_server(tmp_path)
        try:
            api = httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {token}"})
            me = api.get("/auth/me").json()
            assert me["name"] == "cli-user" and me["role"] == "director"
            admin = cli(tmp_path, "token", "create", "--role", "admin").stdout.strip()
            httpx.post(server.api + "/backends", json={"name": "gpu", "url": comfy.url},
                       headers={"Authorization": f"Bearer {admin}"}).raise_for_status()
            style = api.post("/styles", json={"name": "S", "checkpoint": CHECKPOINT, "width": 256,
                                              "height": 256}).json()
            project = api.post("/projects", json={"name": "P", "slug": "p", "default_style_id": style["id"]}).json()
            api.post("/characters", json={"project_id": project["id"], "name": "Mio", "slug": "mio",
                                          "design_prompt": "1girl"}).raise_for_status()
        finally:
            server.stop()
        status = cli(tmp_path, "status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert [b["name"] for b in report["backends"]] == ["gpu"] and report["database"]["status"] == "ok"

        run = cli(tmp_path, "generate", "on a cliff", "--character", "mio", "--count", "2")
        assert run.returncode == 0, run.stdout + run.stderr
        outputs = [line.split(": ", 1)[1] for line in run.stdout.splitlines() if line.startswith("output ")]
        assert len(outputs) == 2 and all(Path(p).is_file() for p in outputs)
        assert "succeeded" in run.stdout
        prompt = comfy.submissions[0]["prompt"]
        assert any("on a cliff" in n["inputs"].get("text", "") for n in prompt.values())

        missing = cli(tmp_path, "generate", "x", "--character", "nobody")
        assert missing.returncode == 2 and "no character" in missing.stderr


def test_generate_works_the_jobs_once_a_killed_servers_worker_is_gone(tmp_path):
    """A server killed outright leaves its worker's row behind, looking alive until its heartbeat
    runs out; `generate` then waits for that and works the jobs itself instead of waiting for ever."""
    with ComfyUIDouble(latency=0.05) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        admin = cli(tmp_path, "token", "create", "--role", "admin").stdout.strip()
        server = start_server(tmp_path)
        api = httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {admin}"})
        api.post("/backends", json={"name": "gpu", "url": comfy.url}).raise_for_status()
        style = api.post("/styles", json={"name": "S", "checkpoint": CHECKPOINT, "width": 256, "height": 256}).json()
        api.post("/projects", json={"name": "P", "slug": "p", "default_style_id": style["id"]}).raise_for_status()
        server.process.kill()
        server.process.wait()

        async def last_beat_ahead() -> int:  # the dead worker looks alive for a few seconds more
            embedded = EmbeddedPostgres(tmp_path / "var")
            conn = await asyncpg.connect(embedded.start())
            try:
                return await conn.fetchval("WITH beat AS (UPDATE procrastinate_workers "
                                           "SET last_heartbeat = now() + interval '8 seconds' RETURNING 1) "
                                           "SELECT count(*) FROM beat")
            finally:
                await conn.close()
                embedded.stop()

        assert asyncio.run(last_beat_ahead()) == 1
        run = cli(tmp_path, "generate", "on a cliff", "--count", "1", env={"ANIME_STUDIO_STALLED_JOB_S": "2"})
        assert run.returncode == 0, run.stdout + run.stderr
        assert "no worker is running: working the jobs in this process" in run.stdout
        [output] = [line.split(": ", 1)[1] for line in run.stdout.splitlines() if line.startswith("output ")]
        assert Path(output).is_file()
