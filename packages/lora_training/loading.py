"""Loading a base model in the trainer child, offline: a diffusers folder part by part, or a
single-file `.safetensors` checkpoint with the config folder shipped in `configs/<architecture>`
(diffusers' `from_single_file(..., config=<folder>, local_files_only=True)`), the CLIP tokenizer
built from the BPE list shipped beside it. Nothing is fetched from a hub (HF_HUB_OFFLINE is set)."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"
BPE_FILE = CONFIGS / "bpe_simple_vocab_16e6.txt.gz"
CLIP_MERGES = 49152 - 256 - 2  # the merges CLIP's vocabulary uses from the list

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass
class Components:
    architecture: str  # sd15 | sdxl
    unet: object
    vae: object
    text_encoder: object
    tokenizer: object
    scheduler: object
    text_encoder_2: object | None = None
    tokenizer_2: object | None = None


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def clip_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """Writes CLIP's vocab.json and merges.txt (as SD1.5 and SDXL ship them) into `folder`, built
    from the BPE merge list the way CLIP builds its vocabulary; returns their paths."""
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    if vocab_path.is_file() and merges_path.is_file():
        return vocab_path, merges_path
    folder.mkdir(parents=True, exist_ok=True)
    lines = gzip.decompress(BPE_FILE.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:CLIP_MERGES + 1]]
    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab_path.write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    return vocab_path, merges_path


def _clip_tokenizer(folder: Path, pad_token: str):
    from transformers import CLIPTokenizer

    vocab, merges = clip_tokenizer_files(folder)
    return CLIPTokenizer(str(vocab), str(merges), pad_token=pad_token, model_max_length=77)


def load_diffusers(folder: Path, architecture: str, dtype) -> Components:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    common = {"local_files_only": True}
    parts = Components(
        architecture=architecture,
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype, **common),
        vae=AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype, **common),
        text_encoder=CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=dtype, **common),
        tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", **common),
        scheduler=DDPMScheduler.from_pretrained(folder, subfolder="scheduler", **common))
    if architecture == "sdxl":
        parts.text_encoder_2 = CLIPTextModelWithProjection.from_pretrained(folder, subfolder="text_encoder_2",
                                                                           dtype=dtype, **common)
        parts.tokenizer_2 = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer_2", **common)
    return parts


def load_single_file(path: Path, architecture: str, dtype, work: Path, config: Path | None = None) -> Components:
    """`config` is the diffusers config folder describing the checkpoint (the shipped one for its
    architecture unless given)."""
    from diffusers import DDPMScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    config = Path(config) if config else CONFIGS / architecture
    tokenizers = {"tokenizer": _clip_tokenizer(work / "tokenizer", "<|endoftext|>")}
    if architecture == "sdxl":
        tokenizers["tokenizer_2"] = _clip_tokenizer(work / "tokenizer", "!")
        pipe = StableDiffusionXLPipeline.from_single_file(str(path), config=str(config), local_files_only=True,
                                                          torch_dtype=dtype, **tokenizers)
    else:
        # no safety checker: diffusers loads one (from the hub) for any `load_safety_checker` given, even False
        pipe = StableDiffusionPipeline.from_single_file(str(path), config=str(config), local_files_only=True,
                                                        torch_dtype=dtype, safety_checker=None,
                                                        feature_extractor=None, **tokenizers)
    return Components(architecture=architecture, unet=pipe.unet, vae=pipe.vae, text_encoder=pipe.text_encoder,
                      tokenizer=pipe.tokenizer, scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
                      text_encoder_2=getattr(pipe, "text_encoder_2", None), tokenizer_2=getattr(pipe, "tokenizer_2", None))


def load(base: dict, dtype, work: Path) -> Components:
    """`base` is the run spec's {path, kind, architecture} and, for a single file, an optional `config`
    folder (diffusers component configs, no weights) to use instead of the shipped one."""
    path = Path(base["path"])
    if base["kind"] == "diffusers":
        return load_diffusers(path, base["architecture"], dtype)
    return load_single_file(path, base["architecture"], dtype, work, base.get("config"))
