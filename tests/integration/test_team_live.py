"""The creative team on a real server: the in-process worker runs the session job, the SSE stream
sends tokens before each whole message, then phases, consensus, the plan and the state; a server
killed mid-session resumes after a restart with every turn stored once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import httpx

from tests.doubles.ollama import OllamaDouble
from tests.doubles.ollama_team import TeamScript
from tests.integration.test_generation_crash import wait_for
from tests.live import start_server

TOKEN = "team-live-admin-token-0123456789"
MODEL = "llama3.1:latest"


def sse(lines):
    """(event, id, data) per SSE message read from a line iterator."""
    event, ident, data = "message", None, []
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if data:
                yield event, ident, json.loads("\n".join(data))
            event, ident, data = "message", None, []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "id":
            ident = value
        elif field == "data":
            data.append(value)


def _studio(api) -> dict:
    style = api.post("/styles", json={"name": "S", "checkpoint": "x.safetensors", "width": 832, "height": 1216}).json()
    project = api.post("/projects", json={"name": "P", "slug": "p", "default_style_id": style["id"]}).json()
    api.post("/characters", json={"project_id": project["id"], "name": "Mio", "slug": "mio", "design_prompt": "1girl"})
    return project


def test_stream_and_restart(tmp_path):
    """Tokens of a message arrive before the message; the session plans; kill -9 mid-session and the
    restarted server's worker finishes it, each specialist's turn stored once."""
    with OllamaDouble(models={MODEL: ["completion"]}, latency=0.2) as ollama:
        ollama.answer = script = TeamScript()
        env = {"ANIME_STUDIO_STALLED_JOB_S": "2", "OLLAMA_HOST": ollama.url, "ANIME_STUDIO_CHAT_MODEL": MODEL}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        server = start_server(tmp_path, token=TOKEN, env=env)
        try:
            with httpx.Client(base_url=server.api, headers=headers, timeout=30) as api:
                _studio(api)
                first = api.post("/team/sessions", json={"project": "p", "target": {
                    "kind": "character_image", "character": "mio"}}).json()
                seen, tokens = [], {}
                with api.stream("GET", f"/team/sessions/{first['id']}/stream", params={"after": 0}) as stream:
                    for event, ident, data in sse(stream.iter_lines()):
                        if event == "token":
                            tokens.setdefault(data["message_id"], []).append(data["text"])
                            continue
                        assert ident is not None
                        seen.append((event, data))
                        if event == "message" and data["speaker"] not in ("system", "user"):
                            assert "".join(tokens.get(data["id"], [])) == data["content"]
                        if event == "state" and data["status"] != "running":
                            break
                assert seen[-1] == ("state", {"status": "planned", "error": None})
                names = [e for e, _ in seen]
                assert names.count("phase") == 4 and "plan" in names and "consensus" in names
                assert len(tokens) == 9  # every specialist's turn streamed

                ollama.latency = 1.5
                second = api.post("/team/sessions", json={"project": "p", "target": {
                    "kind": "character_image", "character": "mio"}}).json()
                wait_for(lambda: len(script.turns) >= 9 + 4, timeout=60)
                server.process.send_signal(signal.SIGKILL)
                server.process.wait()
        finally:
            server.stop()
        ollama.latency = 0.0
        restarted = start_server(tmp_path, token=TOKEN, env=env)
        try:
            with httpx.Client(base_url=restarted.api, headers=headers, timeout=30) as api:
                done = wait_for(lambda: (s := api.get(f"/team/sessions/{second['id']}").json())["status"]
                                != "running" and s, timeout=90)
                assert done["status"] == "planned", done
                turns = [(m["speaker"], m["phase"]) for m in done["messages"] if m["speaker"] not in ("system", "user")]
                assert [s for s, _ in turns] == ["luna", "frame", "saga", "luna", "frame", "saga", "lens", "pixel", "lens"]
        finally:
            restarted.stop()
            _stop_postgres(tmp_path / "var" / "postgres")


def _stop_postgres(data: Path) -> None:
    """The embedded PostgreSQL the killed server left running (the restarted one did not own it)."""
    with contextlib.suppress(FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGINT)  # fast shutdown
