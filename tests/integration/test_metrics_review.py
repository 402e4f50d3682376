"""The metrics-only review (no vision model): scores pending images with metrics_only, rejects
under the auto_reject gate with a reviews row by 'metrics', never approves, reviewer role, and the
job deferred after a completed generation."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from packages.approval.metrics_review import METRICS_TASK, review_pending
from packages.core.db import transaction
from packages.visual_pipeline.events import GenerationCompleted
from tests.factories import make_character, make_project

_n = itertools.count(1)


def _good() -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(30, 226, (800, 800), dtype=np.uint8), "L")


def _bad() -> Image.Image:
    rng = np.random.default_rng(4)
    return Image.fromarray(rng.integers(0, 30, (300, 300), dtype=np.uint8), "L").filter(ImageFilter.GaussianBlur(5))


async def make_image(db, home: Path, project: dict, character: dict, img: Image.Image, *, status: str = "pending",
                     scores: dict | None = None) -> int:
    """A dataset image with real pixels in the character's folder, and its row."""
    n = next(_n)
    relative = f"datasets/{project['slug']}/{character['slug']}/images/met{n:05d}.png"
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return await db.fetchval(
        "INSERT INTO images (character_id, path, sha256, width, height, source, status, scores) "
        "VALUES ($1, $2, $3, $4, $5, 'generated', $6, $7) RETURNING id",
        character["id"], relative, f"{n + 10_000:064x}", img.width, img.height, status, scores)


@pytest.fixture
async def dataset(client):
    project = await make_project(client)
    character = await make_character(client, project)
    return project, character


async def test_pending_images_get_metrics_only_scores_and_a_good_one_is_not_approved(client, db, home, dataset):
    """Unscored pending images get scores with metrics_only; a high-quality image (above the
    auto_approve gate) stays pending with no review row: a metrics review never approves.
    Already scored and decided images are left alone; one image.scored event names what was scored."""
    project, character = dataset
    good = await make_image(db, home, project, character, _good())
    scored_before = await make_image(db, home, project, character, _bad(), scores={"quality": 0.9})
    approved = await make_image(db, home, project, character, _bad(), status="approved")
    r = await client.post(f"/characters/{character['id']}/review/metrics")
    assert r.status_code == 200, r.text
    assert r.json() == {"scored": 1, "rejected": 0}
    row = await db.fetchrow("SELECT status, scores, model_verdict FROM images WHERE id = $1", good)
    assert row["status"] == "pending" and row["model_verdict"] is None
    scores = row["scores"] if isinstance(row["scores"], dict) else json.loads(row["scores"])
    assert scores["metrics_only"] is True and scores["quality"] > 0.8
    assert set(scores) == {"quality", "sharpness", "exposure", "contrast", "resolution", "metrics_only"}
    assert await db.fetchval("SELECT count(*) FROM reviews WHERE image_id = ANY($1::bigint[])",
                             [good, scored_before, approved]) == 0
    assert await db.fetchval("SELECT status FROM images WHERE id = $1", approved) == "approved"
    scored = await db.fetch("SELECT payload FROM events WHERE type = 'image.scored'")
    assert [e["payload"]["image_ids"] for e in scored] == [[good]]  # open queues show the new scores
    again = await client.post(f"/characters/{character['id']}/review/metrics")
    assert again.json() == {"scored": 0, "rejected": 0}  # idempotent


async def test_a_blurred_dark_image_under_the_gate_is_auto_rejected(client, db, home, dataset):
    """Quality under auto_reject: status rejected, model_verdict 'reject', reason 'metrics: <issues>',
    one reviews row by 'metrics', an image.rejected event."""
    project, character = dataset
    bad = await make_image(db, home, project, character, _bad())
    r = await client.post(f"/characters/{character['id']}/review/metrics")
    assert r.json() == {"scored": 1, "rejected": 1}
    row = await db.fetchrow("SELECT status, model_verdict, reasons FROM images WHERE id = $1", bad)
    assert row["status"] == "rejected" and row["model_verdict"] == "reject"
    assert row["reasons"][0].startswith("metrics: ") and "blurry" in row["reasons"][0]
    assert "too dark" in row["reasons"][0]
    reviews = await db.fetch("SELECT reviewer, user_name, decision, reason, previous_status FROM reviews "
                             "WHERE image_id = $1", bad)
    assert [(x["reviewer"], x["user_name"], x["decision"], x["previous_status"]) for x in reviews] == [
        ("metrics", None, "rejected", "pending")]
    assert reviews[0]["reason"] == row["reasons"][0]
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'image.rejected' "
                             "AND (payload->>'image_id')::bigint = $1", bad) == 1
    listed = await client.get(f"/images/{bad}")
    assert listed.json()["last_review"]["reviewer"] == "metrics"


async def test_the_gate_is_read_from_quality_gates(client, db, home, settings, dataset):
    """With auto_reject at 0 nothing is rejected, whatever its quality (review_pending directly)."""
    project, character = dataset
    await client.put("/quality/gates", json={"gates": [{"name": "auto_reject", "threshold": 0}]})
    bad = await make_image(db, home, project, character, _bad())
    result = await review_pending(db, settings, character["id"])
    assert (result.scored, result.rejected) == (1, 0)
    assert await db.fetchval("SELECT status FROM images WHERE id = $1", bad) == "pending"


async def test_running_the_review_needs_reviewer(client_as, dataset):
    """A viewer may not run the review (403); a reviewer may; an unknown character is a 404."""
    _, character = dataset
    async with client_as("viewer") as viewer:
        r = await viewer.post(f"/characters/{character['id']}/review/metrics")
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    async with client_as("reviewer") as reviewer:
        assert (await reviewer.post(f"/characters/{character['id']}/review/metrics")).status_code == 200
        missing = await reviewer.post("/characters/999999/review/metrics")
        assert missing.status_code == 404 and missing.json()["code"] == "character_not_found"


async def test_a_completed_generation_defers_one_review_job(db, dataset):
    """generation.completed defers review:metrics for its character; a second one while it waits
    adds no job (queueing lock)."""
    project, character = dataset
    for generation_id in (1, 2):
        async with transaction(db) as tx:
            await tx.emit(GenerationCompleted(project_id=project["id"], generation_id=generation_id,
                                              character_id=character["id"], status="succeeded", output_ids=[]))
    jobs = await db.fetch("SELECT args, status::text AS status FROM procrastinate_jobs WHERE task_name = $1",
                          METRICS_TASK)
    assert [(dict(j["args"]) if isinstance(j["args"], dict) else json.loads(j["args"]), j["status"])
            for j in jobs] == [({"character_id": character["id"]}, "todo")]
