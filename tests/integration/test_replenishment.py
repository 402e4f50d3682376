"""Replenishment: off by default; each guard (cooldown, daily limit with day roll-over, consecutive
rejects with resume, pending buffer, studio-wide concurrency, no overshoot); automatic reference
images; the endpoints with bad input and roles; a storm of decisions becoming one waiting check."""

from __future__ import annotations

import asyncio
import json

import pytest

from packages.approval import replenish
from packages.approval.replenish_jobs import CHECK_TASK
from tests.conftest import ADMIN_TOKEN
from tests.doubles.comfyui import ComfyUIDouble
from tests.factories import make_character, make_project, make_style
from tests.integration.test_approval import make_image

CHECKPOINT = "animagine-xl-3.1.safetensors"
LOOP = "test_the_loop_reaches_the_target"


@pytest.fixture
def settings(home, database_url, request):
    """The loop test runs jobs in the app's in-process worker; the others call the check directly."""
    from packages.core.settings import Settings

    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=request.node.name == LOOP, ANIME_STUDIO_RETRY_BACKOFF_S=0.01,
                    _env_file=None)


async def character_with_style(client, project=None) -> dict:
    if project is None:
        style = await make_style(client, checkpoint=CHECKPOINT, width=512, height=512)
        project = await make_project(client, default_style_id=style["id"])
    return {**await make_character(client, project), "project_slug": project["slug"]}


async def configure(client, **fields) -> dict:
    r = await client.put("/replenishment/settings", json=fields)
    assert r.status_code == 200, r.text
    return r.json()


async def check(db, settings, character) -> replenish.CheckResult:
    return await replenish.check(db, settings, character["id"], trigger="test")


async def finish(db, generation_ids: list[int], status: str = "succeeded") -> None:
    """What the engine does when a generation ends: the row finishes and (on success) its image is pending."""
    for gen_id in generation_ids:
        gen = await db.fetchrow("UPDATE generations SET status = $2, finished_at = clock_timestamp() WHERE id = $1 "
                                "RETURNING character_id", gen_id, status)
        if status == "succeeded":
            await db.execute("INSERT INTO images (character_id, generation_id, path, sha256, width, height, source) "
                             "VALUES ($1, $2, $3, $4, 8, 8, 'generated')", gen["character_id"], gen_id,
                             f"datasets/x/gen{gen_id}.png", f"gen{gen_id:061d}")


async def character_state(client, character) -> dict:
    r = await client.get("/replenishment/status", params={"project_id": character["project_id"]})
    return next(c for c in r.json()["characters"] if c["character_id"] == character["id"])


async def test_off_by_default_nothing_is_generated(client, db, settings):
    """Replenishment is off by default: a check of a character with a deficit queues nothing and
    the status says disabled."""
    character = await character_with_style(client)
    status = (await client.get("/replenishment/status")).json()
    assert status["settings"] == {"enabled": False, "default_target": 40, "cooldown_s": 60, "daily_limit": 10,
                                  "max_consecutive_rejects": 5, "pending_buffer": 3, "max_concurrent": 2,
                                  "batch_size": 3}
    result = await check(db, settings, character)
    assert result.generation_ids == [] and result.plan.blocked == "disabled"
    assert await db.fetchval("SELECT count(*) FROM generations") == 0
    assert (await character_state(client, character))["state"] == "disabled"


async def test_a_batch_is_queued_once_and_then_the_buffer_waits(client, db, settings):
    """Enabled, a check queues batch_size generations tagged with their batch, emits
    replenishment.batch, counts them today; the next check waits while they fill the pending buffer."""
    character = await character_with_style(client)
    await client.post("/replenishment/toggle", params={"enabled": "true"})
    result = await check(db, settings, character)
    assert len(result.generation_ids) == 3
    batch = await db.fetchrow("SELECT * FROM replenishment_batches")
    assert (batch["size"], batch["pending_before"], batch["daily_before"]) == (3, 0, 0)
    tagged = await db.fetchval("SELECT count(*) FROM generations WHERE replenishment_batch_id = $1", batch["id"])
    assert tagged == 3
    event = await db.fetchrow("SELECT payload FROM events WHERE type = 'replenishment.batch'")
    assert event["payload"]["generation_ids"] == result.generation_ids
    state = await character_state(client, character)
    assert (state["state"], state["daily_count"], state["in_flight"], state["deficit"]) == ("running", 3, 3, 40)
    again = await check(db, settings, character)
    assert again.generation_ids == [] and again.plan.blocked == "waiting"
    assert await db.fetchval("SELECT count(*) FROM generations") == 3


async def test_cooldown_blocks_a_second_batch_until_it_is_over(client, db, settings):
    """A second batch within cooldown_s of the last is refused; with cooldown 0 it goes through."""
    character = await character_with_style(client)
    await configure(client, enabled=True, pending_buffer=100)
    assert len((await check(db, settings, character)).generation_ids) == 3
    blocked = await check(db, settings, character)
    assert blocked.plan.blocked == "cooldown" and blocked.retry_at is not None
    await configure(client, cooldown_s=0)
    assert len((await check(db, settings, character)).generation_ids) == 3


async def test_daily_limit_trims_the_last_batch_and_rolls_over(client, db, settings):
    """With daily_limit 4: a batch of 3, then one trimmed to 1, then none (stopped, daily_limit);
    on a new day the count starts again."""
    character = await character_with_style(client)
    await configure(client, enabled=True, pending_buffer=100, cooldown_s=0, daily_limit=4, max_concurrent=10)
    sizes = [len((await check(db, settings, character)).generation_ids) for _ in range(3)]
    assert sizes == [3, 1, 0]
    state = await character_state(client, character)
    assert (state["state"], state["stopped_reason"], state["daily_count"]) == ("stopped", "daily_limit", 4)
    await db.execute("UPDATE replenishment_state SET day = day - 1 WHERE character_id = $1", character["id"])
    assert len((await check(db, settings, character)).generation_ids) == 3


async def test_consecutive_rejects_stop_until_resumed_and_an_approval_resets(client, db, home, settings):
    """Rejections in a row are counted (an approval resets); at max_consecutive_rejects the character
    stops, stays stopped, and `run` resumes it and queues a batch."""
    character = await character_with_style(client)
    project = {"slug": character["project_slug"]}
    await configure(client, enabled=True, max_consecutive_rejects=3, pending_buffer=100)
    images = [await make_image(db, home, project, character) for _ in range(5)]
    for image_id in images[:2]:
        await client.post(f"/images/{image_id}/reject", json={"reason": "blur"})
    await client.post(f"/images/{images[2]}/approve")
    for image_id in images[3:]:
        await client.post(f"/images/{image_id}/reject", json={"reason": "anatomy"})
    assert (await character_state(client, character))["consecutive_rejects"] == 2
    extra = await make_image(db, home, project, character)
    await client.post(f"/images/{extra}/reject", json={"reason": "style"})
    result = await check(db, settings, character)
    assert result.plan.blocked == "stopped" and result.generation_ids == []
    state = await character_state(client, character)
    assert (state["state"], state["stopped_reason"], state["consecutive_rejects"]) == (
        "stopped", "consecutive_rejects", 3)
    r = await client.post("/replenishment/run", params={"character_id": character["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["stopped_reason"] is None and r.json()["consecutive_rejects"] == 0
    assert r.json()["state"] == "running" and await db.fetchval("SELECT count(*) FROM generations") == 3


async def test_a_stop_shows_as_soon_as_the_rejects_count_and_run_resumes_it(client, db, home, settings):
    """Before any check stores the reason, the status already shows a character whose rejections
    reached the limit as stopped (as a check would decide), and `run` resumes it then."""
    character = await character_with_style(client)
    project = {"slug": character["project_slug"]}
    await configure(client, enabled=True, max_consecutive_rejects=1, pending_buffer=100)
    image = await make_image(db, home, project, character)
    await client.post(f"/images/{image}/reject", json={"reason": "blur"})
    state = await character_state(client, character)
    assert (state["state"], state["stopped_reason"]) == ("stopped", "consecutive_rejects")
    assert await db.fetchval("SELECT stopped_reason FROM replenishment_state WHERE character_id = $1",
                             character["id"]) is None  # counted, not stored yet
    r = await client.post("/replenishment/run", params={"character_id": character["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "running" and r.json()["stopped_reason"] is None


async def test_pending_buffer_and_deficit_trim_the_batch(client, db, home, settings):
    """Pending images count against the buffer (a batch fills only what is left) and against the
    deficit (no more is generated than the target still needs)."""
    character = await character_with_style(client)
    project = {"slug": character["project_slug"]}
    await configure(client, enabled=True, cooldown_s=0)
    await make_image(db, home, project, character)
    assert len((await check(db, settings, character)).generation_ids) == 2  # buffer 3 - 1 pending
    other = await character_with_style(client)
    await client.post("/replenishment/target", params={"target": 1, "character_slug": other["slug"],
                                                         "project_id": other["project_id"]})
    assert len((await check(db, settings, other)).generation_ids) == 1  # the deficit is 1
    covered = await check(db, settings, other)
    assert covered.generation_ids == [] and covered.plan.blocked == "review"


async def test_at_most_max_concurrent_batches_in_flight_studio_wide(client, db, settings):
    """With max_concurrent 1 a second character waits for the first batch to finish generating."""
    first = await character_with_style(client)
    second = await character_with_style(client)
    await configure(client, enabled=True, max_concurrent=1)
    batch = (await check(db, settings, first)).generation_ids
    blocked = await check(db, settings, second)
    assert blocked.plan.blocked == "concurrency" and blocked.generation_ids == []
    await finish(db, batch)
    assert len((await check(db, settings, second)).generation_ids) == 3
    assert (await client.get("/replenishment/status")).json()["active_batches"] == 1


async def test_reference_images_are_refreshed_from_the_best_approved_solo_images(client, db, home, settings):
    """Before a batch, automatic references become copies of the best approved images (quality
    first, known non-solo excluded), never more than 4 with the user's uploads, which stay."""
    character = await character_with_style(client)
    project = {"slug": character["project_slug"]}
    upload = await client.post(f"/characters/{character['id']}/reference-images",
                               files=[("files", ("u.png", _png_bytes(), "image/png"))])
    assert upload.status_code == 201, upload.text
    scores = [0.9, 0.5, 0.7, 0.95, 0.8]
    ids = [await make_image(db, home, project, character, status="approved", scores={"quality": q}) for q in scores]
    await make_image(db, home, project, character, status="approved", scores={"quality": 0.99, "solo": False})
    await configure(client, enabled=True)
    assert (await check(db, settings, character)).generation_ids
    refs = await db.fetch("SELECT filename, sha256, automatic FROM reference_images ORDER BY id")
    assert [r["automatic"] for r in refs] == [False, True, True, True]
    best = await db.fetch("SELECT sha256 FROM images WHERE id = ANY($1::bigint[])", [ids[3], ids[0], ids[4]])
    assert {r["sha256"] for r in refs[1:]} == {r["sha256"] for r in best}
    folder = home / "datasets" / character["project_slug"] / character["slug"] / "reference_images"
    assert all((folder / r["filename"]).is_file() for r in refs)
    better = await make_image(db, home, project, character, status="approved", scores={"quality": 0.97})
    old = {r["filename"] for r in refs[1:]}
    from packages.approval.replenish_references import refresh_references
    assert await refresh_references(db, settings, character["id"]) == 3
    after = await db.fetch("SELECT filename, sha256 FROM reference_images WHERE automatic")
    assert await db.fetchval("SELECT sha256 FROM images WHERE id = $1", better) in {r["sha256"] for r in after}
    gone = old - {r["filename"] for r in after}
    assert len(gone) == 1 and not (folder / gone.pop()).exists()
    assert await db.fetchval("SELECT count(*) FROM reference_images WHERE NOT automatic") == 1


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


# -- endpoints --------------------------------------------------------------------------------

async def test_toggle_target_settings_need_reviewer_and_bad_input_changes_nothing(client, client_as):
    """Reads need any token; writes need reviewer (viewer 403); out-of-range, unknown or null
    settings are a 422 that changes nothing."""
    async with client_as("viewer") as viewer:
        assert (await viewer.get("/replenishment/status")).status_code == 200
        for r in (await viewer.post("/replenishment/toggle", params={"enabled": "true"}),
                  await viewer.put("/replenishment/settings", json={"batch_size": 2}),
                  await viewer.post("/replenishment/run", params={"character_id": 1}),
                  await viewer.post("/replenishment/target", params={"target": 3, "character_slug": "x"})):
            assert r.status_code == 403 and r.json()["code"] == "forbidden"
    before = (await client.get("/replenishment/status")).json()["settings"]
    for body in ({"batch_size": 0}, {"batch_size": 17}, {"cooldown_s": -1}, {"pending_buffer": None},
                 {"unknown": 1}, {"default_target": 100001}):
        r = await client.put("/replenishment/settings", json=body)
        assert r.status_code == 422 and "code" in r.json(), (body, r.text)
    assert (await client.get("/replenishment/status")).json()["settings"] == before
    async with client_as("reviewer") as reviewer:
        r = await reviewer.put("/replenishment/settings", json={"batch_size": 2, "daily_limit": 20})
        assert r.status_code == 200 and (r.json()["batch_size"], r.json()["daily_limit"]) == (2, 20)
        r = await reviewer.post("/replenishment/toggle", params={"enabled": "true"})
        assert r.status_code == 200 and r.json()["enabled"] is True


async def test_target_by_slug_is_ambiguous_across_projects_and_validated(client, db):
    """A slug used in two projects needs project_id (409 ambiguous_character); unknown is 404;
    a target outside 0..100000 is 422; a new target clears a stop."""
    first = await make_character(client, await make_project(client), slug="mio")
    await make_character(client, await make_project(client), slug="mio")
    r = await client.post("/replenishment/target", params={"target": 5, "character_slug": "mio"})
    assert r.status_code == 409 and r.json()["code"] == "ambiguous_character"
    r = await client.post("/replenishment/target", params={"target": 5, "character_slug": "nobody"})
    assert r.status_code == 404 and r.json()["code"] == "character_not_found"
    for target in (-1, 100001):
        r = await client.post("/replenishment/target", params={"target": target, "character_slug": "mio",
                                                               "project_id": first["project_id"]})
        assert r.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM replenishment_state") == 0
    await db.execute("INSERT INTO replenishment_state (character_id, stopped_reason) VALUES ($1, "
                     "'consecutive_rejects')", first["id"])
    r = await client.post("/replenishment/target", params={"target": 5, "character_slug": "mio",
                                                           "project_id": first["project_id"]})
    assert r.status_code == 200, r.text
    assert (r.json()["target"], r.json()["stopped_reason"], r.json()["state"]) == (5, None, "disabled")


async def test_readiness_by_name_or_slug(client, db, home):
    """Readiness: every active character's approved count against its target; the project is found
    by name (any case) or slug; an unknown one is 404."""
    project = await make_project(client, name="Moon Tales")
    ready = await make_character(client, project)
    short = await make_character(client, project)
    for slug, target in ((ready["slug"], 1), (short["slug"], 2)):
        await client.post("/replenishment/target", params={"target": target, "character_slug": slug,
                                                           "project_id": project["id"]})
    await make_image(db, home, project, ready, status="approved")
    r = await client.get("/replenishment/readiness", params={"project_name": "moon TALES"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["project_id"], body["ready"]) == (project["id"], False)
    rows = {c["character_id"]: (c["approved"], c["target"], c["missing"], c["ready"]) for c in body["characters"]}
    assert rows == {ready["id"]: (1, 1, 0, True), short["id"]: (0, 2, 2, False)}
    assert (await client.get("/replenishment/readiness", params={"project_name": project["slug"]})).status_code == 200
    r = await client.get("/replenishment/readiness", params={"project_name": "Nope"})
    assert r.status_code == 404 and r.json()["code"] == "project_not_found"


async def test_run_unknown_character_is_404_and_archived_409(client):
    """`run` names an existing, active character (unknown: 404; archived: 409)."""
    r = await client.post("/replenishment/run", params={"character_id": 999999})
    assert r.status_code == 404 and r.json()["code"] == "character_not_found"
    character = await make_character(client, await make_project(client))
    assert (await client.post(f"/characters/{character['id']}/archive")).status_code == 200
    r = await client.post("/replenishment/run", params={"character_id": character["id"]})
    assert r.status_code == 409 and r.json()["code"] == "character_archived", r.text


async def test_a_storm_of_approvals_defers_one_waiting_check(client, db, home):
    """Many approvals of one character's images leave one waiting check job (queueing lock)."""
    project = await make_project(client)
    character = await make_character(client, project)
    images = [await make_image(db, home, project, character) for _ in range(10)]
    for image_id in images:
        assert (await client.post(f"/images/{image_id}/approve")).status_code == 200
    jobs = await db.fetch("SELECT args FROM procrastinate_jobs WHERE task_name = $1 AND status = 'todo'", CHECK_TASK)
    args = [j["args"] if isinstance(j["args"], dict) else json.loads(j["args"]) for j in jobs]
    assert len(args) == 1 and args[0]["character_id"] == character["id"]


async def test_turning_on_checks_every_character_with_a_deficit(client, db):
    """Turning the loop on defers a check for each character under its target."""
    characters = [await make_character(client, await make_project(client)) for _ in range(2)]
    await client.post("/replenishment/toggle", params={"enabled": "true"})
    rows = await db.fetch("SELECT args FROM procrastinate_jobs WHERE task_name = $1", CHECK_TASK)
    ids = {(r["args"] if isinstance(r["args"], dict) else json.loads(r["args"]))["character_id"] for r in rows}
    assert ids == {c["id"] for c in characters}


async def test_the_loop_reaches_the_target(client, db):
    """With the ComfyUI double and the in-process worker: enabled with a target of 3 (batches of 2,
    no cooldown), approving what it generates triggers the next batch until the target is reached,
    and then nothing more is generated."""
    with ComfyUIDouble(latency=0.05) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        r = await client.post("/backends", json={"name": "gpu", "url": comfy.url})
        assert r.status_code == 201 and r.json()["health"] == "ok", r.text
        character = await character_with_style(client)
        await configure(client, cooldown_s=0, batch_size=2)
        await client.post("/replenishment/target", params={"target": 3, "character_slug": character["slug"],
                                                           "project_id": character["project_id"]})
        await client.post("/replenishment/toggle", params={"enabled": "true"})
        for _ in range(600):
            pending = await db.fetch("SELECT id FROM images WHERE character_id = $1 AND status = 'pending'",
                                     character["id"])
            for row in pending:
                assert (await client.post(f"/images/{row['id']}/approve")).status_code == 200
            state = await character_state(client, character)
            if state["state"] == "done":
                break
            await asyncio.sleep(0.1)
        assert state["state"] == "done" and state["approved"] == 3, state
        sizes = [r["size"] for r in await db.fetch("SELECT size FROM replenishment_batches ORDER BY id")]
        assert sizes == [2, 1]  # the second batch only covers what was missing
        await asyncio.sleep(1.5)  # the check deferred by the last approval finds nothing to do
        assert await db.fetchval("SELECT count(*) FROM generations") == 3


async def test_a_batch_that_cannot_be_created_leaves_nothing(client, db):
    """The decision, the generations and the state are one transaction: when the batch cannot be
    created (the project has no style) `run` says why (409) and no generation, batch, count or
    event is left behind."""
    character = await make_character(client, await make_project(client))
    await configure(client, enabled=True)
    r = await client.post("/replenishment/run", params={"character_id": character["id"]})
    assert r.status_code == 409 and r.json()["code"] == "no_style"
    assert await db.fetchval("SELECT count(*) FROM generations") == 0
    assert await db.fetchval("SELECT count(*) FROM replenishment_batches") == 0
    assert await db.fetchval("SELECT coalesce(sum(daily_count), 0) FROM replenishment_state") == 0
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'replenishment.batch'") == 0


async def test_a_check_blocked_by_the_cooldown_comes_back_when_it_ends(client, db, settings):
    """The check job that meets the cooldown defers the next check for when the cooldown is over,
    so the loop does not fall asleep when no other event comes."""
    from packages.approval.replenish_jobs import check_character

    character = await character_with_style(client)
    await configure(client, enabled=True, pending_buffer=100, cooldown_s=120)
    assert (await check(db, settings, character)).generation_ids
    await db.execute("DELETE FROM procrastinate_jobs WHERE task_name = $1", CHECK_TASK)  # those the settings queued
    await check_character.func(character["id"], "test")
    job = await db.fetchrow("SELECT scheduled_at - now() AS wait FROM procrastinate_jobs "
                            "WHERE task_name = $1 AND status = 'todo'", CHECK_TASK)
    assert job is not None and 100 < job["wait"].total_seconds() <= 125
