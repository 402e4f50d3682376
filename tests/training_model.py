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


def build_components(seed: int = 0):
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
        vocab_size=514, hidden_size=TEXT_DIM, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, projection_dim=TEXT_DIM, bos_token_id=512, eos_token_id=513, pad_token_id=513))
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
