"""The training API without running a trainer: base models found on disk (never outside the model
folders), readiness, launching (rules, bad input, roles), cancelling a queued run, "use" without a
LoRA, sample names, and the character's LoRAs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from packages.core.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_character, make_project
from tests.training_model import add_approved_images

MIN_IMAGES = 3


def fake_checkpoint(path: Path, keys: list[str]) -> Path:
    """A .safetensors file with the given tensor names (one float each): only its header matters here."""
    header = {k: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i, k in enumerate(keys)}
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4 * len(keys))
    return path


SD15_KEYS = ["model.diffusion_model.input_blocks.0.0.weight", "cond_stage_model.transformer.text_model.x.weight"]
SDXL_KEYS = ["model.diffusion_model.input_blocks.0.0.weight", "conditioner.embedders.1.model.x.weight"]


def diffusers_folder(path: Path, xl: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "text_encoder": ["transformers", "CLIPTextModel"]}
    if xl:
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
    (path / "model_index.json").write_text(json.dumps(index))
    return path


@pytest.fixture
def comfy(tmp_path) -> Path:
    return tmp_path / "comfy"


@pytest.fixture
def settings(home, database_url, comfy) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, ANIME_STUDIO_TRAINING_MIN_IMAGES=MIN_IMAGES,
                    COMFYUI_MODELS_DIR=comfy, _env_file=None)


@pytest.fixture
async def setup(client, db, home):
    project = await make_project(client)
    character = await make_character(client, project)
    diffusers_folder(home / "models" / "tiny-sd15")
    return project, character


def body(character: dict, **fields) -> dict:
    return {"character_id": character["id"], "base_model": "models/tiny-sd15", "rank": 4, "alpha": 4,
            "epochs": 1, "resolution": 64, **fields}


async def test_base_models_are_found_in_the_model_folders_only(client, home, comfy, tmp_path):
    """Diffusers folders and SD1.5/SDXL checkpoints under the home's models/ and ComfyUI's checkpoints/
    are listed with their kind and architecture; other safetensors, links out of the folders and
    files elsewhere are not."""
    diffusers_folder(home / "models" / "tiny-sd15")
    diffusers_folder(home / "models" / "nested" / "xl-folder", xl=True)
    fake_checkpoint(comfy / "checkpoints" / "anime-v1.safetensors", SD15_KEYS)
    fake_checkpoint(comfy / "checkpoints" / "xl" / "animagine.safetensors", SDXL_KEYS)
    fake_checkpoint(comfy / "checkpoints" / "flux.safetensors", ["double_blocks.0.img_attn.qkv.weight"])
    outside = fake_checkpoint(tmp_path / "elsewhere" / "secret.safetensors", SD15_KEYS)
    (home / "models" / "link.safetensors").symlink_to(outside)
    r = await client.get("/training/base-models")
    assert r.status_code == 200, r.text
    found = {m["name"]: m for m in r.json()}
    assert set(found) == {"models/tiny-sd15", "models/nested/xl-folder", "checkpoints/anime-v1.safetensors",
                          "checkpoints/xl/animagine.safetensors"}
    assert found["models/tiny-sd15"] == {"name": "models/tiny-sd15", "path": "models/tiny-sd15", "kind": "diffusers",
                                         "architecture": "sd15"}
    assert found["models/nested/xl-folder"]["architecture"] == "sdxl"
    assert found["checkpoints/anime-v1.safetensors"]["kind"] == "single_file"
    assert found["checkpoints/anime-v1.safetensors"]["architecture"] == "sd15"
    assert found["checkpoints/xl/animagine.safetensors"]["architecture"] == "sdxl"


async def test_readiness_counts_approved_images_against_the_minimum(client, db, home, setup):
    """Only approved images count; the message says how many more are needed."""
    project, character = setup
    await add_approved_images(db, home, project, character, 2)
    await add_approved_images(db, home, project, character, 2, status="pending", first=10)
    await add_approved_images(db, home, project, character, 1, status="rejected", first=20)
    r = await client.get("/training/readiness", params={"character_id": character["id"]})
    assert r.status_code == 200
    assert r.json() | {"message": ""} == {"character_id": character["id"], "approved": 2, "required": MIN_IMAGES,
                                          "ready": False, "message": ""}
    assert "at least 3" in r.json()["message"] and "1 more" in r.json()["message"]
    missing = await client.get("/training/readiness", params={"character_id": 999999})
    assert missing.status_code == 404 and missing.json()["code"] == "character_not_found"


async def test_launching_without_enough_images_is_a_clear_409_that_stores_nothing(client, db, home, setup):
    """Below the minimum: 409 not_enough_images naming the numbers; no run row, no job."""
    project, character = setup
    await add_approved_images(db, home, project, character, 2)
    r = await client.post("/training/runs", json=body(character))
    assert r.status_code == 409 and r.json()["code"] == "not_enough_images"
    assert "at least 3" in r.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM training_runs") == 0
    assert await db.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'training'") == 0


@pytest.mark.parametrize("fields, field", [
    ({"rank": 0}, "rank"), ({"alpha": 0}, "alpha"), ({"learning_rate": 0}, "learning_rate"),
    ({"resolution": 100}, None), ({"precision": "fp8"}, "precision"), ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"), ({"trigger": "a/b"}, "trigger"), ({"unknown": 1}, "unknown"),
    ({"max_steps": 0}, "max_steps"), ({"sample_every": -1}, "sample_every"),
])
async def test_bad_parameters_are_422_and_change_nothing(client, db, home, setup, fields, field):
    """Every parameter is range-checked; unknown fields are refused; nothing is stored."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    r = await client.post("/training/runs", json=body(character, **fields))
    assert r.status_code == 422, r.text
    if field:
        assert r.json()["field"] == field
    assert await db.fetchval("SELECT count(*) FROM training_runs") == 0


async def test_an_unknown_base_model_or_character_is_refused(client, db, home, setup):
    """A base model not listed (a path outside the model folders included) and a missing character: 422."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    for name in ("models/nope", "../../etc", "/etc/passwd"):
        r = await client.post("/training/runs", json=body(character, base_model=name))
        assert r.status_code == 422 and r.json()["code"] == "unknown_base_model", r.text
    r = await client.post("/training/runs", json=body(character) | {"character_id": 987654})
    assert r.status_code == 422 and r.json()["code"] == "character_not_found"
    assert await db.fetchval("SELECT count(*) FROM training_runs") == 0


async def test_a_run_is_queued_once_per_character(client, db, home, setup):
    """201 with the run (trigger defaulting to the character's slug) and a training job; a second
    launch while it is queued is 409 training_in_progress."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    r = await client.post("/training/runs", json=body(character))
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "queued" and run["character_name"] == character["name"]
    assert run["project_id"] == project["id"] and run["params"]["trigger"] == character["slug"]
    assert run["loss"] == [] and run["samples"] == [] and run["lora_id"] is None
    assert await db.fetchval("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'training:run' "
                             "AND (args->>'run_id')::bigint = $1", run["id"]) == 1
    again = await client.post("/training/runs", json=body(character))
    assert again.status_code == 409 and again.json()["code"] == "training_in_progress"
    listed = await client.get("/training/runs", params={"character_id": character["id"]})
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["id"] == run["id"]
    got = await client.get(f"/training/runs/{run['id']}")
    assert got.status_code == 200 and got.json()["id"] == run["id"]
    assert (await client.get("/training/runs/424242")).status_code == 404
    types = [r["type"] for r in await db.fetch("SELECT type FROM events ORDER BY id") if r["type"].startswith("train")]
    assert types == ["training.queued"]


async def test_cancelling_a_queued_run_cancels_it_at_once(client, db, home, setup):
    """A queued run is cancelled (event emitted), a cancelled one cannot be cancelled again, and the
    character can launch a new run."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    run = (await client.post("/training/runs", json=body(character))).json()
    r = await client.post(f"/training/runs/{run['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["finished_at"]
    again = await client.post(f"/training/runs/{run['id']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "run_finished"
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'training.cancelled'") == 1
    assert (await client.post("/training/runs", json=body(character))).status_code == 201


async def test_use_needs_a_lora_and_samples_need_a_valid_name(client, db, home, setup):
    """'use' on a run without a LoRA is 409 no_lora; sample names are a fixed pattern (no paths)."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    run = (await client.post("/training/runs", json=body(character))).json()
    r = await client.post(f"/training/runs/{run['id']}/use")
    assert r.status_code == 409 and r.json()["code"] == "no_lora"
    for name in ("..%2F..%2Fspec.json", "spec.json", "step-000001.png"):
        r = await client.get(f"/training/runs/{run['id']}/samples/{name}")
        assert r.status_code == 404, name
    r = await client.get(f"/characters/{character['id']}/loras")
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("reviewer", False), ("director", True)])
async def test_writes_need_the_director_role(client_as, db, home, setup, role, allowed):
    """Reading is open to every token; launching, cancelling and 'use' need a director (or admin)."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    async with client_as(role) as c:
        assert (await c.get("/training/base-models")).status_code == 200
        assert (await c.get("/training/runs")).status_code == 200
        r = await c.post("/training/runs", json=body(character))
        assert (r.status_code == 201) is allowed and (r.status_code == 403) is (not allowed), r.text
        if not allowed:
            assert await db.fetchval("SELECT count(*) FROM training_runs") == 0


async def test_every_route_needs_a_token(anon):
    """No token, no training data."""
    for path in ("/training/base-models", "/training/runs", "/training/readiness?character_id=1",
                 "/characters/1/loras"):
        assert (await anon.get(path)).status_code == 401
    assert (await anon.post("/training/runs", json={})).status_code == 401


async def run_training_queue(app) -> None:
    await app.state.job_app.run_worker_async(queues=["training"], wait=False, install_signal_handlers=False,
                                             fetch_job_polling_interval=0.05, concurrency=1)


async def test_the_job_of_a_cancelled_run_does_nothing(app, client, db, home, setup):
    """A run cancelled while queued stays cancelled when its job comes round: no trainer, no event."""
    project, character = setup
    await add_approved_images(db, home, project, character, MIN_IMAGES)
    run = (await client.post("/training/runs", json=body(character))).json()
    await client.post(f"/training/runs/{run['id']}/cancel")
    await run_training_queue(app)
    row = await db.fetchrow("SELECT status, attempts, started_at FROM training_runs WHERE id = $1", run["id"])
    assert (row["status"], row["attempts"], row["started_at"]) == ("cancelled", 0, None)
    assert await db.fetchval("SELECT count(*) FROM events WHERE type LIKE 'training.%'") == 2  # queued, cancelled


async def test_a_run_whose_images_vanished_fails_with_a_clear_error(app, client, db, home, setup):
    """Approved rows whose files are gone do not count: the job fails the run saying how many are on
    disk, without starting a trainer."""
    project, character = setup
    ids = await add_approved_images(db, home, project, character, MIN_IMAGES)
    run = (await client.post("/training/runs", json=body(character))).json()
    (home / await db.fetchval("SELECT path FROM images WHERE id = $1", ids[0])).unlink()
    await run_training_queue(app)
    got = (await client.get(f"/training/runs/{run['id']}")).json()
    assert got["status"] == "failed" and got["error"] == "Only 2 approved images are on disk; training needs 3"
    assert got["log_tail"] == [] and got["finished_at"]
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'training.failed'") == 1
