"""Decisions are race-safe: the image row is locked, so concurrent calls store each decision exactly once."""

from __future__ import annotations

import asyncio
import json

from tests.factories import make_character, make_project
from tests.integration.test_approval import make_image

CALLS = 1000
CHARACTERS = 10


async def test_concurrent_decisions_are_each_stored_exactly_once(client, db, home):
    """1,000 concurrent approve/reject calls on different images through the API: every call
    succeeds, there is exactly one review per call, every status is the one asked for, and each
    character's approval_status.json (rewritten concurrently) agrees with the table."""
    project = await make_project(client)
    characters = [await make_character(client, project) for _ in range(CHARACTERS)]
    images = [(await make_image(db, home, project, characters[i % CHARACTERS]), i % CHARACTERS)
              for i in range(CALLS)]

    def call(n: int, image_id: int):
        if n % 2:
            return client.post(f"/images/{image_id}/reject", json={"reason": "blur"})
        return client.post(f"/images/{image_id}/approve")

    responses = await asyncio.gather(*(call(n, image_id) for n, (image_id, _) in enumerate(images)))
    assert [r.status_code for r in responses] == [200] * CALLS
    assert await db.fetchval("SELECT count(*) FROM reviews") == CALLS
    assert await db.fetchval("SELECT count(DISTINCT image_id) FROM reviews") == CALLS
    statuses = dict(await db.fetch("SELECT id, status FROM images"))
    assert all(statuses[image_id] == ("rejected" if n % 2 else "approved") for n, (image_id, _) in enumerate(images))
    for index, character in enumerate(characters):
        folder = home / "datasets" / project["slug"] / character["slug"]
        listed = json.loads((folder / "approval_status.json").read_text())
        mine = [(image_id, n) for n, (image_id, c) in enumerate(images) if c == index]
        assert {i["id"]: i["status"] for i in listed["images"]} == {
            image_id: ("rejected" if n % 2 else "approved") for image_id, n in mine}
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'feedback.recorded'") == CALLS


async def test_concurrent_approvals_of_one_image_store_one_decision(client, db, home):
    """Fifty people approving the same image at once: one decision is stored, the others get 409."""
    project = await make_project(client)
    character = await make_character(client, project)
    image_id = await make_image(db, home, project, character)
    responses = await asyncio.gather(*(client.post(f"/images/{image_id}/approve") for _ in range(50)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 49
    assert await db.fetchval("SELECT count(*) FROM reviews WHERE image_id = $1", image_id) == 1
