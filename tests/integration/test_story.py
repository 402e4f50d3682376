"""Projects, generation styles, storylines and world settings through the API on a real PostgreSQL."""

from tests.factories import make_project, make_style


async def count(db, table: str) -> int:
    return await db.fetchval(f"SELECT count(*) FROM {table}")


async def test_project_crud_round_trip(client, db):
    """A project created through the API reads back with every field, and an update changes only what it names."""
    style = await make_style(client)
    r = await client.post("/projects", json={"name": "Moon Rabbit", "slug": "moon-rabbit", "genre": "fantasy",
                                             "premise": "A rabbit on the moon", "default_style_id": style["id"]})
    assert r.status_code == 201, r.text
    project = r.json()
    assert project["default_style_name"] == style["name"]
    assert project["character_count"] == 0 and project["status"] == "development"
    r = await client.patch(f"/projects/{project['id']}", json={"description": "Season one"})
    assert r.status_code == 200
    assert r.json()["description"] == "Season one" and r.json()["genre"] == "fantasy"
    assert (await client.get("/projects/by-slug/moon-rabbit")).json()["id"] == project["id"]
    listed = (await client.get("/projects", params={"q": "rabbit"})).json()
    assert listed["total"] == 1 and listed["items"][0]["slug"] == "moon-rabbit"


async def test_duplicate_slug_is_409_and_writes_nothing(client, db):
    """A second project with a taken slug is refused with code slug_taken and no row is added."""
    await make_project(client, slug="taken")
    before = await count(db, "projects")
    r = await client.post("/projects", json={"name": "Other", "slug": "taken"})
    assert r.status_code == 409
    assert r.json()["code"] == "slug_taken" and r.json()["field"] == "slug"
    assert await count(db, "projects") == before


async def test_invalid_input_is_422_with_field(client, db):
    """Bad slugs, oversized fields, wrong types and unknown fields are 422 naming the field; nothing is written."""
    bad = [
        {"name": "X", "slug": "Bad Slug"},
        {"name": "X", "slug": "../etc"},
        {"name": "X" * 201, "slug": "ok"},
        {"name": "X", "slug": "ok", "content_rating": "adults-only"},
        {"name": "X", "slug": "ok", "default_style_id": "one"},
        {"name": "X", "slug": "ok", "surprise": True},
    ]
    for body in bad:
        r = await client.post("/projects", json=body)
        assert r.status_code == 422, body
        assert r.json()["code"] == "validation_error" and r.json()["detail"]
    r = await client.post("/projects", json={"name": "X", "slug": "ok", "default_style_id": 999})
    assert r.status_code == 422 and r.json()["code"] == "style_not_found"
    assert await count(db, "projects") == 0


async def test_unknown_ids_are_404(client):
    """Unknown ids answer 404 with a code, never 500."""
    for path in ("/projects/987654", "/styles/987654", "/storylines/987654", "/world-settings/987654",
                 "/projects/by-slug/nope"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"].endswith("not_found")


async def test_archive_hides_and_restore_brings_back_previous_status(client):
    """Archiving hides a project from the default list; restoring returns it with the status it had."""
    project = await make_project(client, status="production")
    r = await client.post(f"/projects/{project['id']}/archive")
    assert r.json()["status"] == "archived"
    assert project["id"] not in [p["id"] for p in (await client.get("/projects")).json()["items"]]
    archived = (await client.get("/projects", params={"status": "archived"})).json()["items"]
    assert [p["id"] for p in archived] == [project["id"]]
    r = await client.post(f"/projects/{project['id']}/restore")
    assert r.json()["status"] == "production"


async def test_style_rules(client):
    """A style needs {prompt} in its positive template, a ComfyUI sampler and sizes in multiples of 8;
    a style a project uses cannot be deleted."""
    r = await client.post("/styles", json={"name": "S", "checkpoint": "a.safetensors", "positive_template": "no slot"})
    assert r.status_code == 422 and r.json()["field"] == "positive_template"
    r = await client.post("/styles", json={"name": "S", "checkpoint": "a.safetensors", "sampler": "warp_drive"})
    assert r.status_code == 422 and r.json()["field"] == "sampler"
    r = await client.post("/styles", json={"name": "S", "checkpoint": "a.safetensors", "width": 500})
    assert r.status_code == 422 and r.json()["field"] == "width"
    style = await make_style(client)
    r = await client.post("/styles", json={"name": style["name"], "checkpoint": "b.safetensors"})
    assert r.status_code == 409 and r.json()["code"] == "name_taken"
    await make_project(client, default_style_id=style["id"])
    r = await client.delete(f"/styles/{style['id']}")
    assert r.status_code == 409 and r.json()["code"] == "style_in_use"
    options = (await client.get("/styles/options")).json()
    assert "euler_ancestral" in options["samplers"] and "karras" in options["schedulers"]


async def test_storyline_and_world_settings(client):
    """Storylines keep their arcs; world settings are one per project and a partial save keeps other fields."""
    project = await make_project(client)
    r = await client.post("/storylines", json={"project_id": project["id"], "title": "Arc One", "tone": "wistful",
                                               "arcs": [{"title": "Departure", "summary": "She leaves home"}]})
    assert r.status_code == 201
    storyline = r.json()
    assert storyline["arcs"][0]["title"] == "Departure"
    r = await client.patch(f"/storylines/{storyline['id']}", json={"summary": "Longer"})
    assert r.json()["arcs"] == storyline["arcs"] and r.json()["summary"] == "Longer"
    r = await client.post("/storylines", json={"project_id": 424242, "title": "Lost"})
    assert r.status_code == 422 and r.json()["code"] == "project_not_found"

    empty = (await client.get(f"/world-settings/{project['id']}")).json()
    assert empty["id"] is None and empty["palettes"] == []
    r = await client.put(f"/world-settings/{project['id']}", json={
        "art_direction": "watercolour", "palettes": [{"name": "Dusk", "colors": ["#112233", "#ffaa00"]}]})
    assert r.status_code == 200 and r.json()["id"]
    r = await client.put(f"/world-settings/{project['id']}", json={"cinematography": "long lenses"})
    saved = r.json()
    assert saved["art_direction"] == "watercolour" and saved["cinematography"] == "long lenses"
    assert saved["palettes"][0]["colors"] == ["#112233", "#ffaa00"]
    r = await client.put(f"/world-settings/{project['id']}", json={"palettes": [{"name": "Bad", "colors": ["red"]}]})
    assert r.status_code == 422
    assert (await client.delete(f"/storylines/{storyline['id']}")).status_code == 204


async def test_writes_emit_stored_events(client, db):
    """Every write stores an event named domain.action with the project id, committed with the change."""
    project = await make_project(client)
    await client.patch(f"/projects/{project['id']}", json={"genre": "drama"})
    await client.post("/projects", json={"name": "Dup", "slug": project["slug"]})  # refused: no event
    rows = await db.fetch("SELECT type, project_id, payload FROM events ORDER BY id")
    assert [r["type"] for r in rows] == ["project.created", "project.updated"]
    assert all(r["project_id"] == project["id"] for r in rows)
    assert rows[0]["payload"]["project_id"] == project["id"]


async def test_huge_json_body_is_413_and_writes_nothing(client, db):
    """A JSON body over the 1 MiB cap is refused with 413 too_large before it is parsed."""
    r = await client.post("/projects", content=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "slug": "big"}',
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert await count(db, "projects") == 0


async def test_project_event_history_includes_studio_wide_events(client):
    """A project's event history (and stream) carries its own events and studio-wide ones such as
    style changes, but not another project's."""
    mine, other = await make_project(client), await make_project(client)
    await make_style(client)
    await client.patch(f"/projects/{other['id']}", json={"genre": "x"})
    types = [e["type"] for e in (await client.get("/events", params={"project_id": mine["id"]})).json()["items"]]
    assert types == ["project.created", "style.created"]
