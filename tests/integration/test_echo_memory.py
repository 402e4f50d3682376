"""Project memory on real Qdrant local mode and the real offline MiniLM model: retrieval finds the
right character, only changed rows are embedded again, projects never see each other's memory,
row changes defer the re-embedding job, and a second process cannot open the local store."""

from __future__ import annotations

import subprocess
import sys

import pytest

from packages.echo_integration import embeddings, indexer, memory
from tests.integration.echo_helpers import cast


@pytest.fixture(scope="module", autouse=True)
def minilm():
    """The MiniLM model loads once for the module (seconds on a CPU)."""
    embeddings.warm()


async def search(client, project, query, limit=3):
    r = await client.post("/echo/search", json={"project": project["slug"], "query": query, "limit": limit})
    assert r.status_code == 200, r.text
    return r.json()


async def test_retrieval_returns_the_character_a_question_is_about(client, db, settings):
    """A question about one character's look retrieves that character first, with its UI route."""
    project, people = await cast(client)
    result = await indexer.sync_project(db, settings, project["id"])
    assert result == {"embedded": 4, "removed": 0}  # three characters and the storyline
    top = (await search(client, project, "who wears a blue scarf and controls the wind?"))[0]
    assert (top["kind"], top["id"]) == ("character", people["mio"]["id"])
    assert top["url"] == f"/p/{project['slug']}/characters/mio" and top["title"] == "Mio"
    top = (await search(client, project, "the robot that bakes cakes"))[0]
    assert (top["kind"], top["id"]) == ("character", people["aiko"]["id"])
    top = (await search(client, project, "which character fights with a sword?"))[0]
    assert (top["kind"], top["id"]) == ("character", people["ren"]["id"])


async def test_only_changed_rows_are_embedded_again(client, db, settings):
    """A second sync embeds nothing; an edited character is re-embedded alone; an archived one is removed."""
    project, people = await cast(client)
    await indexer.sync_project(db, settings, project["id"])
    assert await indexer.sync_project(db, settings, project["id"]) == {"embedded": 0, "removed": 0}
    r = await client.patch(f"/characters/{people['ren']['id']}", json={"design_prompt": "a knight who cooks soup"})
    assert r.status_code == 200, r.text
    assert await indexer.sync_project(db, settings, project["id"]) == {"embedded": 1, "removed": 0}
    top = (await search(client, project, "knight cooking soup"))[0]
    assert top["id"] == people["ren"]["id"] and "soup" in top["snippet"]
    r = await client.post(f"/characters/{people['aiko']['id']}/archive")
    assert r.status_code in (200, 204), r.text
    assert await indexer.sync_project(db, settings, project["id"]) == {"embedded": 0, "removed": 1}
    assert all(s["id"] != people["aiko"]["id"] for s in await search(client, project, "robot baking cakes", 10))


async def test_search_never_crosses_projects(client, db, settings):
    """Another project's characters are never retrieved, however close their text."""
    mine, _ = await cast(client)
    other, theirs = await cast(client)
    await indexer.sync_project(db, settings, mine["id"])
    await indexer.sync_project(db, settings, other["id"])
    found = await search(client, mine, "fox girl with a blue scarf", 10)
    assert found and all(s["id"] not in {c["id"] for c in theirs.values()} for s in found if s["kind"] == "character")
    assert await memory.count(settings) == 8


async def test_a_row_change_defers_the_memory_job(client, db):
    """Editing a character queues one echo:sync_memory job for its project (reactions only defer)."""
    project, people = await cast(client)
    await db.execute("DELETE FROM procrastinate_jobs")
    for text in ("first edit", "second edit"):
        r = await client.patch(f"/characters/{people['mio']['id']}", json={"design_prompt": text})
        assert r.status_code == 200, r.text
    jobs = await db.fetch("SELECT task_name, args FROM procrastinate_jobs WHERE status = 'todo'")
    assert [(j["task_name"], j["args"]["project_id"]) for j in jobs] == [("echo:sync_memory", project["id"])]


async def test_reindex_needs_a_director_and_queues_a_rebuild(client, client_as, db):
    """POST /echo/reindex: 202 and a rebuild job for a director; 403 for a reviewer."""
    project, _ = await cast(client)
    async with client_as("reviewer") as reviewer:
        r = await reviewer.post("/echo/reindex", json={"project": project["slug"]})
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post("/echo/reindex", json={"project": project["slug"]})
    assert r.status_code == 202 and r.json() == {"project_id": project["id"], "queued": True}
    assert await db.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'echo:sync_memory' "
                             "AND (args->>'rebuild')::boolean") == 1


async def test_a_second_process_gets_a_clear_error_for_the_local_store(settings):
    """Qdrant local mode is one process per folder: another process is told to set QDRANT_URL."""
    await memory.store(settings)
    code = ("import asyncio, sys\nfrom packages.core.settings import Settings\n"
            "from packages.echo_integration import memory\n"
            f"s = Settings(ANIME_STUDIO_HOME={str(settings.home)!r}, _env_file=None)\n"
            "try:\n    asyncio.run(memory.store(s))\nexcept memory.MemoryUnavailable as e:\n"
            "    print(e.code, e.detail); sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("memory_unavailable") and "QDRANT_URL" in done.stdout


async def test_a_reopened_store_answers_as_before(client, db, settings):
    """Local mode's search mirror is rebuilt from the store after a restart: same answers, and a
    point deleted before the restart stays gone."""
    project, people = await cast(client)
    await indexer.sync_project(db, settings, project["id"])
    before = await search(client, project, "swordsman with a scar", 4)
    await memory.remove(settings, project["id"], [("character", people["aiko"]["id"])])
    await memory.close_all()
    after = await search(client, project, "swordsman with a scar", 4)
    assert after[0] == before[0] and after[0]["id"] == people["ren"]["id"]
    assert [s["id"] for s in after] == [s["id"] for s in before if s["id"] != people["aiko"]["id"]]


async def test_the_in_process_worker_keeps_memory_current(home, database_url):
    """End to end: a new character reaches the memory through event -> deferred job -> worker, with
    no explicit sync; an edit replaces its text."""
    import asyncio

    import httpx

    from packages.core.settings import Settings
    from src.app import create_app
    from tests.conftest import ADMIN_TOKEN

    settings = Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                        ANIME_STUDIO_INPROCESS_WORKER=True, _env_file=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test/api/lora",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        project, people = await cast(client)

        async def top_for(query: str, want: str) -> dict:
            for _ in range(120):
                found = await search(client, project, query, 1)
                if found and want in found[0]["snippet"]:
                    return found[0]
                await asyncio.sleep(0.5)
            raise AssertionError(f"memory never held {want!r}")

        assert (await top_for("fox girl with a blue scarf", "blue scarf"))["id"] == people["mio"]["id"]
        r = await client.patch(f"/characters/{people['mio']['id']}", json={"design_prompt": "fox girl in a red cape"})
        assert r.status_code == 200
        assert (await top_for("fox girl in a red cape", "red cape"))["id"] == people["mio"]["id"]
