"""The trained LoRA in the kohya key format that ComfyUI's LoraLoader applies.

peft names a LoRA pair `<module>.lora_A.weight` / `<module>.lora_B.weight` with diffusers module
names; kohya (and ComfyUI) name it `lora_unet_<module with _ for .>.lora_down.weight` /
`.lora_up.weight` plus a scalar `.alpha`. Known traps, each handled here:
- the alpha written is the run's real alpha (diffusers' converter writes alpha = rank);
- transformers 5 flattens CLIPTextModel (`encoder.layers...` instead of `text_model.encoder...`):
  `text_model.` is put back, or ComfyUI would not find the text-encoder keys;
- the UNet keys are diffusers module names in kohya form (ComfyUI maps `lora_unet_down_blocks_...`
  through its diffusers-to-LDM table); diffusers-format keys (`unet.down_blocks...`) are ignored by it.
Only torch tensors and plain dicts are handled here: no model is loaded.
"""

from __future__ import annotations

# prefix per trained part: SD1.5 has one text encoder (lora_te_), SDXL two (lora_te1_ CLIP-L, lora_te2_ CLIP-G)
PREFIXES = {"unet": "lora_unet_", "text_encoder": "lora_te_", "text_encoder_sdxl": "lora_te1_",
            "text_encoder_2": "lora_te2_"}
TEXT_PARTS = ("text_encoder", "text_encoder_sdxl", "text_encoder_2")


def module_key(part: str, module: str) -> str:
    """The kohya name of one peft-wrapped module (`down_blocks.0....to_q` -> `lora_unet_down_blocks_0_..._to_q`)."""
    if part in TEXT_PARTS and not module.startswith("text_model."):
        module = "text_model." + module  # transformers 5 flattened CLIPTextModel
    return PREFIXES[part] + module.replace(".", "_")


def to_kohya(parts: dict[str, dict], alpha: float, dtype=None) -> dict:
    """kohya tensors from peft state dicts by part ({"unet": get_peft_model_state_dict(unet), ...})."""
    import torch

    out = {}
    for part, state in parts.items():
        for key, tensor in state.items():
            module, sep, rest = key.partition(".lora_")
            if not sep or rest not in ("A.weight", "B.weight"):
                raise ValueError(f"not a LoRA weight of peft: {key}")
            name = module_key(part, module)
            out[f"{name}.{'lora_down' if rest == 'A.weight' else 'lora_up'}.weight"] = (
                tensor.detach().to("cpu", dtype or tensor.dtype).contiguous())
            out[f"{name}.alpha"] = torch.tensor(float(alpha), dtype=torch.float32)
    return out


def metadata(*, rank: int, alpha: float, architecture: str, base_model: str, trigger: str | None, steps: int,
             text_encoder: bool) -> dict[str, str]:
    """kohya-style metadata (strings only), read by LoRA managers and shown by ComfyUI front ends."""
    return {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(alpha),
            "ss_base_model_version": "sdxl_base_v1-0" if architecture == "sdxl" else "sd_v1",
            "ss_sd_model_name": base_model, "ss_steps": str(steps), "ss_tag_frequency": "{}",
            "ss_network_train_unet_only": "False" if text_encoder else "True",
            "anime_studio_trigger": trigger or "", "modelspec.architecture":
                "stable-diffusion-xl-v1-base/lora" if architecture == "sdxl" else "stable-diffusion-v1/lora"}
