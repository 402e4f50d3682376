"""The vision review through Ollama (the protocol double on loopback, real PostgreSQL): decisions
with their events, reviews rows and dataset files; non-human characters never auto-approved;
unusable answers retried and never scored by default; a person's decision wins; the routes; the
metrics review instead when there is no model; the job deferred after a completed generation."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import threading
from pathlib import Path

import pytest
from PIL import Image

from packages.approval import vision
from packages.approval.vision_review import VISION_TASK, review_pending_vision
from packages.core.db import transaction
from packages.core.settings import Settings
from packages.visual_pipeline.events import GenerationCompleted
from tests.conftest import ADMIN_TOKEN
from tests.doubles.ollama import OllamaDouble
from tests.factories import make_character, make_project
from tests.live import free_port

_n = itertools.count(1)
RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


@pytest.fixture
def ollama_double():
    with OllamaDouble() as double:
        yield double


@pytest.fixture
def settings(home, database_url, ollama_double):
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, OLLAMA_HOST=ollama_double.url,
                    ANIME_STUDIO_RETRY_BACKOFF_S=0.01, _env_file=None)


@pytest.fixture
async def dataset(client):
    project = await make_project(client)
    human = await make_character(client, project, name="Mei", appearance_data={
        "species": "human", "gender": "female", "key_colors": ["silver hair"], "common_errors": ["blue eyes"]})
    fox = await make_character(client, project, name="Kitsune", appearance_data={"species": "fox spirit (NOT human)"})
    return project, human, fox


async def make_image(db, home: Path, project: dict, character: dict, color=RED, size=(1600, 900)) -> int:
    """A pending dataset image in the character's folder, one colour (the double answers by colour)."""
    n = next(_n)
    relative = f"datasets/{project['slug']}/{character['slug']}/images/vis{n:05d}.png"
    (home / relative).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(home / relative)
    return await db.fetchval(
        "INSERT INTO images (character_id, path, sha256, width, height, source, status) "
        "VALUES ($1, $2, $3, $4, $5, 'generated', 'pending') RETURNING id",
        character["id"], relative, f"{n + 50_000:064x}", *size)


def answer(**fields) -> dict:
    base = {"character_match": 9, "clarity": 9, "training_value": 9, "solo": True, "completeness": "full",
            "anatomical_defects": [], "common_error_hits": [], "caption": "Mei, standing, silver hair", "issues": []}
    return {**base, **fields}


def by_color(answers: dict) -> callable:
    """The double's answer: chosen by the colour of the image sent (and adding the checks asked)."""
    def pick(request: dict) -> dict:
        image = Image.open(io.BytesIO(base64.b64decode(request["messages"][0]["images"][0])))
        chosen = dict(answers[image.convert("RGB").getpixel((0, 0))])
        props = request["format"]["properties"]
        for check in ("species_match", "gender_match"):
            if check in props:
                chosen.setdefault(check, True)
            else:
                chosen.pop(check, None)
        return chosen
    return pick


def as_dict(value):
    return value if isinstance(value, dict) or value is None else json.loads(value)


async def test_approve_reject_and_pending_outcomes(client, db, home, dataset, ollama_double, settings):
    """Quality >= auto_approve, solo, human: approved with the model's caption (.txt written), one
    reviews row by 'model' and image.approved; quality < auto_reject: rejected with "vision: <issues>",
    model_verdict 'reject' and image.rejected; in between: pending with its scores only (image.scored). The image
    went downsized, with the schema as format and temperature 0; a second run reviews nothing."""
    project, human, _ = dataset
    ollama_double.answer = by_color({RED: answer(), GREEN: answer(character_match=1, clarity=2, training_value=3, issues=["blurry"]),
                                     BLUE: answer(character_match=7, clarity=6, training_value=6)})
    good, bad, middling = [await make_image(db, home, project, human, c) for c in (RED, GREEN, BLUE)]
    r = await client.post(f"/characters/{human['id']}/review/vision")
    assert r.status_code == 200, r.text
    assert r.json() == {"reviewed": 3, "approved": 1, "rejected": 1, "failed": 0, "unreadable": 0, "errors": []}

    rows = {row["id"]: row for row in await db.fetch("SELECT id, status, model_verdict, caption, reasons, scores "
                                                     "FROM images WHERE id = ANY($1::bigint[])", [good, bad, middling])}
    assert (rows[good]["status"], rows[good]["model_verdict"], rows[good]["caption"]) == (
        "approved", "approve", "Mei, standing, silver hair")
    caption_file = (home / await db.fetchval("SELECT path FROM images WHERE id = $1", good)).with_suffix(".txt")
    assert caption_file.read_text().strip() == "Mei, standing, silver hair"
    assert (rows[bad]["status"], rows[bad]["model_verdict"], rows[bad]["reasons"]) == (
        "rejected", "reject", ["vision: blurry"])
    assert (rows[middling]["status"], rows[middling]["model_verdict"]) == ("pending", None)
    scores = as_dict(rows[middling]["scores"])
    assert scores == {"reviewer": "vision", "model": "gemma3", "quality": pytest.approx(19 / 30),
                      "character_match": 7, "clarity": 6, "training_value": 6, "solo": True, "completeness": "full",
                      "anatomical_defects": [], "common_error_hits": [], "gender_match": True,
                      "caption": "Mei, standing, silver hair", "issues": []}

    reviews = await db.fetch("SELECT image_id, reviewer, user_name, decision, reason FROM reviews ORDER BY id")
    assert [(x["image_id"], x["reviewer"], x["user_name"], x["decision"]) for x in reviews] == [
        (good, "model", None, "approved"), (bad, "model", None, "rejected")]
    assert reviews[1]["reason"] == "vision: blurry"
    emitted = await db.fetch("SELECT type, payload FROM events WHERE type LIKE 'image.%' ORDER BY id")
    assert sorted((e["type"], e["payload"].get("image_id") or e["payload"]["image_ids"][0]) for e in emitted) == [
        ("image.approved", good), ("image.rejected", bad), ("image.scored", middling)]
    status_file = json.loads((home / f"datasets/{project['slug']}/{human['slug']}/approval_status.json").read_text())
    assert status_file["counts"] == {"pending": 1, "approved": 1, "rejected": 1}

    chat = ollama_double.chats[0]
    check = vision.checklist("Mei", {"species": "human", "gender": "female", "key_colors": ["silver hair"],
                                     "common_errors": ["blue eyes"]})
    assert chat["model"] == "gemma3" and chat["format"] == vision.answer_schema(check)
    assert chat["options"] == {"temperature": 0} and "silver hair" in chat["messages"][0]["content"]
    assert Image.open(io.BytesIO(base64.b64decode(chat["messages"][0]["images"][0]))).size == (1024, 576)
    read = (await client.get(f"/images/{middling}")).json()
    assert read["scores"]["solo"] is True and read["scores"]["reviewer"] == "vision"

    again = await client.post(f"/characters/{human['id']}/review/vision")
    assert again.json()["reviewed"] == 0 and len(ollama_double.chats) == 3  # each image reviewed once


async def test_a_non_human_character_is_never_auto_approved(client, db, home, dataset, ollama_double):
    """A perfect answer for a non-human character leaves the image pending (quality 1.0); a failed
    species check zeroes quality and rejects it with "wrong species"; gender is not asked when unset."""
    project, _, fox = dataset
    perfect_answer = answer(character_match=10, clarity=10, training_value=10)
    ollama_double.answer = by_color({RED: perfect_answer, GREEN: answer(species_match=False)})
    perfect, wrong = await make_image(db, home, project, fox, RED), await make_image(db, home, project, fox, GREEN)
    r = await client.post(f"/characters/{fox['id']}/review/vision")
    assert r.json()["approved"] == 0 and r.json()["rejected"] == 1
    row = await db.fetchrow("SELECT status, model_verdict, scores FROM images WHERE id = $1", perfect)
    assert (row["status"], row["model_verdict"], as_dict(row["scores"])["quality"]) == ("pending", None, 1.0)
    assert "gender_match" not in as_dict(row["scores"]) and as_dict(row["scores"])["species_match"] is True
    row = await db.fetchrow("SELECT status, reasons, scores FROM images WHERE id = $1", wrong)
    assert (row["status"], row["reasons"], as_dict(row["scores"])["quality"]) == (
        "rejected", ["vision: wrong species"], 0.0)
    assert "species_match" in ollama_double.chats[0]["format"]["required"]


async def test_an_unusable_answer_is_never_scored_and_a_later_run_retries(db, home, dataset, ollama_double, settings):
    """Garbage is a failed review: unscored while retries remain; recorded as {"vision_error"} with no
    quality after the last; a later run that gets a proper answer scores it."""
    project, human, _ = dataset
    image = await make_image(db, home, project, human)
    ollama_double.answer = by_color({RED: answer(character_match=6, clarity=6, training_value=6)})
    ollama_double.garbage_next = 2
    first = await review_pending_vision(db, settings, human["id"], record_failures=False)
    assert (first.reviewed, first.failed) == (0, 1) and "unusable answer" in first.errors[0]
    assert await db.fetchval("SELECT scores FROM images WHERE id = $1", image) is None
    await review_pending_vision(db, settings, human["id"], record_failures=True)
    recorded = as_dict(await db.fetchval("SELECT scores FROM images WHERE id = $1", image))
    assert set(recorded) == {"vision_error"} and "unusable answer" in recorded["vision_error"]
    later = await review_pending_vision(db, settings, human["id"])
    assert later.reviewed == 1 and as_dict(await db.fetchval("SELECT scores FROM images WHERE id = $1", image))[
        "quality"] == pytest.approx(0.6)


async def work(app, db, job_id: int, timeout: float = 30) -> str:
    """Runs the review queue's jobs with the real procrastinate worker until this one is finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await app.state.job_app.run_worker_async(queues=["review"], wait=False, install_signal_handlers=False,
                                                 fetch_job_polling_interval=0.05, concurrency=1)
        status = await db.fetchval("SELECT status::text FROM procrastinate_jobs WHERE id = $1", job_id)
        if status in ("succeeded", "failed"):
            return status
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not finish")


@pytest.mark.parametrize("garbage, attempts, scored", [(1, 2, True), (5, 3, False)])
async def test_the_job_retries_failed_answers(app, db, home, dataset, ollama_double, garbage, attempts, scored):
    """The job is retried (with backoff) while images got no usable answer, and a retry succeeds when
    the model answers properly; after the last attempt the error is recorded and the job ends."""
    project, human, _ = dataset
    image = await make_image(db, home, project, human)
    ollama_double.answer = by_color({RED: answer(character_match=6, clarity=6, training_value=6)})
    ollama_double.garbage_next = garbage
    job_id = await app.state.job_app.configure_task(VISION_TASK).defer_async(character_id=human["id"])
    assert await work(app, db, job_id) == "succeeded"
    assert await db.fetchval("SELECT attempts FROM procrastinate_jobs WHERE id = $1", job_id) == attempts
    scores = as_dict(await db.fetchval("SELECT scores FROM images WHERE id = $1", image))
    assert ("quality" in scores) is scored and ("vision_error" in scores) is (not scored)
    assert len(ollama_double.chats) == attempts


async def test_a_person_deciding_during_the_review_wins(client, db, home, dataset, ollama_double, settings):
    """An image rejected by a person while the model looks at it stays rejected: the vision scores
    are stored, but no model decision, reviews row or caption file follows."""
    project, human, _ = dataset
    image = await make_image(db, home, project, human)
    release = threading.Event()

    def slow(request):
        release.wait(10)
        return by_color({RED: answer()})(request)

    ollama_double.answer = slow
    review = asyncio.create_task(review_pending_vision(db, settings, human["id"]))
    for _ in range(200):
        if ollama_double.chats:
            break
        await asyncio.sleep(0.02)
    assert (await client.post(f"/images/{image}/reject", json={"reason": "style"})).status_code == 200
    release.set()
    result = await review
    assert result.reviewed == 1 and result.approved == 0
    row = await db.fetchrow("SELECT status, model_verdict, scores FROM images WHERE id = $1", image)
    assert (row["status"], row["model_verdict"], as_dict(row["scores"])["quality"]) == ("rejected", None, 0.9)
    assert await db.fetchval("SELECT array_agg(reviewer) FROM reviews WHERE image_id = $1", image) == ["human"]
    assert not list((home / "datasets").rglob("*.txt"))


async def test_routes_need_reviewer_and_say_why_the_model_cannot_run(client, anon, client_as, db, home, dataset,
                                                                      settings):
    """Running needs reviewer (401 without a token, 403 viewer); unknown character 404; 502 when
    Ollama lacks the model, 503 when unreachable, 409 no_vision_model without OLLAMA_HOST; the status
    route says which."""
    project, human, _ = dataset
    url = f"/characters/{human['id']}/review/vision"
    await make_image(db, home, project, human)
    assert (await anon.post(url)).status_code == 401
    async with client_as("viewer") as viewer:
        assert (await viewer.post(url)).status_code == 403
        assert (await viewer.get("/review/vision/status")).json() == {
            "available": True, "host": settings.ollama_host, "model": "gemma3", "error": None}
    async with client_as("reviewer") as reviewer:
        assert (await reviewer.post("/characters/999999/review/vision")).json()["code"] == "character_not_found"
        assert (await reviewer.post(url, params={"limit": 0})).status_code == 422
        settings.vision_model = "llava"
        missing = await reviewer.post(url)
        assert missing.status_code == 502 and missing.json()["code"] == "vision_model_missing"
        assert "llava" in missing.json()["detail"]
        assert "llava" in (await reviewer.get("/review/vision/status")).json()["error"]
        settings.ollama_host = f"http://127.0.0.1:{free_port()}"
        down = await reviewer.post(url)
        assert down.status_code == 503 and down.json()["code"] == "ollama_unreachable"
        assert (await reviewer.get("/review/vision/status")).json()["available"] is False
        settings.ollama_host = None
        unset = await reviewer.post(url)
        assert unset.status_code == 409 and unset.json()["code"] == "no_vision_model"
        assert "OLLAMA_HOST" in (await reviewer.get("/review/vision/status")).json()["error"]
    assert await db.fetchval("SELECT count(*) FROM images WHERE scores IS NOT NULL") == 0


@pytest.mark.parametrize("why", ["no_host", "no_model"])
async def test_the_job_runs_the_metrics_review_when_there_is_no_model(app, db, home, dataset, settings,
                                                                       ollama_double, why):
    """Without OLLAMA_HOST, or when Ollama has no such model, the job scores the images with the
    metrics review instead (metrics_only), so they still get what can be scored."""
    project, human, _ = dataset
    image = await make_image(db, home, project, human)
    if why == "no_host":
        settings.ollama_host = None
    else:
        settings.vision_model = "llava"
    job_id = await app.state.job_app.configure_task(VISION_TASK).defer_async(character_id=human["id"])
    assert await work(app, db, job_id) == "succeeded"
    assert as_dict(await db.fetchval("SELECT scores FROM images WHERE id = $1", image))["metrics_only"] is True
    assert ollama_double.chats == []


async def test_a_completed_generation_defers_the_vision_review_when_ollama_is_set(db, dataset, settings):
    """With OLLAMA_HOST set, generation.completed defers vision:review (once per character while
    one waits) instead of the metrics review."""
    project, human, _ = dataset
    for generation_id in (1, 2):
        async with transaction(db) as tx:
            await tx.emit(GenerationCompleted(project_id=project["id"], generation_id=generation_id,
                                              character_id=human["id"], status="succeeded", output_ids=[]))
    jobs = await db.fetch("SELECT task_name, args FROM procrastinate_jobs WHERE queue_name = 'review'")
    assert [(j["task_name"], as_dict(j["args"])) for j in jobs] == [(VISION_TASK, {"character_id": human["id"]})]
