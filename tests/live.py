"""A real `anime-studio serve` process on a free loopback port, for SSE, browser and startup tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str  # ends with '/'
    token: str
    process: subprocess.Popen
    log: Path

    @property
    def api(self) -> str:
        return self.url + "api/lora"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: uvicorn's graceful shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(home: Path, *, env: dict | None = None, root_path: str = "", token: str = "",
                 wait: float = 60.0) -> LiveServer:
    port = free_port()
    log = home / "server.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANIME_STUDIO_", "DATABASE_URL"))}
    full_env.update({"ANIME_STUDIO_HOME": str(home), "ANIME_STUDIO_PORT": str(port), "PYTHONUNBUFFERED": "1"})
    if token:
        full_env["ANIME_STUDIO_ADMIN_TOKEN"] = token
    full_env.update(env or {})
    args = [sys.executable, "-m", "src.cli", "serve"] + (["--root-path", root_path] if root_path else [])
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    server = LiveServer(url=base, token=token, process=process, log=log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(base + "api/lora/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy in {wait}s:\n{log.read_text()[-4000:]}")
