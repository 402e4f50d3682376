"""A base model given as one `.safetensors` file in the original (LDM) key layout: the trainer loads
it offline with `from_single_file(..., config=<local config folder>, local_files_only=True)` and gets
the very weights of the diffusers model it was written from, and a real run through the job and the
trainer child trains on it and exports a LoRA that ComfyUI maps."""

from __future__ import annotations

import json
import math
import shutil

import pytest

torch = pytest.importorskip("torch")

from packages.core.settings import Settings  # noqa: E402
from packages.lora_training import base_models, loading, runner  # noqa: E402
from tests.conftest import ADMIN_TOKEN  # noqa: E402
from tests.factories import make_character, make_project  # noqa: E402
from tests.integration.test_training_run import comfy_key_map, comfy_load, params, work  # noqa: E402
from tests.training_model import add_approved_images, build_tiny_sd15_single_file  # noqa: E402

IMAGES = 4


@pytest.fixture(scope="module")
def single_file(tmp_path_factory):
    return build_tiny_sd15_single_file(tmp_path_factory.mktemp("single") / "tiny")


@pytest.fixture
def settings(home, database_url, tmp_path) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, ANIME_STUDIO_TRAINING_MIN_IMAGES=IMAGES,
                    ANIME_STUDIO_TRAINING_THREADS=1, COMFYUI_MODELS_DIR=tmp_path / "comfy", _env_file=None)


def test_the_single_file_loads_offline_with_the_diffusers_models_weights(single_file, tmp_path):
    """The original-layout file is recognised as SD1.5 from its keys, and loading it with its config
    folder gives every UNet, VAE and text-encoder weight of the model it was written from, the
    scheduler of the config folder and CLIP's offline tokenizer."""
    checkpoint, config, states = single_file
    assert base_models.single_file_architecture(checkpoint) == "sd15"
    torch.set_num_threads(1)
    parts = loading.load({"path": str(checkpoint), "kind": "single_file", "architecture": "sd15",
                          "config": str(config)}, torch.float32, tmp_path)
    for name, model in (("unet", parts.unet), ("vae", parts.vae), ("text_encoder", parts.text_encoder)):
        loaded = model.state_dict()
        assert set(loaded) == set(states[name]), name
        different = [k for k, v in states[name].items() if not torch.equal(loaded[k], v)]
        assert different == [], f"{name}: {different[:3]}"
    assert torch.equal(parts.unet.state_dict()["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"],
                       states["unet"]["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"])
    assert type(parts.scheduler).__name__ == "DDPMScheduler" and parts.scheduler.config.beta_schedule == "scaled_linear"
    assert len(parts.tokenizer) == 49408 and parts.text_encoder_2 is None


async def test_a_run_trains_from_the_single_file_through_the_job(app, client, db, home, single_file, monkeypatch):
    """A run on `models/<file>.safetensors` goes through the job and the trainer child: every step's
    loss is finite, the LoRA is exported with the configured alpha and ComfyUI maps all its keys."""
    checkpoint, config, _ = single_file
    project = await make_project(client)
    character = await make_character(client, project)
    (home / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, home / "models" / "tiny-sd15.safetensors")
    await add_approved_images(db, home, project, character, IMAGES)
    listed = (await client.get("/training/base-models")).json()
    assert {"name": "models/tiny-sd15.safetensors", "kind": "single_file", "architecture": "sd15"}.items() <= next(
        m for m in listed if m["name"] == "models/tiny-sd15.safetensors").items()

    build_spec = runner.build_spec

    def with_config(*args):  # the tiny model's config folder instead of the shipped full-size SD1.5 one
        spec = build_spec(*args)
        spec["base"]["config"] = str(config)
        return spec

    monkeypatch.setattr(runner, "build_spec", with_config)
    body = params(character, base_model="models/tiny-sd15.safetensors", epochs=2, batch_size=2,
                  train_text_encoder=True)
    r = await client.post("/training/runs", json=body)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert await work(app, db, run_id) == "succeeded", await db.fetchval(
        "SELECT error FROM training_runs WHERE id = $1", run_id)
    run = (await client.get(f"/training/runs/{run_id}")).json()
    assert (run["step"], run["total_steps"]) == (4, 4)
    assert all(math.isfinite(p["loss"]) and p["loss"] > 0 for p in run["loss"])
    spec = json.loads((app.state.settings.output_dir / "training" / str(run_id) / "spec.json").read_text())
    assert spec["base"]["kind"] == "single_file"

    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    lora = load_file(str(home / run["output_path"]))
    unet = UNet2DConditionModel.from_config(json.loads((config / "unet" / "config.json").read_text()))
    patches, unloaded = comfy_load(lora, comfy_key_map(unet, text_layers=2))
    assert unloaded == set(), f"ComfyUI would ignore {sorted(unloaded)[:3]}"
    assert len([k for k in patches if not k.startswith("text_model.")]) == 32
    assert len([k for k in patches if k.startswith("text_model.")]) == 8
    assert set(patches.values()) == {8.0}
