"""Auto-correction: off by default, a rejected generated image queues one corrected regeneration
with the strategy's overrides (never an upload, never twice, never an image a correction made),
the outcome follows the regeneration, the endpoints check input and roles, and the overrides
reach the submitted workflow."""

from __future__ import annotations

import json

import pytest

from packages.approval import corrections, learning_jobs
from packages.approval.learning_jobs import REFRESH_TASK
from packages.core.db import transaction
from packages.visual_pipeline import builder, recipe
from packages.visual_pipeline.events import GenerationFailed
from tests.factories import make_character, make_project, make_style
from tests.integration.learning_helpers import make_generation, make_image


@pytest.fixture
async def subject(client):
    style = await make_style(client)
    project = await make_project(client, default_style_id=style["id"])
    character = await make_character(client, project, appearance_data={"key_features": ["silver hair"]})
    return style, project, character


async def _switch(client, enabled: bool) -> None:
    r = await client.post("/corrections/toggle", params={"enabled": str(enabled).lower()})
    assert r.status_code == 200 and r.json() == {"enabled": enabled}, r.text


async def _reject(client, image_id: int, reason: str = "blur") -> None:
    r = await client.post(f"/images/{image_id}/reject", json={"reason": reason})
    assert r.status_code == 200, r.text


async def _jobs(db) -> list[dict]:
    rows = await db.fetch("SELECT args FROM procrastinate_jobs WHERE task_name = $1 ORDER BY id", REFRESH_TASK)
    return [r["args"] if isinstance(r["args"], dict) else json.loads(r["args"]) for r in rows]


async def _refresh(db, settings, character) -> None:
    """What the deferred correction:refresh job does for the character."""
    await learning_jobs.refresh(db, settings, character["project_id"], character["id"])


def _json(value):
    return value if isinstance(value, dict) else json.loads(value)


async def test_auto_correction_is_off_by_default(client, db, settings, subject):
    """With the switch off nothing is corrected: the refresh after a rejection queues nothing, and
    correcting the image directly does nothing either."""
    style, _, character = subject
    assert (await client.get("/corrections/settings")).json() == {"enabled": False}
    image = await make_image(db, character, generation_id=await make_generation(db, style, character))
    await _reject(client, image)
    await _refresh(db, settings, character)
    assert await corrections.correct(db, settings, image) is None
    assert await db.fetchval("SELECT count(*) FROM generations") == 1
    assert await db.fetchval("SELECT count(*) FROM corrections") == 0


async def test_a_rejected_generated_image_queues_one_corrected_regeneration(client, db, settings, subject):
    """Rejected for blur: a correction:refresh job is deferred for the character; it records
    fix_blur with the parameters before and after, queues one generation with more steps, the blur
    negatives and seed + 1 (params.correction_of = the image), and emits regeneration.queued.
    Running it again, or correcting the image again, changes nothing."""
    style, project, character = subject
    await _switch(client, True)
    gen = await make_generation(db, style, character, seed=41, extra="smiling")
    image = await make_image(db, character, generation_id=gen)
    await _reject(client, image, "blur")
    assert await _jobs(db) == [{"project_id": project["id"], "character_id": character["id"]}]

    await _refresh(db, settings, character)
    row = await db.fetchrow("SELECT * FROM corrections WHERE image_id = $1", image)
    assert (row["strategy"], row["reason"], row["outcome"]) == ("fix_blur", "blur", "queued")
    before, after = _json(row["params_before"]), _json(row["params_after"])
    assert (before["seed"], before["steps"], before["prompt"]) == (41, 28, "smiling")
    assert after["seed"] == 42 and after["steps"] > 28 and "out of focus" in after["negative_extra"]
    params = _json(await db.fetchval("SELECT params FROM generations WHERE id = $1", row["generation_id"]))
    assert params["correction_of"] == image and params["seed"] == 42 and params["steps"] == after["steps"]
    assert params["negative_extra"] == after["negative_extra"] and params["cfg"] == 6.5
    assert params["width"] == 832 and params["height"] == 1216 and "sharp focus" in params["prompt"]
    queued = await db.fetch("SELECT payload FROM events WHERE type = 'regeneration.queued'")
    assert [_json(e["payload"]) for e in queued] == [{
        "project_id": project["id"], "character_id": character["id"], "image_id": image,
        "generation_id": row["generation_id"], "strategy": "fix_blur"}]

    again = await corrections.correct(db, settings, image)
    assert again["id"] == row["id"] and again["generation_id"] == row["generation_id"]
    await _refresh(db, settings, character)
    assert await db.fetchval("SELECT count(*) FROM generations WHERE params ? 'correction_of'") == 1
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'regeneration.queued'") == 1


async def test_a_crash_after_the_generation_was_created_does_not_queue_a_second(client, db, settings, subject):
    """If the job died after creating the regeneration but before linking it, the retry finds that
    generation by params.correction_of and links it instead of creating another."""
    style, _, character = subject
    await _switch(client, True)
    image = await make_image(db, character, generation_id=await make_generation(db, style, character))
    await _reject(client, image, "not_solo")
    await corrections.correct(db, settings, image)
    await db.execute("UPDATE corrections SET generation_id = NULL WHERE image_id = $1", image)  # the crash
    await _refresh(db, settings, character)
    row = await db.fetchrow("SELECT * FROM corrections WHERE image_id = $1", image)
    assert row["strategy"] == "fix_solo" and row["generation_id"] is not None
    assert await db.fetchval("SELECT count(*) FROM generations WHERE params ? 'correction_of'") == 1


async def test_uploads_and_corrected_images_are_never_corrected(client, db, settings, subject):
    """An upload gets no correction; an image that a correction produced is not corrected again
    (no loops), even when rejected."""
    style, _, character = subject
    await _switch(client, True)
    upload = await make_image(db, character)
    await _reject(client, upload)
    await _refresh(db, settings, character)
    assert await corrections.correct(db, settings, upload) is None
    assert await db.fetchval("SELECT count(*) FROM corrections") == 0

    image = await make_image(db, character, generation_id=await make_generation(db, style, character))
    await _reject(client, image, "wrong_character")
    row = await corrections.correct(db, settings, image)
    assert row["strategy"] == "fix_appearance"
    assert "(silver hair:1.2)" in _json(row["params_after"])["prompt"]
    child = await make_image(db, character, generation_id=row["generation_id"])
    await _reject(client, child, "blur")
    await _refresh(db, settings, character)
    assert await corrections.correct(db, settings, child) is None
    assert await db.fetchval("SELECT count(*) FROM corrections") == 1


async def test_the_outcome_follows_the_regeneration(client, db, settings, subject):
    """The refresh after a decision settles outcomes: the regenerated image approved -> approved
    (and shown in learning); a regeneration that failed -> failed."""
    style, project, character = subject
    await _switch(client, True)
    first = await make_image(db, character, generation_id=await make_generation(db, style, character))
    second = await make_image(db, character, generation_id=await make_generation(db, style, character))
    await _reject(client, first, "blur")
    await _reject(client, second, "anatomy")
    fixed = await corrections.correct(db, settings, first)
    failed = await corrections.correct(db, settings, second)

    child = await make_image(db, character, generation_id=fixed["generation_id"])
    r = await client.post(f"/images/{child}/approve", json={})
    assert r.status_code == 200, r.text
    assert await db.fetchval("SELECT outcome FROM corrections WHERE id = $1", fixed["id"]) == "queued"
    await _refresh(db, settings, character)
    assert await db.fetchval("SELECT outcome FROM corrections WHERE id = $1", fixed["id"]) == "approved"

    await db.execute("UPDATE generations SET status = 'failed' WHERE id = $1", failed["generation_id"])
    async with transaction(db) as tx:
        await tx.emit(GenerationFailed(project_id=project["id"], generation_id=failed["generation_id"],
                                       character_id=character["id"], status="failed", error="boom"))
    assert await _jobs(db) == [{"project_id": project["id"], "character_id": character["id"]}]
    await _refresh(db, settings, character)
    assert await db.fetchval("SELECT outcome FROM corrections WHERE id = $1", failed["id"]) == "failed"

    body = (await client.get(f"/characters/{character['id']}/learning")).json()
    assert body["corrections"] == [
        {"strategy": "fix_blur", "queued": 0, "approved": 1, "rejected": 0, "failed": 0},
        {"strategy": "fix_quality", "queued": 0, "approved": 0, "rejected": 0, "failed": 1}]
    assert {"parameter": "correction_strategy", "value": "fix_blur", "approved": 1, "rejected": 0,
            "rate": 1.0} in body["parameters"]


async def test_images_rejected_before_the_switch_was_on_are_not_corrected(client, db, settings, subject):
    """Turning the switch on does not correct the old rejections: only images rejected since."""
    style, _, character = subject
    old = await make_image(db, character, generation_id=await make_generation(db, style, character))
    await _reject(client, old)
    await _switch(client, True)
    new = await make_image(db, character, generation_id=await make_generation(db, style, character))
    await _reject(client, new)
    await _refresh(db, settings, character)
    assert [r["image_id"] for r in await db.fetch("SELECT image_id FROM corrections")] == [new]


async def test_correction_endpoints_check_roles_and_input(client, client_as, db, settings, subject):
    """The switch needs reviewer (a viewer gets 403 and nothing changes); bad input is a 422
    {detail, code}; the list is a page, newest first, filtered by character."""
    style, project, character = subject
    async with client_as("viewer") as viewer:
        denied = await viewer.post("/corrections/toggle", params={"enabled": "true"})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
        assert (await viewer.get("/corrections/settings")).json() == {"enabled": False}
    async with client_as("reviewer") as reviewer:
        assert (await reviewer.post("/corrections/toggle", params={"enabled": "true"})).json() == {"enabled": True}
    for bad in ({}, {"enabled": "maybe"}):
        r = await client.post("/corrections/toggle", params=bad)
        assert r.status_code == 422 and {"detail", "code"} <= set(r.json())
    assert (await client.get("/corrections/settings")).json() == {"enabled": True}

    other = await make_character(client, project)
    ids = []
    for who in (character, other, character):
        image = await make_image(db, who, generation_id=await make_generation(db, style, who))
        await _reject(client, image)
        ids.append((await corrections.correct(db, settings, image))["id"])
    page = (await client.get("/corrections", params={"character_id": character["id"], "limit": 1})).json()
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [ids[2]]
    item = page["items"][0]
    assert set(item) == {"id", "image_id", "character_id", "strategy", "reason", "params_before", "params_after",
                         "generation_id", "outcome", "created_at"}
    assert (await client.get("/corrections")).json()["total"] == 3
    for bad in ({"character_id": 0}, {"limit": 0}, {"limit": 1000}, {"offset": -1}):
        r = await client.get("/corrections", params=bad)
        assert r.status_code == 422 and {"detail", "code"} <= set(r.json()), bad


async def test_generation_overrides_reach_the_workflow(client, db, settings, subject):
    """steps, cfg and negative_extra given to POST /generations are stored in params and change the
    built workflow's KSampler and negative text; without them the style's values are used."""
    _, _, character = subject
    r = await client.post("/generations", json={"character_id": character["id"], "seed": 5, "steps": 40, "cfg": 8.5,
                                                "negative_extra": "blurry, out of focus", "ip_adapter_weight": 0.9})
    assert r.status_code == 201, r.text
    gen = r.json()[0]
    assert {k: gen["params"][k] for k in ("steps", "cfg", "negative_extra", "ip_adapter_weight")} == {
        "steps": 40, "cfg": 8.5, "negative_extra": "blurry, out of focus", "ip_adapter_weight": 0.9}
    row = await db.fetchrow("SELECT g.*, c.project_id FROM generations g JOIN characters c ON c.id = g.character_id "
                            "WHERE g.id = $1", gen["id"])
    built = (await recipe.build_recipe(db, settings, row, _json(row["params"]))).built.workflow
    sampler = next(n["inputs"] for n in built.values() if n["class_type"] == "KSampler")
    assert (sampler["steps"], sampler["cfg"]) == (40, 8.5)
    negative = built[sampler["negative"][0]]["inputs"]["text"]
    assert negative.startswith("lowres, bad anatomy") and negative.endswith("blurry, out of focus")
    plain = (await client.post("/generations", json={"character_id": character["id"]})).json()[0]
    assert not {"steps", "cfg", "negative_extra", "ip_adapter_weight"} & set(plain["params"])
    bad = await client.post("/generations", json={"character_id": character["id"], "steps": 0})
    assert bad.status_code == 422


def test_the_ip_adapter_weight_override_replaces_the_templates():
    """With reference images, IPAdapterAdvanced takes ip_adapter_weight instead of 0.7."""
    from packages.characters.prompt import build_prompt

    style = {"checkpoint": "m.safetensors", "cfg": 6.5, "steps": 28, "sampler": "euler", "scheduler": "normal",
             "width": 512, "height": 768, "positive_template": "{prompt}", "negative_template": "", "architecture": "sdxl",
             "id": 1, "name": "S"}
    built = builder.build_image_workflow(build_prompt(style, {"design_prompt": "1girl"}), seed=1,
                                         reference_images=["ref.png"], filename_prefix="a/b")
    recipe._set_ip_adapter_weight(built.workflow, 0.9)
    assert [n["inputs"]["weight"] for n in built.workflow.values() if n["class_type"] == "IPAdapterAdvanced"] == [0.9]
