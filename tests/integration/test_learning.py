"""Learning per character: rates, parameters read from the submitted workflows, rejection reasons,
suggestions, and the quality-drift alert (once per crossing, with its event); the endpoint's
input checks and roles."""

from __future__ import annotations

import json

import pytest

from packages.approval import learning
from packages.approval.events import FeedbackRecorded
from packages.approval.learning_jobs import REFRESH_TASK
from packages.core.db import transaction
from tests.factories import make_character, make_project, make_style
from tests.integration.learning_helpers import decide, generated, make_image


@pytest.fixture
async def subject(client):
    style = await make_style(client)
    project = await make_project(client, default_style_id=style["id"])
    character = await make_character(client, project)
    return style, project, character


def _params(body: dict, parameter: str) -> dict:
    return {p["value"]: (p["approved"], p["rejected"]) for p in body["parameters"] if p["parameter"] == parameter}


async def test_learning_reads_parameters_from_workflows_and_counts_reasons(client, db, subject):
    """Generated images tell cfg, steps, sampler, checkpoint, seed range, LoRA strength and the
    prompt terms that differ; every decided image (uploads too) counts in the rates and reasons;
    a metrics reason counts once per issue; pending images count nowhere."""
    style, _, character = subject
    for decision in ("approved", "approved", "approved", "rejected"):
        await generated(db, style, character, decision, reason="blur" if decision == "rejected" else None, cfg=5.0,
                        extra="smiling")
    for decision in ("approved", "rejected", "rejected", "rejected"):
        await generated(db, style, character, decision, reason="blur" if decision == "rejected" else None, cfg=8.0,
                        seed=3_000_000_000, loras=[("char.safetensors", 0.8)])
    await generated(db, style, character, None, cfg=11.0)  # pending: not a decision
    upload = await make_image(db, character)
    await decide(db, upload, "rejected", reason="metrics: blurry, too dark", reviewer="metrics")

    r = await client.get(f"/characters/{character['id']}/learning")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["character_id"], body["decisions"], body["approved"], body["rejected"]) == (character["id"], 9, 4, 5)
    assert body["approval_rate"] == pytest.approx(4 / 9)
    assert _params(body, "cfg") == {"5.0": (3, 1), "8.0": (1, 3)}
    assert _params(body, "steps") == {"28": (4, 4)}
    assert _params(body, "sampler") == {"euler_ancestral": (4, 4)}
    assert _params(body, "checkpoint") == {style["checkpoint"]: (4, 4)}
    assert _params(body, "seed_range") == {"0-536870911": (3, 1), "2684354560-3221225471": (1, 3)}
    assert _params(body, "lora_strength") == {"0.8": (1, 3)}
    assert _params(body, "prompt_term") == {"smiling": (3, 1)}  # the design terms every image had are left out
    assert {p["parameter"]: p["rate"] for p in body["parameters"] if p["value"] == "5.0"} == {"cfg": 0.75}
    assert body["reasons"] == [{"reason": "blur", "count": 4}, {"reason": "metrics: blurry", "count": 1},
                               {"reason": "metrics: too dark", "count": 1}]
    assert body["corrections"] == []


async def test_suggestions_need_support_and_must_beat_the_overall_rate(client, db, subject):
    """A value is suggested when at least 3 decided images used it and its rate beats the
    character's overall rate; a better value with only 2 images is not suggested."""
    style, _, character = subject
    for decision in ("approved", "approved", "approved", "rejected"):
        await generated(db, style, character, decision, cfg=5.0)
    for decision in ("rejected", "rejected", "rejected", "approved"):
        await generated(db, style, character, decision, cfg=8.0)
    for _ in range(2):
        await generated(db, style, character, "approved", cfg=3.0)  # 100% but only 2 images
    body = (await client.get(f"/characters/{character['id']}/learning")).json()
    assert body["approval_rate"] == pytest.approx(0.6)
    cfg = [s for s in body["suggested"] if s["parameter"] == "cfg"]
    assert cfg == [{"parameter": "cfg", "value": "5.0", "rate": 0.75, "support": 4}]
    # steps were the same everywhere: 60% equals the overall rate, so it is no suggestion
    assert not [s for s in body["suggested"] if s["parameter"] == "steps"]


async def test_no_decisions_gives_empty_learning(client, subject):
    """A character without decided images: zero counts, null rates, no alert."""
    _, _, character = subject
    body = (await client.get(f"/characters/{character['id']}/learning")).json()
    assert (body["decisions"], body["approval_rate"], body["parameters"], body["suggested"]) == (0, None, [], [])
    assert body["drift"] == {"alert": False, "window": 20, "rolling_rate": None, "baseline_rate": None,
                             "message": None}


async def _drift_events(db, character_id: int) -> list[dict]:
    rows = await db.fetch("SELECT payload FROM events WHERE type = 'quality.drift' ORDER BY id")
    payloads = [r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]) for r in rows]
    return [p for p in payloads if p["character_id"] == character_id]


async def test_drift_alert_turns_on_once_per_crossing_with_its_event(client, db, subject):
    """40 approvals then 20 rejections: the rolling rate (0%) is far under the baseline (100%), so
    the alert is on and quality.drift is emitted once; checking again emits nothing; after a
    recovery (a window of approvals) the alert is off, and a new fall emits a second event.
    A small dip (85% against 100%) is no alert."""
    style, project, character = subject
    minute = 0
    for _ in range(40):
        minute += 1
        await generated(db, style, character, "approved", at=minute)
    assert (await learning.check_drift(db, project["id"], character["id"])).alert is False
    for _ in range(3):
        minute += 1
        await generated(db, style, character, "rejected", reason="blur", at=minute)
    dip = await learning.check_drift(db, project["id"], character["id"])
    assert (dip.alert, dip.rolling_rate, dip.baseline_rate) == (False, 0.85, 1.0)
    for _ in range(17):
        minute += 1
        await generated(db, style, character, "rejected", reason="blur", at=minute)
    drift = await learning.check_drift(db, project["id"], character["id"])
    assert drift.alert is True and drift.rolling_rate == 0 and drift.baseline_rate == 1
    assert "0%" in drift.message and "100%" in drift.message
    await learning.check_drift(db, project["id"], character["id"])
    events = await _drift_events(db, character["id"])
    assert events == [{"project_id": project["id"], "character_id": character["id"], "rolling_rate": 0.0,
                       "baseline_rate": 1.0}]
    body = (await client.get(f"/characters/{character['id']}/learning")).json()
    assert body["drift"]["alert"] is True and body["drift"]["message"]

    for _ in range(20):  # recovery: the window is all approvals again
        minute += 1
        await generated(db, style, character, "approved", at=minute)
    assert (await learning.check_drift(db, project["id"], character["id"])).alert is False
    assert await db.fetchval("SELECT drift_alert FROM learning_state WHERE character_id = $1", character["id"]) is False
    for _ in range(20):
        minute += 1
        await generated(db, style, character, "rejected", at=minute)
    assert (await learning.check_drift(db, project["id"], character["id"])).alert is True
    assert len(await _drift_events(db, character["id"])) == 2


async def test_a_decision_defers_one_refresh(db, subject):
    """feedback.recorded defers correction:refresh (drift, outcomes, corrections) for the character;
    a second decision while it waits adds no job (queueing lock)."""
    _, project, character = subject
    for image_id in (1, 2):
        async with transaction(db) as tx:
            await tx.emit(FeedbackRecorded(project_id=project["id"], image_id=image_id, character_id=character["id"],
                                           decision="rejected", reason="blur", status="rejected"))
    jobs = await db.fetch("SELECT args FROM procrastinate_jobs WHERE task_name = $1", REFRESH_TASK)
    assert [j["args"] if isinstance(j["args"], dict) else json.loads(j["args"]) for j in jobs] == [
        {"project_id": project["id"], "character_id": character["id"]}]


async def test_learning_endpoint_checks_input_and_lets_viewers_read(client, client_as, subject):
    """An unknown character is a 404 with its code, a bad id a 422 {detail, code}; a viewer may read;
    no token is a 401."""
    _, _, character = subject
    missing = await client.get("/characters/999999/learning")
    assert missing.status_code == 404 and missing.json()["code"] == "character_not_found"
    bad = await client.get("/characters/0/learning")
    assert bad.status_code == 422 and {"detail", "code"} <= set(bad.json())
    async with client_as("viewer") as viewer:
        assert (await viewer.get(f"/characters/{character['id']}/learning")).status_code == 200


async def test_learning_needs_a_token(anon, subject):
    """Learning is not public."""
    _, _, character = subject
    assert (await anon.get(f"/characters/{character['id']}/learning")).status_code == 401


async def test_other_characters_do_not_count(client, db, subject):
    """Decisions about another character never enter this character's learning."""
    style, project, character = subject
    other = await make_character(client, project)
    await generated(db, style, other, "rejected", reason="blur")
    body = (await client.get(f"/characters/{character['id']}/learning")).json()
    assert body["decisions"] == 0 and body["reasons"] == []


async def test_a_character_of_another_style_project(client, db):
    """A character whose project has no style still gets its rates (uploads only)."""
    project = await make_project(client)
    character = await make_character(client, project)
    image = await make_image(db, character)
    await decide(db, image, "approved")
    body = (await client.get(f"/characters/{character['id']}/learning")).json()
    assert (body["decisions"], body["approved"], body["approval_rate"], body["parameters"]) == (1, 1, 1.0, [])
