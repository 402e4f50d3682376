"""Shared set-up for the benches: a real `anime-studio serve` process (tests/live.py's), ComfyUI
protocol doubles as processes, and a character to generate for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import live  # noqa: E402  (the same server start-up the tests use)
from tests.live import LiveServer, free_port  # noqa: E402,F401  (free_port: for the benches)
TOKEN = "bench-admin-token-0123456789"
CHECKPOINT = "animagine-xl-3.1.safetensors"


def start_server(home: Path, **env) -> LiveServer:
    """`anime-studio serve` on a free port (the embedded PostgreSQL unless DATABASE_URL is given)."""
    home.mkdir(parents=True, exist_ok=True)
    return live.start_server(home, token=TOKEN, env={"ANIME_STUDIO_LOG_LEVEL": "warning", **env}, wait=120)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def start_double(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.doubles.comfyui", "--port", str(port),
                                "--latency", str(latency)], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/system_stats", process)
    return process, url


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def make_character(api: httpx.Client, size: int = 256) -> dict:
    """A style on the doubles' checkpoint, a project using it, and a character without references."""
    style = api.post("/styles", json={"name": "Bench", "checkpoint": CHECKPOINT, "width": size, "height": size}).json()
    project = api.post("/projects", json={"name": "Bench", "slug": "bench", "default_style_id": style["id"]}).json()
    return api.post("/characters", json={"project_id": project["id"], "name": "Mio", "slug": "mio",
                                         "design_prompt": "1girl, silver hair"}).json()


def wait_for_memory(api: httpx.Client) -> None:
    """Part of a warm-up: the new character is embedded into the project memory once (Echo Brain's
    first embedding loads its model in a child process and imports Qdrant's client: seconds of CPU
    on this machine, once per server)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if (api.get("/echo/status").json()["memory"]["points"] or 0) > 0:
            return
        time.sleep(0.5)
    raise SystemExit("the project memory never synced")
