"""Real LoRA training on the tiny SD1.5-shaped model, through the API, the procrastinate job and the
trainer child process: the run's row and events, the kohya export (keys, real alpha, ComfyUI's
naming rules for the UNet and the text encoder), the file where ComfyUI reads it, reloading it into
a fresh diffusers pipeline, generation picking the LoRA up; cancel, a crashed child, and a resume
from the last epoch checkpoint after the job was interrupted."""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal

import pytest

from packages.core.settings import Settings
from packages.lora_training import runner
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_character, make_project, make_style
from tests.training_model import add_approved_images, build_tiny_sd15

IMAGES = 4
TERMINAL = ("succeeded", "failed", "cancelled")
# ComfyUI's LORA_CLIP_MAP (comfy/lora.py): text-encoder module -> the kohya name part
LORA_CLIP_MAP = {"mlp.fc1": "mlp_fc1", "mlp.fc2": "mlp_fc2", "self_attn.k_proj": "self_attn_k_proj",
                 "self_attn.q_proj": "self_attn_q_proj", "self_attn.v_proj": "self_attn_v_proj",
                 "self_attn.out_proj": "self_attn_out_proj"}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_sd15(tmp_path_factory.mktemp("tiny") / "tiny-sd15")


@pytest.fixture
def comfy(tmp_path):
    return tmp_path / "comfy"


@pytest.fixture
def settings(home, database_url, comfy) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, ANIME_STUDIO_TRAINING_MIN_IMAGES=IMAGES,
                    ANIME_STUDIO_TRAINING_THREADS=1, ANIME_STUDIO_TRAINING_CANCEL_GRACE_S=5,
                    COMFYUI_MODELS_DIR=comfy, _env_file=None)


@pytest.fixture
async def setup(client, db, home, tiny_model):
    project = await make_project(client)
    character = await make_character(client, project)
    shutil.copytree(tiny_model, home / "models" / "tiny-sd15")
    await add_approved_images(db, home, project, character, IMAGES)
    return project, character


def params(character: dict, **fields) -> dict:
    return {"character_id": character["id"], "base_model": "models/tiny-sd15", "rank": 4, "alpha": 8,
            "learning_rate": 1e-3, "epochs": 6, "batch_size": 1, "resolution": 64, "seed": 7, **fields}


async def work(app, db, run_id: int, timeout: float = 180) -> str:
    """Runs the training queue with the real procrastinate worker until the run has finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await app.state.job_app.run_worker_async(queues=["training"], wait=False, install_signal_handlers=False,
                                                 fetch_job_polling_interval=0.05, concurrency=1)
        status = await db.fetchval("SELECT status FROM training_runs WHERE id = $1", run_id)
        if status in TERMINAL:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the training run did not finish")


async def wait_for(db, sql: str, *args, timeout: float = 90):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await db.fetchval(sql, *args):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {sql}")


def child_pid(log_tail: list[str]) -> int:
    return next(json.loads(line)["pid"] for line in log_tail if line.startswith('{"event": "start"'))


def comfy_key_map(unet, text_layers: int) -> dict[str, str]:
    """ComfyUI's LoRA key names for an SD1.5 model (comfy/lora.py): `lora_unet_` + every diffusers
    UNet weight name with '.' -> '_' (through unet_to_diffusers), and
    `lora_te_text_model_encoder_layers_{b}_{LORA_CLIP_MAP[c]}` for the CLIP-L layers."""
    keys = {"lora_unet_" + k[:-len(".weight")].replace(".", "_"): k for k in unet.state_dict() if k.endswith(".weight")}
    for b in range(text_layers):
        for c, part in LORA_CLIP_MAP.items():
            keys[f"lora_te_text_model_encoder_layers_{b}_{part}"] = f"text_model.encoder.layers.{b}.{c}.weight"
    return keys


def comfy_load(lora: dict, key_map: dict[str, str]) -> tuple[dict, set]:
    """What ComfyUI's load_lora takes from the file: (patched weight -> alpha) and the keys it did not load."""
    patches, loaded = {}, set()
    for name, target in key_map.items():
        if f"{name}.lora_up.weight" in lora:
            alpha = lora[f"{name}.alpha"].item() if f"{name}.alpha" in lora else None
            patches[target] = alpha
            loaded |= {f"{name}.lora_up.weight", f"{name}.lora_down.weight", f"{name}.alpha"}
    return patches, set(lora) - loaded


async def test_a_real_run_trains_exports_kohya_and_is_used_for_generation(app, client, db, home, comfy, setup,
                                                                          tiny_model):
    """24 real steps in the trainer child: finite losses on the row, samples served, a kohya LoRA with
    the configured alpha whose every key ComfyUI maps (UNet and text encoder), written to output/loras
    and ComfyUI's loras folder, registered and active; it changes a fresh pipeline's output; and
    generation then loads it with its trigger word."""
    project, character = setup
    r = await client.post("/training/runs", json=params(character, train_text_encoder=True, sample_every=12))
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert await work(app, db, run_id) == "succeeded", await db.fetchval(
        "SELECT error FROM training_runs WHERE id = $1", run_id)
    run = (await client.get(f"/training/runs/{run_id}")).json()
    assert (run["step"], run["total_steps"], run["epoch"], run["total_epochs"]) == (24, 24, 6, 6)
    assert [p["step"] for p in run["loss"]] == list(range(1, 25))
    assert all(math.isfinite(p["loss"]) and p["loss"] > 0 for p in run["loss"])
    assert [s["step"] for s in run["samples"]] == [12, 24]
    sample = await client.get(run["samples"][0]["url"])
    assert sample.status_code == 200 and sample.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert run["peak_memory_mb"] > 0 and run["error"] is None and run["eta_s"] is None
    name = f"{project['slug']}_{character['slug']}_run{run_id}.safetensors"
    assert run["output_path"] == f"output/loras/{name}"
    exported = home / run["output_path"]
    assert (comfy / "loras" / name).read_bytes() == exported.read_bytes()

    loras = (await client.get(f"/characters/{character['id']}/loras")).json()
    assert len(loras) == 1 and loras[0]["id"] == run["lora_id"] and loras[0]["active"] is True
    assert (loras[0]["name"], loras[0]["trigger"], loras[0]["rank"], loras[0]["alpha"], loras[0]["architecture"]) == (
        name, character["slug"], 4, 8.0, "sd15")
    assert await db.fetchval("SELECT lora_id FROM characters WHERE id = $1", character["id"]) == run["lora_id"]
    used = await client.post(f"/training/runs/{run_id}/use")
    assert used.status_code == 200 and used.json()["active"] is True

    types = [t for (t,) in await db.fetch("SELECT type FROM events WHERE type LIKE 'training.%' ORDER BY id")]
    assert types[:2] == ["training.queued", "training.started"] and types[-1] == "training.completed"
    assert types.count("training.sample") == 2 and 1 <= types.count("training.progress") <= 24
    payloads = await db.fetch("SELECT payload, project_id FROM events WHERE type LIKE 'training.%'")
    assert all(p["project_id"] == project["id"] and p["payload"]["character_id"] == character["id"]
               and p["payload"]["run_id"] == run_id for p in payloads)

    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file

    lora = load_file(str(exported))
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model, safety_checker=None, requires_safety_checker=False)
    patches, unloaded = comfy_load(lora, comfy_key_map(pipe.unet, text_layers=2))
    assert unloaded == set(), f"ComfyUI would ignore {sorted(unloaded)[:3]}"
    unet_targets = [k for k in patches if not k.startswith("text_model.")]
    assert len(unet_targets) == 4 * 2 * 2 * 2  # to_q/k/v/out.0 x attn1/attn2 x 2 transformer blocks, 2 blocks
    assert {k.rsplit(".", 2)[-2] for k in unet_targets} == {"to_q", "to_k", "to_v", "0"}
    text_targets = [k for k in patches if k.startswith("text_model.")]
    assert len(text_targets) == 2 * 4  # q/k/v/out_proj of both layers
    assert set(patches.values()) == {8.0}, "the alpha written is the run's alpha, not the rank"
    assert all(lora[k].shape[0] == 4 for k in lora if k.endswith("lora_down.weight"))

    pipe.set_progress_bar_config(disable=True)

    def render():
        return pipe("x", num_inference_steps=2, height=64, width=64, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images

    before = render()
    pipe.load_lora_weights(str(exported))
    after = render()
    assert abs(after - before).max() > 1e-4, "the LoRA reloaded into a fresh pipeline changes nothing"

    from packages.visual_pipeline.recipe import build_recipe

    style = await make_style(client, architecture="sd15", checkpoint="tiny.safetensors")
    await client.patch(f"/projects/{project['id']}", json={"default_style_id": style["id"]})
    gen = {"id": 1, "kind": "image", "project_id": project["id"], "character_id": character["id"]}
    recipe = await build_recipe(db, app.state.settings, gen, {"seed": 1, "width": 512, "height": 512,
                                                              "ip_adapter": False})
    loaders = [n for n in recipe.built.workflow.values() if n["class_type"] == "LoraLoader"]
    assert [n["inputs"]["lora_name"] for n in loaders] == [name]
    texts = [n["inputs"]["text"] for n in recipe.built.workflow.values() if n["class_type"] == "CLIPTextEncode"]
    assert any(character["slug"] in t for t in texts)


async def test_cancel_stops_the_trainer_cleanly(app, client, db, setup):
    """Cancelling a running run stops the child (SIGTERM, it stops after its step), marks the run
    cancelled with an event, registers no LoRA, and the character can train again."""
    project, character = setup
    run_id = (await client.post("/training/runs", json=params(character, max_steps=100_000, epochs=1000))).json()["id"]
    worker = asyncio.create_task(work(app, db, run_id))
    await wait_for(db, "SELECT step >= 2 FROM training_runs WHERE id = $1", run_id)
    r = await client.post(f"/training/runs/{run_id}/cancel")
    assert r.status_code == 200
    assert await asyncio.wait_for(worker, 60) == "cancelled"
    run = (await client.get(f"/training/runs/{run_id}")).json()
    assert run["finished_at"] and run["lora_id"] is None and run["output_path"] is None
    assert any('"event": "stopped"' in line for line in run["log_tail"])
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid(run["log_tail"]), 0)
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'training.cancelled'") == 1
    assert await db.fetchval("SELECT count(*) FROM loras") == 0
    assert (await client.post("/training/runs", json=params(character))).status_code == 201


async def test_a_crashed_trainer_fails_the_run_with_its_last_lines(app, client, db, setup):
    """A child killed mid-run (as by the OOM killer) fails the run with its exit status and log lines."""
    project, character = setup
    run_id = (await client.post("/training/runs", json=params(character, max_steps=100_000, epochs=1000))).json()["id"]
    worker = asyncio.create_task(work(app, db, run_id))
    await wait_for(db, "SELECT step >= 1 FROM training_runs WHERE id = $1", run_id)
    tail = await db.fetchval("SELECT log_tail FROM training_runs WHERE id = $1", run_id)
    os.kill(child_pid(tail), signal.SIGKILL)
    assert await asyncio.wait_for(worker, 60) == "failed"
    run = (await client.get(f"/training/runs/{run_id}")).json()
    assert "exit status -9" in run["error"] and run["log_tail"] and run["finished_at"]
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'training.failed'") == 1


async def test_an_interrupted_job_resumes_from_the_last_epoch_checkpoint(app, client, db, setup):
    """The job stops after a checkpoint (its worker shut down); the retried job resumes from that
    epoch, repeats no recorded step and finishes the run."""
    project, character = setup
    run_id = (await client.post("/training/runs", json=params(character, epochs=4, batch_size=2))).json()["id"]
    first = asyncio.create_task(runner.execute(run_id))  # the job's body, as the first worker runs it
    await wait_for(db, "SELECT epoch >= 2 FROM training_runs WHERE id = $1", run_id)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await db.fetchval("SELECT status FROM training_runs WHERE id = $1", run_id) == "running"
    assert await work(app, db, run_id) == "succeeded"  # the queued job, as the retry runs it
    run = (await client.get(f"/training/runs/{run_id}")).json()
    steps = [p["step"] for p in run["loss"]]
    assert steps == list(range(1, 9)) and run["step"] == 8
    started = [row["payload"] for row in await db.fetch(
        "SELECT payload FROM events WHERE type = 'training.started' ORDER BY id")]
    assert len(started) == 2 and started[0]["resumed_from_step"] == 0 and started[1]["resumed_from_step"] >= 4
    assert started[1]["resumed_from_step"] % 2 == 0
    assert run["lora_id"] is not None
