"""The real `anime-studio serve` process: first start, one server per home, restarts and the event stream."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest

from tests.live import REPO, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server on the embedded PostgreSQL (DATABASE_URL unset), as `make run` starts it."""
    home = tmp_path_factory.mktemp("home")
    live = start_server(home)
    yield live
    live.stop()


def first_token(log: str) -> str:
    match = re.search(r"\?token=(\S+)", log)
    assert match, log
    return match.group(1)


def read_sse(response, count: int) -> list[dict]:
    """Reads `count` SSE messages (id, event, data) from a streaming response."""
    messages, current = [], {}
    for line in response.iter_lines():
        if not line:
            if "id" in current:
                messages.append(current)
                if len(messages) == count:
                    return messages
            current = {}
            continue
        key, _, value = line.partition(": ")
        current[key] = value
    return messages


def test_first_start_prints_an_admin_url_that_works(server):
    """On first start on loopback the server prints a URL whose token is an admin token."""
    token = first_token(server.log.read_text())
    r = httpx.get(server.api + "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["role"] == "admin"


def test_second_server_on_the_same_home_refuses(server):
    """A second server on the same home exits with a message instead of sharing the database."""
    env = {"ANIME_STUDIO_HOME": str(server.log.parent), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "src.cli", "serve", "--port", "1"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "already running on this home" in result.stderr


def test_event_stream_delivers_and_resumes(server):
    """Committed events reach a stream client with ids; reconnecting with Last-Event-ID resumes after it."""
    headers = {"Authorization": f"Bearer {first_token(server.log.read_text())}"}
    with httpx.Client(base_url=server.api, headers=headers, timeout=10) as c:
        with c.stream("GET", "/events/stream") as stream:
            project = c.post("/projects", json={"name": "Stream", "slug": "stream"}).json()
            first = read_sse(stream, 1)[0]
        assert first["event"] == "project.created"
        assert f'"project_id":{project["id"]}' in first["data"]
        c.patch(f"/projects/{project['id']}", json={"genre": "noir"})
        c.post(f"/projects/{project['id']}/archive")
        with c.stream("GET", "/events/stream", headers={"Last-Event-ID": first["id"]}) as stream:
            resumed = read_sse(stream, 2)
        assert [m["event"] for m in resumed] == ["project.updated", "project.archived"]
        assert int(resumed[0]["id"]) > int(first["id"])


def test_non_loopback_without_admin_token_refuses(tmp_path):
    """Binding to a non-loopback address with no admin token configured refuses to start, saying how to fix it."""
    env = {"ANIME_STUDIO_HOME": str(tmp_path), "ANIME_STUDIO_HOST": "0.0.0.0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "src.cli", "serve"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ANIME_STUDIO_ADMIN_TOKEN" in result.stderr
    assert not (tmp_path / "var" / "postgres").exists()


def test_restart_keeps_data_and_does_not_reprint_a_token(tmp_path):
    """Data written before a restart is there after it (the embedded PostgreSQL persists), and no new
    admin token is made on the second start."""
    live = start_server(tmp_path)
    token = first_token(live.log.read_text())
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(live.api + "/projects", json={"name": "Kept", "slug": "kept"}, headers=headers).status_code == 201
    live.stop()
    assert live.process.returncode == 0
    again = start_server(tmp_path)
    try:
        assert "?token=" not in again.log.read_text()
        r = httpx.get(again.api + "/projects/by-slug/kept", headers=headers)
        assert r.status_code == 200 and r.json()["name"] == "Kept"
    finally:
        again.stop()
