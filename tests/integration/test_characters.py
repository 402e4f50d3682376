"""Characters over HTTP: CRUD, validation, roles, archive/restore, events and the prompt."""

from __future__ import annotations

import pytest

from tests.factories import make_character, make_project, make_style


async def _count(db, sql: str, *args) -> int:
    return await db.fetchval(sql, *args)


async def test_create_get_list_and_update_a_character(client):
    """A director creates a character, reads it back, finds it in its project's list and edits it."""
    project = await make_project(client)
    r = await client.post("/characters", json={
        "project_id": project["id"], "name": "  Yuki  ", "slug": "yuki", "design_prompt": "1girl, silver hair",
        "appearance_data": {"species": "human", "gender": "female", "key_colors": ["silver", "red"],
                            "key_features": ["scar on left cheek"], "common_errors": ["blue eyes"]},
        "voice": "soft alto"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "Yuki" and created["slug"] == "yuki" and created["archived"] is False
    assert created["appearance_data"]["key_colors"] == ["silver", "red"]
    assert created["reference_count"] == 0 and created["cover_url"] is None and created["lora_id"] is None
    assert created["created_at"] and created["updated_at"]

    r = await client.get(f"/characters/{created['id']}")
    assert r.status_code == 200 and r.json() == created

    r = await client.patch(f"/characters/{created['id']}", json={
        "name": "Yuki Sato", "appearance_data": {"species": "kitsune, NOT human"}, "voice": None})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["name"] == "Yuki Sato" and updated["voice"] is None and updated["slug"] == "yuki"
    # appearance keys not sent are kept
    assert updated["appearance_data"]["species"] == "kitsune, NOT human"
    assert updated["appearance_data"]["key_colors"] == ["silver", "red"]
    assert updated["design_prompt"] == "1girl, silver hair"

    r = await client.get("/characters", params={"project_id": project["id"]})
    assert r.status_code == 200
    assert r.json() == {"items": [updated], "total": 1}


async def test_list_filters_orders_and_paginates(client):
    """The list is per project, ordered by lower(name) then id, filtered by q and the archived flag."""
    project, other = await make_project(client), await make_project(client)
    for name in ("bravo", "Alpha", "charlie", "alpha two"):
        await make_character(client, project, name=name)
    await make_character(client, other, name="Alpha elsewhere")

    r = await client.get("/characters", params={"project_id": project["id"]})
    assert [c["name"] for c in r.json()["items"]] == ["Alpha", "alpha two", "bravo", "charlie"]
    r = await client.get("/characters", params={"project_id": project["id"], "limit": 2, "offset": 1})
    assert r.json()["total"] == 4 and [c["name"] for c in r.json()["items"]] == ["alpha two", "bravo"]
    r = await client.get("/characters", params={"project_id": project["id"], "q": "ALPHA"})
    assert [c["name"] for c in r.json()["items"]] == ["Alpha", "alpha two"] and r.json()["total"] == 2
    r = await client.get("/characters", params={"project_id": project["id"], "q": "%"})
    assert r.json()["total"] == 0  # q is plain text, not a LIKE pattern


async def test_project_id_is_required_to_list(client):
    """Listing without project_id is a 422, not every character of every project."""
    r = await client.get("/characters")
    assert r.status_code == 422 and r.json()["field"] == "project_id"


async def test_duplicate_slug_is_409_and_writes_nothing(client, db):
    """A slug already used in the project is 409 slug_taken; no row and no event are written."""
    project = await make_project(client)
    await make_character(client, project, slug="yuki")
    characters = await _count(db, "SELECT count(*) FROM characters")
    events = await _count(db, "SELECT count(*) FROM events")
    r = await client.post("/characters", json={"project_id": project["id"], "name": "Other", "slug": "yuki"})
    assert r.status_code == 409
    assert r.json()["code"] == "slug_taken" and r.json()["field"] == "slug"
    assert await _count(db, "SELECT count(*) FROM characters") == characters
    assert await _count(db, "SELECT count(*) FROM events") == events
    # the same slug in another project is fine
    await make_character(client, await make_project(client), slug="yuki")


@pytest.mark.parametrize("slug", ["Yuki", "-yuki", "yu ki", "../x", "yuki_sato", "a" * 64, ""])
async def test_invalid_slug_is_422(client, slug):
    """A slug must match ^[a-z0-9][a-z0-9-]{0,62}$ because it names a folder."""
    project = await make_project(client)
    r = await client.post("/characters", json={"project_id": project["id"], "name": "X", "slug": slug})
    assert r.status_code == 422 and r.json()["field"] == "slug"


async def test_unknown_project_is_422_project_not_found(client, db):
    """Creating a character in a project that does not exist is 422 project_not_found on project_id."""
    r = await client.post("/characters", json={"project_id": 999999, "name": "X", "slug": "x"})
    assert r.status_code == 422
    assert r.json()["code"] == "project_not_found" and r.json()["field"] == "project_id"
    assert await _count(db, "SELECT count(*) FROM characters") == 0


@pytest.mark.parametrize(("field", "body"), [
    ("name", {"name": ""}),
    ("name", {"name": "   "}),
    ("name", {"name": "x" * 201}),
    ("design_prompt", {"design_prompt": "x" * 4001}),
    ("species", {"appearance_data": {"species": "x" * 101}}),
    ("gender", {"appearance_data": {"gender": "x" * 101}}),
    ("key_colors", {"appearance_data": {"key_colors": ["red"] * 51}}),
    ("1", {"appearance_data": {"common_errors": ["ok", "x" * 201]}}),
    ("colour", {"appearance_data": {"colour": "red"}}),
])
async def test_oversized_or_unknown_fields_are_422_on_create_and_update(client, db, field, body):
    """Field limits (name 1..200, design_prompt <= 4000, species/gender <= 100, lists <= 50 items of
    <= 200 chars, no unknown appearance keys) hold on create and on patch, and nothing changes."""
    project = await make_project(client)
    r = await client.post("/characters", json={"project_id": project["id"], "name": "Ok", "slug": "ok", **body})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["code"] == "validation_error"
    character = await make_character(client, project)
    r = await client.patch(f"/characters/{character['id']}", json=body)
    assert r.status_code == 422, r.text
    assert (await client.get(f"/characters/{character['id']}")).json() == character


@pytest.mark.parametrize("body", [{"slug": "new-slug"}, {"project_id": 1}, {"nickname": "x"}, {"name": None},
                                  {"appearance_data": None}, {"appearance_data": {"species": None}}])
async def test_patch_rejects_slug_unknown_fields_and_nulls(client, body):
    """The slug and project are immutable, unknown fields are refused and non-nullable fields
    cannot be nulled: 422, nothing changed."""
    character = await make_character(client, await make_project(client))
    r = await client.patch(f"/characters/{character['id']}", json=body)
    assert r.status_code == 422, r.text
    assert (await client.get(f"/characters/{character['id']}")).json() == character


async def test_unknown_character_is_404(client):
    """A missing character is a 404 with a code; an id beyond bigint is a 422, never a 500."""
    r = await client.get("/characters/424242")
    assert r.status_code == 404 and r.json()["code"] == "character_not_found"
    assert (await client.patch("/characters/424242", json={"name": "x"})).status_code == 404
    assert (await client.get(f"/characters/{2**63}")).status_code == 422
    assert (await client.get("/reference-images/424242/file")).status_code == 404


async def test_viewer_reads_but_cannot_write(client, client_as, db):
    """Reads need a viewer token; every write needs director (403 for a viewer, nothing written)."""
    project = await make_project(client)
    character = await make_character(client, project)
    before = await _count(db, "SELECT count(*) FROM events")
    async with client_as("viewer") as viewer:
        assert (await viewer.get(f"/characters/{character['id']}")).status_code == 200
        assert (await viewer.get("/characters", params={"project_id": project["id"]})).status_code == 200
        writes = [
            viewer.post("/characters", json={"project_id": project["id"], "name": "V", "slug": "v"}),
            viewer.patch(f"/characters/{character['id']}", json={"name": "changed"}),
            viewer.post(f"/characters/{character['id']}/archive"),
            viewer.post(f"/characters/{character['id']}/restore"),
            viewer.post(f"/characters/{character['id']}/reference-images",
                        files={"files": ("a.png", b"x", "image/png")}),
            viewer.delete(f"/characters/{character['id']}/reference-images/1"),
        ]
        for write in writes:
            r = await write
            assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert (await client.get(f"/characters/{character['id']}")).json() == character
    assert await _count(db, "SELECT count(*) FROM events") == before
    async with client_as("director") as director:
        r = await director.patch(f"/characters/{character['id']}", json={"name": "changed"})
        assert r.status_code == 200


async def test_no_token_is_401(client, anon):
    """Without a token every characters route is 401, reads included."""
    character = await make_character(client, await make_project(client))
    for r in [await anon.get("/characters", params={"project_id": character["project_id"]}),
              await anon.get(f"/characters/{character['id']}"),
              await anon.get(f"/characters/{character['id']}/prompt"),
              await anon.get(f"/characters/{character['id']}/reference-images"),
              await anon.get("/reference-images/1/file"),
              await anon.post("/characters", json={"project_id": 1, "name": "x", "slug": "x"})]:
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"


async def test_archive_hides_and_restore_brings_back(client, db):
    """Archiving hides a character from the default list (visible with archived=true); restoring
    brings it back; repeating either changes nothing and emits nothing more."""
    project = await make_project(client)
    character = await make_character(client, project)
    r = await client.post(f"/characters/{character['id']}/archive")
    assert r.status_code == 200 and r.json()["archived"] is True
    assert (await client.get("/characters", params={"project_id": project["id"]})).json()["total"] == 0
    r = await client.get("/characters", params={"project_id": project["id"], "archived": True})
    assert [c["id"] for c in r.json()["items"]] == [character["id"]]
    assert (await client.post(f"/characters/{character['id']}/archive")).json()["archived"] is True
    r = await client.post(f"/characters/{character['id']}/restore")
    assert r.status_code == 200 and r.json()["archived"] is False
    assert (await client.get("/characters", params={"project_id": project["id"]})).json()["total"] == 1
    types = [r["type"] for r in await db.fetch(
        "SELECT type FROM events WHERE payload->>'character_id' = $1 ORDER BY id", str(character["id"]))]
    assert types == ["character.created", "character.archived", "character.restored"]


async def test_create_and_update_are_stored_as_events(client, db):
    """character.created and character.updated are stored with the character and project ids."""
    project = await make_project(client)
    character = await make_character(client, project)
    await client.patch(f"/characters/{character['id']}", json={"design_prompt": "1boy"})
    rows = await db.fetch("SELECT type, project_id, payload FROM events WHERE type LIKE 'character.%' ORDER BY id")
    assert [(r["type"], r["project_id"]) for r in rows] == [
        ("character.created", project["id"]), ("character.updated", project["id"])]
    for row in rows:
        assert row["payload"] == {"project_id": project["id"], "character_id": character["id"]}
    r = await client.get("/events", params={"project_id": project["id"]})
    assert "character.updated" in [e["type"] for e in r.json()["items"]]


async def _project_with_style(client, **style_fields) -> dict:
    style = await make_style(client, positive_template="masterpiece, {prompt}, anime screencap",
                             negative_template="lowres, bad hands", **style_fields)
    return await make_project(client, default_style_id=style["id"])


async def test_prompt_for_a_human_character(client):
    """A human character's prompt is the style template around its design prompt plus quality
    tags; its negatives are the style's and its common_errors, with no human-body terms."""
    project = await _project_with_style(client)
    character = await make_character(client, project, design_prompt="1girl, red scarf",
                                     appearance_data={"species": "human", "common_errors": ["blue scarf"]})
    r = await client.get(f"/characters/{character['id']}/prompt")
    assert r.status_code == 200, r.text
    prompt = r.json()
    assert prompt["positive"] == "masterpiece, 1girl, red scarf, anime screencap, best quality"
    assert prompt["negative"] == "lowres, bad hands, blue scarf"
    assert prompt["trigger"] is None and prompt["checkpoint"] == "animagine-xl-3.1.safetensors"
    assert (prompt["cfg"], prompt["steps"], prompt["width"], prompt["height"]) == (6.5, 28, 832, 1216)
    assert prompt["parts"] == {
        "style_positive": "masterpiece, {prompt}, anime screencap", "design_prompt": "1girl, red scarf",
        "quality_tags": "best quality", "style_negative": "lowres, bad hands", "character_negative": "blue scarf"}


async def test_prompt_shows_the_active_lora_trigger_as_generation_adds_it(client, db):
    """With an active LoRA of the style's architecture, the built prompt ends with its trigger (what
    generation sends); a LoRA of another architecture is not applied, so no trigger."""
    project = await _project_with_style(client)
    character = await make_character(client, project, design_prompt="1girl, red scarf")
    style_arch = (await client.get(f"/characters/{character['id']}/prompt")).json()["architecture"]
    other_arch = "sd15" if style_arch == "sdxl" else "sdxl"
    for arch, trigger in ((other_arch, None), (style_arch, "aiko_v1")):
        lora_id = await db.fetchval(
            "INSERT INTO loras (character_id, name, path, trigger, architecture, rank, alpha) "
            "VALUES ($1, 'a.safetensors', 'output/loras/a.safetensors', 'aiko_v1', $2, 4, 4) RETURNING id",
            character["id"], arch)
        await db.execute("UPDATE characters SET lora_id = $2 WHERE id = $1", character["id"], lora_id)
        prompt = (await client.get(f"/characters/{character['id']}/prompt")).json()
        assert prompt["trigger"] == trigger
        assert prompt["positive"].endswith(", aiko_v1") == (trigger is not None)


async def test_prompt_for_a_not_human_character_adds_human_body_negatives(client):
    """A species containing NOT human adds human-body negatives; common_errors stay verbatim."""
    project = await _project_with_style(client)
    errors = ["tail on the wrong side, two tails", "(human ears:1.4)"]
    character = await make_character(client, project, appearance_data={
        "species": "Fox spirit (not human)", "common_errors": errors})
    negative = (await client.get(f"/characters/{character['id']}/prompt")).json()["negative"]
    assert negative.startswith("lowres, bad hands, human, human skin, human face, human hands, humanoid body")
    for entry in errors:
        assert entry in negative


async def test_prompt_without_a_default_style_is_409(client, client_as):
    """A project without a default style has no prompt: 409 no_style (viewers may ask)."""
    character = await make_character(client, await make_project(client))
    async with client_as("viewer") as viewer:
        r = await viewer.get(f"/characters/{character['id']}/prompt")
    assert r.status_code == 409 and r.json()["code"] == "no_style"


async def test_character_by_slug_is_scoped_to_its_project(client):
    """A character is found by slug within its project only; elsewhere it is 404."""
    first, second = await make_project(client), await make_project(client)
    character = await make_character(client, first, slug="mio")
    r = await client.get("/characters/by-slug/mio", params={"project_id": first["id"]})
    assert r.status_code == 200 and r.json()["id"] == character["id"]
    r = await client.get("/characters/by-slug/mio", params={"project_id": second["id"]})
    assert r.status_code == 404 and r.json()["code"] == "character_not_found"
