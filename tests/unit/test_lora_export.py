"""The kohya export's key rules, the step plan, captions, and the offline CLIP tokenizer."""

from __future__ import annotations

import pytest
import torch

from packages.lora_training import export
from packages.lora_training.runner import caption_for
from packages.lora_training.training import Plan


def peft_pair(module: str, rank: int = 4) -> dict:
    return {f"{module}.lora_A.weight": torch.randn(rank, 8), f"{module}.lora_B.weight": torch.randn(8, rank)}


def test_unet_keys_are_kohya_names_with_the_real_alpha():
    """peft's lora_A/lora_B become lora_down/lora_up under `lora_unet_<module with _>`, and every
    module's alpha is the run's alpha (diffusers' converter would write the rank)."""
    state = peft_pair("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q")
    state |= peft_pair("mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0")
    out = export.to_kohya({"unet": state}, alpha=8.0)
    base = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    mid = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_out_0"
    assert set(out) == {f"{n}.{s}" for n in (base, mid) for s in ("lora_down.weight", "lora_up.weight", "alpha")}
    assert out[f"{base}.alpha"].item() == 8.0 and out[f"{mid}.alpha"].item() == 8.0
    assert torch.equal(out[f"{base}.lora_down.weight"],
                       state["down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight"])


@pytest.mark.parametrize("module", ["encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.0.self_attn.q_proj"])
def test_text_encoder_keys_carry_text_model_whatever_transformers_version(module):
    """transformers 5 flattens CLIPTextModel (no `text_model.`); the key ComfyUI looks for has it."""
    out = export.to_kohya({"text_encoder": peft_pair(module)}, alpha=4)
    assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight" in out


def test_sdxl_text_encoders_get_te1_and_te2():
    """SDXL's CLIP-L is lora_te1_, CLIP-G lora_te2_ (ComfyUI's SDXL names)."""
    out = export.to_kohya({"text_encoder_sdxl": peft_pair("encoder.layers.3.mlp.fc1"),
                           "text_encoder_2": peft_pair("encoder.layers.3.mlp.fc1")}, alpha=1)
    assert {k.split(".")[0] for k in out} == {"lora_te1_text_model_encoder_layers_3_mlp_fc1",
                                              "lora_te2_text_model_encoder_layers_3_mlp_fc1"}


def test_a_non_lora_key_is_refused_and_dtype_is_applied():
    """Only LoRA pairs are exported (a base weight slipping in would be a bug), in the asked dtype."""
    with pytest.raises(ValueError):
        export.to_kohya({"unet": {"conv_in.weight": torch.zeros(1)}}, alpha=1)
    out = export.to_kohya({"unet": peft_pair("a.to_k")}, alpha=2, dtype=torch.float16)
    assert out["lora_unet_a_to_k.lora_up.weight"].dtype == torch.float16
    assert out["lora_unet_a_to_k.alpha"].dtype == torch.float32


@pytest.mark.parametrize("images, batch, epochs, max_steps, total, total_epochs", [
    (10, 1, 3, None, 30, 3), (10, 4, 2, None, 6, 2), (10, 4, 10, 5, 5, 2), (3, 8, 2, None, 2, 2),
])
def test_the_plan_counts_steps_and_epochs(images, batch, epochs, max_steps, total, total_epochs):
    """Steps per epoch round up; max_steps wins over epochs and the epochs shrink to fit."""
    plan = Plan(images, batch, epochs, max_steps)
    assert (plan.total_steps, plan.total_epochs) == (total, total_epochs)


def test_captions_come_from_the_kohya_file_with_the_trigger_first(tmp_path):
    """The .txt beside the image wins, then the stored caption, then the design prompt; the trigger
    is put first unless the caption already starts with it."""
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    assert caption_for(None, image, "stored", "design", "hero") == "hero, stored"
    assert caption_for(None, image, None, "design", "hero") == "hero, design"
    image.with_suffix(".txt").write_text("Hero standing, smiling\n")
    assert caption_for(None, image, "stored", "design", "hero") == "Hero standing, smiling"
    image.with_suffix(".txt").write_text("smiling\n")
    assert caption_for(None, image, "stored", "design", "hero") == "hero, smiling"


def test_the_clip_tokenizer_is_built_offline_with_clips_real_ids(tmp_path):
    """The shipped BPE list gives CLIP's vocabulary (SD1.5 and SDXL): known ids, 49408 tokens."""
    from packages.lora_training.loading import _clip_tokenizer

    tokenizer = _clip_tokenizer(tmp_path / "tok", "<|endoftext|>")
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
