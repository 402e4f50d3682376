"""A tiny Stable-Diffusion-1.5-shaped model built from config with random weights at test time:
a small UNet2DConditionModel (cross-attention blocks with to_q/to_k/to_v/to_out.0), a 2-layer
CLIPTextModel, a tiny AutoencoderKL, a DDPMScheduler and a CLIPTokenizer whose byte-level vocab
is written here (no hub, no download). Saved as a diffusers folder (model_index.json + parts),
which is what a studio keeps under ANIME_STUDIO_HOME/models/."""

from __future__ import annotations

import json
from pathlib import Path

TEXT_DIM = 32
RESOLUTION = 64  # the VAE quarters it: 16x16 latents


def _bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of CLIP's byte-level BPE (GPT-2's)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer with one token per byte (and per word-final byte) and no merges."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}))


def build_components(seed: int = 0, vocab_size: int = 514):
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    # attention only at the lower resolution (8x8 tokens): a step takes milliseconds on one CPU thread
    unet = UNet2DConditionModel(
        sample_size=RESOLUTION // 4, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8, attention_head_dim=4, cross_attention_dim=TEXT_DIM,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32, 32), layers_per_block=1,
        norm_num_groups=8, sample_size=RESOLUTION, down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=TEXT_DIM, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, projection_dim=TEXT_DIM, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1))
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                              beta_end=0.012, clip_sample=False)
    return unet, vae, text_encoder, scheduler


def build_tiny_sd15(folder: Path, seed: int = 0) -> Path:
    """Writes the tiny model as a diffusers folder and returns it."""
    unet, vae, text_encoder, scheduler = build_components(seed)
    folder.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    text_encoder.save_pretrained(folder / "text_encoder")
    scheduler.save_pretrained(folder / "scheduler")
    write_tokenizer(folder / "tokenizer")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "feature_extractor": [None, None], "safety_checker": [None, None], "requires_safety_checker": False,
        "scheduler": ["diffusers", "DDPMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]}))
    return folder


if __name__ == "__main__":  # python -m tests.training_model <folder>
    import sys

    print(build_tiny_sd15(Path(sys.argv[1])))


def picture(seed: int, size: tuple[int, int] = (96, 80)) -> bytes:
    """A blocky noise picture: different seeds give unrelated images."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(size, Image.NEAREST)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def add_approved_images(db, home: Path, project: dict, character: dict, count: int, *,
                              status: str = "approved", first: int = 0) -> list[int]:
    """Dataset images (files in the kohya layout, a caption .txt beside each) and their rows."""
    import hashlib

    ids = []
    for i in range(first, first + count):
        relative = f"datasets/{project['slug']}/{character['slug']}/images/train{i:03d}.png"
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = picture(i + 1000 * character["id"])
        path.write_bytes(data)
        path.with_suffix(".txt").write_text(f"picture {i}, blocky colours\n")
        ids.append(await db.fetchval(
            "INSERT INTO images (character_id, path, sha256, width, height, source, status) "
            "VALUES ($1, $2, $3, 96, 80, 'upload', $4) RETURNING id",
            character["id"], relative, hashlib.sha256(data).hexdigest(), status))
    return ids


# -- the original (LDM / kohya) single-file layout --------------------------------------------------
# The inverse of diffusers' `single_file_utils.convert_ldm_*_checkpoint` for the tiny models' keys:
# diffusers module names -> `model.diffusion_model.` (UNet), `first_stage_model.` (VAE) and
# `cond_stage_model.transformer.text_model.` (CLIP-L), as SD1.5 checkpoints are saved.
UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
               "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
            "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
            "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}  # SDXL's text_time
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _resnet(rest: str, table: dict[str, str]) -> str:
    head, _, tail = rest.partition(".")
    return f"{table.get(head, head)}.{tail}"


def ldm_unet_key(key: str, layers_per_block: int) -> str:
    parts = key.split(".")
    module, leaf = ".".join(parts[:-1]), parts[-1]
    if module in UNET_TOP:
        return f"{UNET_TOP[module]}.{leaf}"
    if parts[0] == "mid_block":
        kind, n, rest = parts[1], int(parts[2]), ".".join(parts[3:])
        return f"middle_block.{2 * n if kind == 'resnets' else 1}." + (
            _resnet(rest, UNET_RESNET) if kind == "resnets" else rest)
    block, kind, n, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
    if parts[0] == "down_blocks":
        if kind == "downsamplers":  # down_blocks.b.downsamplers.0.conv -> input_blocks.i.0.op
            return f"input_blocks.{(layers_per_block + 1) * (block + 1)}.0.op.{leaf}"
        layer = (layers_per_block + 1) * block + n + 1
    else:
        last = (layers_per_block + 1) * block + layers_per_block
        if kind == "upsamplers":  # after the block's last resnet (and its attention, when there is one)
            return f"output_blocks.{last}.{{slot}}.conv.{leaf}"
        layer = (layers_per_block + 1) * block + n
    prefix = f"{'input_blocks' if parts[0] == 'down_blocks' else 'output_blocks'}.{layer}"
    return f"{prefix}.0.{_resnet(rest, UNET_RESNET)}" if kind == "resnets" else f"{prefix}.1.{rest}"


def ldm_vae_key(key: str, up_blocks: int) -> str:
    key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    parts = key.split(".")
    side = parts[0]
    if parts[1] == "mid_block":
        if parts[2] == "attentions":
            rest = ".".join(parts[4:])
            module, leaf = rest.rsplit(".", 1)
            return f"{side}.mid.attn_1.{VAE_ATTENTION[module]}.{leaf}"
        return f"{side}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:])
    if parts[1] in ("down_blocks", "up_blocks"):
        block = int(parts[2]) if side == "encoder" else up_blocks - 1 - int(parts[2])
        name = "down" if side == "encoder" else "up"
        if parts[3] in ("downsamplers", "upsamplers"):
            return f"{side}.{name}.{block}.{'downsample' if side == 'encoder' else 'upsample'}." + ".".join(parts[5:])
        return f"{side}.{name}.{block}.block.{parts[4]}." + ".".join(parts[5:])
    return key


def _ldm_unet_and_vae(unet, vae) -> dict:
    out = {}
    lpb = unet.config.layers_per_block
    attention_up = [t.startswith("CrossAttn") for t in unet.config.up_block_types]
    for key, tensor in unet.state_dict().items():
        name = ldm_unet_key(key, lpb).replace("{slot}", "2" if attention_up[int(key.split(".")[1]) if key.startswith(
            "up_blocks") else 0] else "1")
        out["model.diffusion_model." + name] = tensor
    for key, tensor in vae.state_dict().items():
        name = ldm_vae_key(key, len(vae.config.up_block_types))
        if ".mid.attn_1." in name and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the LDM VAE's attention projections are 1x1 convolutions
        out["first_stage_model." + name] = tensor
    return out


def _clip_l(text_encoder, prefix: str) -> dict:
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): v
            for k, v in text_encoder.state_dict().items()}


def to_ldm_sd15(unet, vae, text_encoder) -> dict:
    """The three models' weights in the original SD1.5 single-file layout."""
    out = _ldm_unet_and_vae(unet, vae) | _clip_l(text_encoder, "cond_stage_model.transformer.")
    return {k: v.contiguous() for k, v in out.items()}


OPEN_CLIP = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
             "self_attn.out_proj": "attn.out_proj"}


def _open_clip_g(encoder, prefix: str) -> dict:
    """CLIPTextModelWithProjection in OpenCLIP's layout (SDXL's `conditioner.embedders.1.model.`):
    q/k/v packed into in_proj, the projection transposed."""
    import torch

    state = {k.removeprefix("text_model."): v for k, v in encoder.state_dict().items()}
    out = {"token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
           "positional_embedding": state.pop("embeddings.position_embedding.weight"),
           "ln_final.weight": state.pop("final_layer_norm.weight"), "ln_final.bias": state.pop("final_layer_norm.bias"),
           "text_projection": state.pop("text_projection.weight").T}
    state.pop("embeddings.position_ids", None)
    for i in range(encoder.config.num_hidden_layers):
        layer = f"encoder.layers.{i}."
        for leaf in ("weight", "bias"):
            out[f"transformer.resblocks.{i}.attn.in_proj_{leaf}"] = torch.cat(
                [state.pop(f"{layer}self_attn.{p}_proj.{leaf}") for p in "qkv"])
            for ours, theirs in OPEN_CLIP.items():
                out[f"transformer.resblocks.{i}.{theirs}.{leaf}"] = state.pop(f"{layer}{ours}.{leaf}")
    assert not state, f"unmapped CLIP-G weights: {sorted(state)[:3]}"
    return {prefix + k: v for k, v in out.items()}


def to_ldm_sdxl(unet, vae, text_encoder, text_encoder_2) -> dict:
    """The four models' weights in the original SDXL single-file layout."""
    out = (_ldm_unet_and_vae(unet, vae) | _clip_l(text_encoder, "conditioner.embedders.0.transformer.")
           | _open_clip_g(text_encoder_2, "conditioner.embedders.1.model."))
    return {k: v.contiguous() for k, v in out.items()}


def build_tiny_sd15_single_file(folder: Path, seed: int = 0) -> tuple[Path, Path, dict]:
    """The tiny SD1.5 model as one original-layout `.safetensors` file plus the diffusers config folder
    that describes it (configs only, like packages/lora_training/configs/sd15). Its text encoder has
    CLIP's full vocabulary so the trainer's offline CLIP tokenizer fits it. Returns (checkpoint,
    config folder, the diffusers state dicts by part) for comparisons."""
    from safetensors.torch import save_file

    unet, vae, text_encoder, scheduler = build_components(seed, vocab_size=49408)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config"
    for name, model in (("unet", unet), ("vae", vae), ("scheduler", scheduler)):
        model.save_config(config / name)
    text_encoder.config.save_pretrained(config / "text_encoder")
    (config / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "feature_extractor": [None, None], "safety_checker": [None, None], "requires_safety_checker": False,
        "scheduler": ["diffusers", "DDPMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]}))
    checkpoint = folder / "tiny-sd15.safetensors"
    save_file(to_ldm_sd15(unet, vae, text_encoder), str(checkpoint))
    states = {"unet": unet.state_dict(), "vae": vae.state_dict(), "text_encoder": text_encoder.state_dict()}
    return checkpoint, config, states


# -- SDXL -------------------------------------------------------------------------------------------
TIME_DIM = 8  # addition_time_embed_dim: six time ids of 8 each, next to the pooled text embedding


def build_sdxl_components(seed: int = 0, vocab_size: int = 514):
    """A tiny SDXL-shaped model: a UNet with `text_time` added conditioning (pooled text embedding +
    six time ids) and cross-attention over both encoders' states concatenated, a CLIP-L-like
    CLIPTextModel and a CLIP-G-like CLIPTextModelWithProjection (2 layers each)."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    _, vae, _, scheduler = build_components(seed)
    torch.manual_seed(seed + 1)

    def text_config(hidden: int) -> CLIPTextConfig:
        return CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                              num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=77,
                              projection_dim=hidden, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
                              pad_token_id=vocab_size - 1, hidden_act="gelu")

    text_encoder = CLIPTextModel(text_config(TEXT_DIM))
    text_encoder_2 = CLIPTextModelWithProjection(text_config(2 * TEXT_DIM))
    unet = UNet2DConditionModel(
        sample_size=RESOLUTION // 4, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8, attention_head_dim=4, cross_attention_dim=3 * TEXT_DIM,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        addition_embed_type="text_time", addition_time_embed_dim=TIME_DIM,
        projection_class_embeddings_input_dim=2 * TEXT_DIM + 6 * TIME_DIM, use_linear_projection=True)
    return unet, vae, text_encoder, text_encoder_2, scheduler


def build_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """Writes the tiny SDXL model as a diffusers folder (both tokenizers the byte-level one) and returns it."""
    unet, vae, text_encoder, text_encoder_2, scheduler = build_sdxl_components(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder),
                       ("text_encoder_2", text_encoder_2), ("scheduler", scheduler)):
        part.save_pretrained(folder / name)
    write_tokenizer(folder / "tokenizer")
    write_tokenizer(folder / "tokenizer_2")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1", "force_zeros_for_empty_prompt": True,
        "scheduler": ["diffusers", "DDPMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}))
    return folder


def build_tiny_sdxl_single_file(folder: Path, seed: int = 0) -> tuple[Path, Path, dict]:
    """The tiny SDXL model as one original-layout `.safetensors` file (CLIP-L under
    conditioner.embedders.0, CLIP-G in OpenCLIP's layout under conditioner.embedders.1) and its
    config folder; both encoders have CLIP's full vocabulary. Returns (checkpoint, config, states)."""
    from safetensors.torch import save_file

    unet, vae, text_encoder, text_encoder_2, scheduler = build_sdxl_components(seed, vocab_size=49408)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config"
    for name, model in (("unet", unet), ("vae", vae), ("scheduler", scheduler)):
        model.save_config(config / name)
    for name, model in (("text_encoder", text_encoder), ("text_encoder_2", text_encoder_2)):
        model.config.save_pretrained(config / name)
    (config / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1", "force_zeros_for_empty_prompt": True,
        "scheduler": ["diffusers", "DDPMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}))
    checkpoint = folder / "tiny-sdxl.safetensors"
    save_file(to_ldm_sdxl(unet, vae, text_encoder, text_encoder_2), str(checkpoint))
    states = {"unet": unet.state_dict(), "vae": vae.state_dict(), "text_encoder": text_encoder.state_dict(),
              "text_encoder_2": text_encoder_2.state_dict()}
    return checkpoint, config, states
