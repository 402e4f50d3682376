"""Story-to-Scenes against the Ollama protocol double: the storyline, world and characters go out
with a JSON schema as `format`; a valid answer becomes editable draft scenes with their shots; an
invalid answer is asked again, then reported (502) with nothing saved; no server is 409 or 503."""

from __future__ import annotations

import pytest

from packages.core.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.doubles.ollama import OllamaDouble
from tests.factories import make_character, make_project
from tests.live import free_port

STORY_MODEL = "llama3.1:latest"


@pytest.fixture
def ollama_double():
    with OllamaDouble(models={STORY_MODEL: ["completion"]}) as double:
        yield double


@pytest.fixture
def settings(home, database_url, ollama_double):
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, OLLAMA_HOST=ollama_double.url, _env_file=None)


def shot(kind="medium", text="Mio looks at the sky", speaker="", line=""):
    return {"shot_type": kind, "description": text, "motion_prompt": "slow push-in", "duration_s": 3,
            "dialogue_character": speaker, "dialogue_text": line}


def scene(title, shots):
    return {"title": title, "description": f"{title} happens", "location": "school roof", "time_of_day": "dusk",
            "weather": "clear", "mood": "wistful", "shots": shots}


GOOD = {"scenes": [scene("Arrival", [shot("establishing", "the town at dusk"), shot(speaker="Mio", line="Hello.")]),
                   scene("Meeting", [shot(), shot("close-up", "Mio smiles"), shot("action", "Mio runs")]),
                   scene("Farewell", [shot("wide", "the roof, empty"), shot(speaker="Nobody", line="...")])]}


async def story_project(client):
    project = await make_project(client, premise="A girl who can hear the wind")
    mio = await make_character(client, project, name="Mio")
    r = await client.post("/storylines", json={"project_id": project["id"], "title": "Wind", "summary": "Mio follows the wind"})
    assert r.status_code == 201, r.text
    return project, mio


async def test_a_valid_answer_becomes_draft_scenes(client, ollama_double):
    """3 scenes with their shots are saved in order as drafts; the prompt carried the storyline and the
    characters, and the schema was Ollama's `format`; a named speaker and present characters are linked."""
    project, mio = await story_project(client)
    ollama_double.answer = lambda request: GOOD
    r = await client.post("/scenes/generate-from-story", json={"project_id": project["id"]})
    assert r.status_code == 201, r.text
    scenes = r.json()
    assert [s["title"] for s in scenes] == ["Arrival", "Meeting", "Farewell"]
    assert all(s["status"] == "draft" for s in scenes) and [len(s["shots"]) for s in scenes] == [2, 3, 2]
    first = scenes[0]["shots"][1]
    assert first["dialogue_character_id"] == mio["id"] and first["dialogue_text"] == "Hello."
    assert first["character_ids"] == [mio["id"]] and first["motion_prompt"] == "slow push-in"
    assert scenes[2]["shots"][1]["dialogue_character_id"] is None  # an unknown speaker is not invented
    assert scenes[0]["target_duration_s"] == 6
    chat = ollama_double.chats[-1]
    assert chat["model"] == STORY_MODEL.removesuffix(":latest") or chat["model"] == STORY_MODEL
    assert chat["format"]["properties"]["scenes"]["minItems"] == 3
    assert "Mio follows the wind" in chat["messages"][0]["content"] and "Mio" in chat["messages"][0]["content"]
    listed = (await client.get("/scenes", params={"project_id": project["id"]})).json()
    assert listed["total"] == 3


async def test_invalid_answers_are_retried_then_reported(client, ollama_double):
    """Two unusable answers then a valid one: saved. Always unusable: 502 story_invalid_answer after
    3 tries, and no scene is saved."""
    project, _ = await story_project(client)
    ollama_double.garbage_next = 2
    ollama_double.answer = lambda request: GOOD
    r = await client.post("/scenes/generate-from-story", json={"project_id": project["id"]})
    assert r.status_code == 201 and len(ollama_double.chats) == 3
    too_few = {"scenes": GOOD["scenes"][:2]}
    ollama_double.answer = lambda request: too_few
    r = await client.post("/scenes/generate-from-story", json={"project_id": project["id"]})
    assert r.status_code == 502 and r.json()["code"] == "story_invalid_answer"
    assert len(ollama_double.chats) == 6
    assert (await client.get("/scenes", params={"project_id": project["id"]})).json()["total"] == 3


async def test_missing_model_and_no_story(client, ollama_double):
    """A model Ollama does not have is 502 story_model_missing; a project without storyline or premise is
    409 no_story (nothing asked)."""
    project, _ = await story_project(client)
    ollama_double.models = {"other:latest": ["completion"]}
    r = await client.post("/scenes/generate-from-story", json={"project_id": project["id"]})
    assert r.status_code == 502 and r.json()["code"] == "story_model_missing"
    bare = await make_project(client)
    r = await client.post("/scenes/generate-from-story", json={"project_id": bare["id"]})
    assert r.status_code == 409 and r.json()["code"] == "no_story"


@pytest.mark.parametrize("host, status, code", [(None, 409, "ollama_not_configured"),
                                                ("unreachable", 503, "ollama_unreachable")])
async def test_no_ollama_is_a_clear_error(home, database_url, host, status, code):
    """OLLAMA_HOST unset: 409; set but nothing listening: 503 — both say what to do."""
    import httpx

    from src.app import create_app

    url = f"http://127.0.0.1:{free_port()}" if host else None
    app = create_app(Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                              ANIME_STUDIO_INPROCESS_WORKER=False, OLLAMA_HOST=url, _env_file=None))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test/api/lora",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            project, _ = await story_project(client)
            r = await client.post("/scenes/generate-from-story", json={"project_id": project["id"]})
            assert r.status_code == status and r.json()["code"] == code, r.text
