"""SDXL training in-process on a tiny SDXL-shaped model: two text encoders (CLIP-L states and CLIP-G
states concatenated, CLIP-G's pooled projection), the six time ids, LoRA on the UNet and both
encoders; the kohya export names them lora_unet_ / lora_te1_ / lora_te2_ as ComfyUI maps SDXL."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from packages.lora_training import base_models, loading  # noqa: E402
from packages.lora_training.training import Trainer  # noqa: E402
from tests.integration.test_training_run import LORA_CLIP_MAP, comfy_load  # noqa: E402
from tests.training_model import TEXT_DIM, build_tiny_sdxl, build_tiny_sdxl_single_file, picture  # noqa: E402

RANK, ALPHA = 4, 2


def make_trainer(folder, base: dict, epochs: int = 3) -> Trainer:
    images = []
    for i in range(2):
        (folder / f"{i}.png").write_bytes(picture(i))
        images.append({"path": str(folder / f"{i}.png"), "caption": f"hero, picture {i}"})
    spec = {"work_dir": str(folder), "images": images, "trigger": "hero", "sample_prompt": "hero", "sample_steps": 2,
            "output_name": "lora.safetensors", "base": {"name": "models/tiny-sdxl", "architecture": "sdxl", **base},
            "params": {"rank": RANK, "alpha": ALPHA, "learning_rate": 1e-2, "epochs": epochs, "max_steps": None,
                       "batch_size": 1, "resolution": 64, "train_text_encoder": True, "seed": 3, "precision": "fp32",
                       "sample_every": 0}}
    torch.set_num_threads(1)
    events = []
    t = Trainer(spec, lambda event, **fields: events.append({"event": event, **fields}), lambda: False)
    t.prepare()
    t.events = events
    return t


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdxl")
    return make_trainer(folder, {"path": str(build_tiny_sdxl(folder / "tiny-sdxl")), "kind": "diffusers"})


def comfy_sdxl_key_map(unet, text_layers: int) -> dict[str, str]:
    """ComfyUI's LoRA key names for SDXL (comfy/lora.py): `lora_unet_` + the diffusers UNet weight
    names with '.' -> '_' (its unet_to_diffusers table), `lora_te1_text_model_encoder_layers_...`
    for clip_l and `lora_te2_...` for clip_g."""
    keys = {"lora_unet_" + k[:-len(".weight")].replace(".", "_"): k for k in unet.state_dict() if k.endswith(".weight")}
    for b in range(text_layers):
        for c, part in LORA_CLIP_MAP.items():
            for n, clip in ((1, "clip_l"), (2, "clip_g")):
                keys[f"lora_te{n}_text_model_encoder_layers_{b}_{part}"] = \
                    f"{clip}.transformer.text_model.encoder.layers.{b}.{c}.weight"
    return keys


def test_the_sdxl_conditioning_uses_both_encoders_the_pooled_embedding_and_the_time_ids(trainer):
    """The UNet attends over both encoders' penultimate states concatenated, gets CLIP-G's pooled
    projection and six time ids; LoRA parameters of the UNet and of both encoders get gradients,
    nothing else does."""
    hidden, pooled = trainer.conditioning(torch.tensor([0]))
    assert hidden.shape == (1, 77, 3 * TEXT_DIM) and pooled.shape == (1, 2 * TEXT_DIM)
    loss = trainer.loss(torch.tensor([0, 1]))
    loss.backward()
    parts = {"unet": trainer.parts.unet, "te1": trainer.parts.text_encoder, "te2": trainer.parts.text_encoder_2}
    for name, model in parts.items():
        with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
        assert with_grad and all(".lora_" in n for n in with_grad), name
        assert {n for n, p in model.named_parameters() if p.requires_grad} == with_grad, name
    assert trainer.parts.unet.add_embedding.linear_1.in_features == 2 * TEXT_DIM + 6 * 8
    trainer.optimizer.zero_grad(set_to_none=True)


def test_a_short_sdxl_run_exports_te1_te2_and_unet_keys_that_comfyui_maps(trainer):
    """6 real steps (3 epochs of 2 images) with finite losses, a sample drawn through the SDXL
    pipeline, and a kohya file whose every key ComfyUI's SDXL map takes: UNet attention projections,
    CLIP-L as lora_te1_ and CLIP-G as lora_te2_ (told apart by their widths), all at the run's alpha,
    and no all-zero (never trained) pair."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    assert trainer.run() == "done"
    steps = [e for e in trainer.events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6] and all(math.isfinite(e["loss"]) for e in steps)
    trainer.sample()
    assert (trainer.work / "samples" / "step-000006.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path = trainer.export()
    lora = load_file(str(path))
    from diffusers import UNet2DConditionModel

    plain = UNet2DConditionModel.from_config(trainer.parts.unet.config)  # the base UNet's names, no adapters
    patches, unloaded = comfy_load(lora, comfy_sdxl_key_map(plain, text_layers=2))
    assert unloaded == set(), f"ComfyUI would ignore {sorted(unloaded)[:3]}"
    unet = [k for k in patches if not k.startswith("clip_")]
    assert len(unet) == 4 * 2 * 2 * 2  # to_q/k/v/out.0 x attn1/attn2 x 2 transformer blocks, 2 blocks
    # q/k/v/out_proj of CLIP-L's first layer (SDXL reads its penultimate state: the last is not trained)
    assert sorted(k for k in patches if k.startswith("clip_l.")) == sorted(
        f"clip_l.transformer.text_model.encoder.layers.0.self_attn.{p}.weight" for p in ("q_proj", "k_proj", "v_proj",
                                                                                         "out_proj"))
    assert len([k for k in patches if k.startswith("clip_g.")]) == 2 * 4
    assert set(patches.values()) == {float(ALPHA)}, "the alpha written is the run's alpha, not the rank"
    downs = {k.split("_text_model")[0]: v.shape for k, v in lora.items() if k.endswith("q_proj.lora_down.weight")}
    assert downs == {"lora_te1": (RANK, TEXT_DIM), "lora_te2": (RANK, 2 * TEXT_DIM)}
    cross = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"
    assert lora[cross].shape == (RANK, 3 * TEXT_DIM)
    assert all(lora[k].abs().max() > 0 for k in lora if k.endswith("lora_up.weight")), "an untrained pair"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["ss_base_model_version"] == "sdxl_base_v1-0" and meta["ss_network_alpha"] == str(ALPHA)


def test_an_sdxl_single_file_loads_with_its_weights_and_trains(tmp_path):
    """An original-layout SDXL file (CLIP-L under conditioner.embedders.0, OpenCLIP-layout CLIP-G under
    conditioner.embedders.1) is recognised as SDXL, loads offline with its config folder into the very
    weights it was written from, and two training steps from it give finite losses."""
    checkpoint, config, states = build_tiny_sdxl_single_file(tmp_path / "tiny")
    assert base_models.single_file_architecture(checkpoint) == "sdxl"
    torch.set_num_threads(1)
    base = {"path": str(checkpoint), "kind": "single_file", "config": str(config)}
    parts = loading.load({**base, "architecture": "sdxl"}, torch.float32, tmp_path / "work")
    for name, expected in states.items():
        loaded = getattr(parts, name).state_dict()
        assert set(loaded) == set(expected), name
        assert [k for k, v in expected.items() if not torch.equal(loaded[k], v)] == [], name
    assert len(parts.tokenizer) == len(parts.tokenizer_2) == 49408 and parts.tokenizer_2.pad_token == "!"
    trainer = make_trainer(tmp_path, base, epochs=1)
    assert trainer.run() == "done"
    assert [e["step"] for e in trainer.events if e["event"] == "step"] == [1, 2]
    assert all(math.isfinite(e["loss"]) for e in trainer.events if e["event"] == "step")
