"""Shared set-up of the creative team's tests: an Ollama double answering as the specialists,
settings pointing at it, a project with a style, a character and a shot, and a session runner."""

from __future__ import annotations

import pytest

from packages.core.settings import Settings
from packages.echo_integration import team
from tests.conftest import ADMIN_TOKEN
from tests.doubles.ollama import OllamaDouble
from tests.doubles.ollama_team import TeamScript
from tests.factories import make_character, make_project, make_style

MODEL = "llama3.1:latest"


@pytest.fixture
def ollama_double():
    with OllamaDouble(models={MODEL: ["completion"], "qwen3:latest": ["completion"]}) as double:
        yield double


@pytest.fixture
def script(ollama_double) -> TeamScript:
    ollama_double.answer = TeamScript()
    return ollama_double.answer


@pytest.fixture
def settings(home, database_url, ollama_double):
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, OLLAMA_HOST=ollama_double.url,
                    ANIME_STUDIO_CHAT_MODEL=MODEL, ANIME_STUDIO_RETRY_BACKOFF_S=0.01, _env_file=None)


async def studio(client) -> dict:
    """A project with a default style, a character and a scene with one shot."""
    style = await make_style(client)
    project = await make_project(client, default_style_id=style["id"], premise="A girl who hears the wind")
    character = await make_character(client, project, name="Mio")
    r = await client.post("/scenes", json={"project_id": project["id"], "title": "Rooftop", "mood": "wistful"})
    assert r.status_code == 201, r.text
    scene = r.json()
    r = await client.post(f"/scenes/{scene['id']}/shots", json={"prompt": "Mio on the roof"})
    assert r.status_code == 201, r.text
    return {"project": project, "character": character, "scene": scene, "shot": r.json(), "style": style}


async def start(client, world: dict, *, target: dict | None = None, **fields) -> dict:
    body = {"project": world["project"]["slug"],
            "target": target or {"kind": "character_image", "character": world["character"]["slug"]}, **fields}
    r = await client.post("/team/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def steps(app, settings, session_id: int, n: int | None = None) -> int:
    """Runs up to n turns (all when None), each from the database alone; the number run."""
    ran = 0
    while n is None or ran < n:
        ran += 1
        if not await team.step(app.state.pool, settings, session_id):
            break
    return ran


async def detail(client, session_id: int) -> dict:
    r = await client.get(f"/team/sessions/{session_id}")
    assert r.status_code == 200, r.text
    return r.json()


def spoken(session: dict) -> list[tuple[str, str, int]]:
    return [(m["speaker"], m["phase"], m["round"]) for m in session["messages"]
            if m["speaker"] not in ("system", "user")]
