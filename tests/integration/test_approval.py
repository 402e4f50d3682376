"""The review queue: human decisions recorded once each, kohya caption files and
approval_status.json kept in step, undo, roles, filters and order, bulk, quality gates, summary."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.factories import make_character, make_project

_n = itertools.count(1)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (next(_n) % 256, 80, 160)).save(buffer, "PNG")
    return buffer.getvalue()


async def make_image(db, home: Path, project: dict, character: dict, *, status: str = "pending",
                     source: str = "generated", caption: str | None = None, scores: dict | None = None,
                     verdict: str | None = None) -> int:
    """A dataset image: a small PNG in the character's folder (kohya layout) and its row."""
    n = next(_n)
    relative = f"datasets/{project['slug']}/{character['slug']}/images/img{n:05d}.png"
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _png()
    path.write_bytes(data)
    return await db.fetchval(
        "INSERT INTO images (character_id, path, sha256, width, height, source, status, caption, scores, "
        "model_verdict) "
        "VALUES ($1, $2, $3, 8, 8, $4, $5, $6, $7, $8) RETURNING id",
        character["id"], relative, f"{n:064x}", source, status, caption, scores, verdict)


async def image_path(db, home: Path, image_id: int) -> Path:
    return home / await db.fetchval("SELECT path FROM images WHERE id = $1", image_id)


def status_file(home: Path, project: dict, character: dict) -> dict:
    return json.loads((home / "datasets" / project["slug"] / character["slug"] / "approval_status.json").read_text())


@pytest.fixture
async def dataset(client):
    project = await make_project(client)
    character = await make_character(client, project, design_prompt="1girl, silver hair, red eyes")
    return project, character


async def test_approve_writes_caption_beside_the_file_and_lists_it(client, db, home, dataset):
    """Approving records one human review, writes `<name>.txt` beside the image with the given
    caption, and approval_status.json lists the image as approved."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    r = await client.post(f"/images/{image_id}/approve", json={"caption": "aiko, silver hair, smiling"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["caption"] == "aiko, silver hair, smiling"
    assert body["last_review"]["decision"] == "approved" and body["last_review"]["reviewer"] == "human"
    txt = (await image_path(db, home, image_id)).with_suffix(".txt")
    assert txt.read_text().strip() == "aiko, silver hair, smiling"
    listed = status_file(home, project, character)
    assert listed["counts"] == {"pending": 0, "approved": 1, "rejected": 0}
    assert listed["images"][0]["id"] == image_id and listed["images"][0]["status"] == "approved"
    assert listed["images"][0]["file"] == f"images/{txt.with_suffix('.png').name}"
    reviews = await db.fetch("SELECT reviewer, user_name, decision, previous_status FROM reviews WHERE image_id = $1",
                             image_id)
    assert [dict(r) for r in reviews] == [{"reviewer": "human", "user_name": "admin", "decision": "approved",
                                           "previous_status": "pending"}]


async def test_caption_falls_back_to_image_caption_then_design_prompt(client, db, home, dataset):
    """Without a given caption the .txt holds the image's caption, else the character's design prompt."""
    project, character = dataset
    with_caption = await make_image(db, home, project, character, caption="stored caption")
    without = await make_image(db, home, project, character)
    for image_id in (with_caption, without):
        assert (await client.post(f"/images/{image_id}/approve")).status_code == 200
    assert (await image_path(db, home, with_caption)).with_suffix(".txt").read_text().strip() == "stored caption"
    assert ((await image_path(db, home, without)).with_suffix(".txt").read_text().strip()
            == "1girl, silver hair, red eyes")


async def test_reject_removes_the_caption_and_records_the_reason(client, db, home, dataset):
    """Rejecting an approved image removes its .txt; the reason and note are stored on the review."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    txt = (await image_path(db, home, image_id)).with_suffix(".txt")
    assert (await client.post(f"/images/{image_id}/approve")).status_code == 200
    assert txt.exists()
    r = await client.post(f"/images/{image_id}/reject", json={"reason": "anatomy", "note": "six fingers"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected" and r.json()["last_review"]["reason"] == "anatomy"
    assert not txt.exists()
    assert status_file(home, project, character)["images"][0]["reason"] == "anatomy"
    row = await db.fetchrow("SELECT reason, note, previous_status FROM reviews WHERE image_id = $1 ORDER BY id DESC "
                            "LIMIT 1", image_id)
    assert dict(row) == {"reason": "anatomy", "note": "six fingers", "previous_status": "approved"}


async def test_undo_restores_previous_status_and_caption_file(client, db, home, dataset):
    """Undo reverts the last human decision (status and .txt); again reverts the one before; then 409."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    txt = (await image_path(db, home, image_id)).with_suffix(".txt")
    await client.post(f"/images/{image_id}/approve")
    await client.post(f"/images/{image_id}/reject", json={"reason": "blur"})
    assert not txt.exists()

    r = await client.post(f"/images/{image_id}/undo")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and txt.exists()
    assert status_file(home, project, character)["images"][0]["status"] == "approved"

    r = await client.post(f"/images/{image_id}/undo")
    assert r.json()["status"] == "pending" and not txt.exists()

    r = await client.post(f"/images/{image_id}/undo")
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_undo"
    decisions = await db.fetch("SELECT decision FROM reviews WHERE image_id = $1 ORDER BY id", image_id)
    assert [d["decision"] for d in decisions] == ["approved", "rejected", "undone", "undone"]


async def test_events_one_feedback_per_human_decision(client, db, home, dataset):
    """image.approved / image.rejected carry ids and the project; one feedback.recorded per human decision."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    await client.post(f"/images/{image_id}/approve")
    await client.post(f"/images/{image_id}/reject", json={"reason": "not_solo"})
    rows = await db.fetch("SELECT type, project_id, payload FROM events WHERE type IN "
                          "('image.approved', 'image.rejected', 'feedback.recorded') ORDER BY id")
    assert [r["type"] for r in rows] == ["image.approved", "feedback.recorded", "image.rejected", "feedback.recorded"]
    assert all(r["project_id"] == project["id"] for r in rows)
    assert rows[2]["payload"]["reason"] == "not_solo" and rows[2]["payload"]["image_id"] == image_id
    feedback = rows[3]["payload"]
    assert (feedback["image_id"], feedback["character_id"], feedback["decision"], feedback["reason"]) == (
        image_id, character["id"], "rejected", "not_solo")


async def test_bad_input(client, db, home, dataset):
    """Unknown image 404; unknown reason 422; deciding twice the same way 409; nothing is recorded."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    r = await client.post("/images/999999/approve")
    assert r.status_code == 404 and r.json()["code"] == "image_not_found"
    r = await client.post(f"/images/{image_id}/reject", json={"reason": "ugly"})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = await client.post(f"/images/{image_id}/approve", json={"caption": "x" * 1001})
    assert r.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM reviews") == 0
    await client.post(f"/images/{image_id}/approve")
    r = await client.post(f"/images/{image_id}/approve")
    assert r.status_code == 409 and r.json()["code"] == "already_approved"
    assert await db.fetchval("SELECT count(*) FROM reviews") == 1
    r = await client.get("/images")
    assert r.status_code == 422


async def test_decision_on_archived_character_is_allowed(client, db, home, dataset):
    """An image of an archived character can still be decided."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    assert (await client.post(f"/characters/{character['id']}/archive")).status_code == 200
    r = await client.post(f"/images/{image_id}/reject", json={"reason": "style"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"


async def test_reviewer_can_decide_viewer_cannot(client_as, db, home, client, dataset):
    """A reviewer's decision is recorded under their name; a viewer reads but gets 403 on decisions."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    async with client_as("viewer") as viewer:
        assert (await viewer.get(f"/images/{image_id}")).status_code == 200
        r = await viewer.post(f"/images/{image_id}/approve")
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert (await viewer.post("/images/bulk", json={"ids": [image_id], "action": "approve"})).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM reviews") == 0
    async with client_as("reviewer") as reviewer:
        r = await reviewer.post(f"/images/{image_id}/approve")
        assert r.status_code == 200, r.text
    assert await db.fetchval("SELECT user_name FROM reviews WHERE image_id = $1", image_id) == "reviewer-user"


async def test_filters_and_review_order(client, db, home, dataset):
    """Filters by project, character, status, source, score and verdict; pending oldest first, else newest first."""
    project, character = dataset
    other = await make_character(client, project)
    a = await make_image(db, home, project, character, scores={"quality": 0.9}, verdict="approve")
    b = await make_image(db, home, project, character, source="upload", scores={"quality": 0.3}, verdict="reject")
    c = await make_image(db, home, project, other)
    d = await make_image(db, home, project, character, status="approved")
    e = await make_image(db, home, project, character, status="approved")

    async def ids(**params):
        r = await client.get("/images", params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids(project_id=project["id"], status="pending") == [a, b, c]
    assert await ids(project_id=project["id"], status="approved") == [e, d]
    assert await ids(project_id=project["id"]) == [e, d, c, b, a]
    assert await ids(character_id=other["id"]) == [c]
    assert await ids(project_id=project["id"], source="upload") == [b]
    assert await ids(project_id=project["id"], min_score=0.5) == [a]
    assert await ids(project_id=project["id"], max_score=0.5) == [b]
    assert await ids(project_id=project["id"], verdict="reject") == [b]
    assert await ids(character_id=character["id"], verdict="none", status="pending") == []
    r = await client.get("/images", params={"project_id": project["id"], "status": "pending", "limit": 2})
    assert r.json()["total"] == 3 and len(r.json()["items"]) == 2
    item = r.json()["items"][0]
    assert (item["character_name"], item["character_slug"], item["project_id"]) == (
        character["name"], character["slug"], project["id"])
    assert item["scores"]["quality"] == 0.9 and item["model_verdict"] == "approve"
    assert item["file_url"] == f"images/{a}/file"
    assert (await client.get("/images", params={"project_id": project["id"], "status": "maybe"})).status_code == 422


async def test_image_file_and_thumbnail_fallback(client, db, home, dataset):
    """The file is served; without a thumbnail the thumbnail route serves the file."""
    project, character = dataset
    image_id = await make_image(db, home, project, character)
    r = await client.get(f"/images/{image_id}/file")
    assert r.status_code == 200 and r.content == (await image_path(db, home, image_id)).read_bytes()
    r = await client.get(f"/images/{image_id}/thumbnail")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert (await client.get("/images/424242/file")).status_code == 404


async def test_bulk_is_all_or_nothing(client, db, home, dataset):
    """Bulk approve decides each image once (already approved ones untouched); an unknown id changes
    nothing; bulk reject needs a reason."""
    project, character = dataset
    ids = [await make_image(db, home, project, character) for _ in range(3)]
    r = await client.post("/images/bulk", json={"ids": [*ids, 999999], "action": "approve"})
    assert r.status_code == 404
    assert await db.fetchval("SELECT count(*) FROM reviews") == 0
    assert (await client.post(f"/images/{ids[0]}/approve")).status_code == 200
    r = await client.post("/images/bulk", json={"ids": ids, "action": "approve"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 3 and {i["status"] for i in r.json()["items"]} == {"approved"}
    assert await db.fetchval("SELECT count(*) FROM reviews") == 3
    assert status_file(home, project, character)["counts"]["approved"] == 3
    for image_id in ids:
        assert (await image_path(db, home, image_id)).with_suffix(".txt").exists()
    r = await client.post("/images/bulk", json={"ids": ids, "action": "reject"})
    assert r.status_code == 422
    r = await client.post("/images/bulk", json={"ids": ids, "action": "reject", "reason": "blur"})
    assert {i["status"] for i in r.json()["items"]} == {"rejected"}
    paths = [await image_path(db, home, i) for i in ids]
    assert not any(p.with_suffix(".txt").exists() for p in paths)
    assert (await client.post("/images/bulk", json={"ids": [], "action": "approve"})).status_code == 422


async def test_quality_gates(client, client_as):
    """Seeded gates are listed; a director sets thresholds; 1.5 or an unknown gate is a 422 that
    changes nothing; a reviewer cannot set them."""
    r = await client.get("/quality/gates")
    assert {g["name"]: g["threshold"] for g in r.json()} == {
        "auto_approve": 0.8, "auto_reject": 0.4, "scene_shot_minimum": 0.4}
    r = await client.put("/quality/gates", json={"gates": [{"name": "auto_approve", "threshold": 0.85}]})
    assert r.status_code == 200 and {g["name"]: g["threshold"] for g in r.json()}["auto_approve"] == 0.85
    r = await client.put("/quality/gates", json={"gates": [{"name": "auto_reject", "threshold": 1.5}]})
    assert r.status_code == 422
    r = await client.put("/quality/gates", json={"gates": [{"name": "auto_reject", "threshold": 0.3},
                                                           {"name": "nope", "threshold": 0.5}]})
    assert r.status_code == 422 and r.json()["code"] == "unknown_gate"
    assert {g["name"]: g["threshold"] for g in (await client.get("/quality/gates")).json()}["auto_reject"] == 0.4
    async with client_as("reviewer") as reviewer:
        r = await reviewer.put("/quality/gates", json={"gates": [{"name": "auto_reject", "threshold": 0.3}]})
        assert r.status_code == 403
    async with client_as("director") as director:
        r = await director.put("/quality/gates", json={"gates": [{"name": "auto_reject", "threshold": 0.3}]})
        assert r.status_code == 200


async def test_summary_counts_per_character(client, db, home, dataset):
    """Per-character pending/approved/rejected counts for the queue picker."""
    project, character = dataset
    other = await make_character(client, project, name="Zed")
    for status in ("pending", "pending", "approved", "rejected"):
        await make_image(db, home, project, character, status=status)
    r = await client.get("/images/summary", params={"project_id": project["id"]})
    assert r.status_code == 200, r.text
    counts = {c["character_id"]: (c["pending"], c["approved"], c["rejected"]) for c in r.json()}
    assert counts == {character["id"]: (2, 1, 1), other["id"]: (0, 0, 0)}
    assert (await client.get("/images/summary", params={"project_id": 999999})).status_code == 404


async def test_reasons_have_keys(client):
    """The seven reject reasons, with keyboard keys 1-7."""
    r = await client.get("/images/reasons")
    assert [(x["code"], x["key"]) for x in r.json()][:2] == [("wrong_character", "1"), ("anatomy", "2")]
    assert [x["key"] for x in r.json()] == [str(i) for i in range(1, 8)]
