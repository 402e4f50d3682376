"""The workflow builder: fills the API-format templates in `workflows/` for one generation.

Pure functions: the only I/O is reading each template (and its `<name>.requires.json`) once.
Every build deep-copies its template, so the cached templates are never changed and node ids
stay those of the file; `workflows/README.md` documents the template format.

Rules:
- Prompts, checkpoint, cfg, steps, sampler, scheduler and size come only from the BuiltPrompt
  (packages/characters/prompt.py, the single source of truth); there are no per-character
  overrides. An image size override (the out-of-memory retry) must be a multiple of 8; a video
  size override is rounded down to the engine's step (LTX 32, FramePack 16).
- LoRAs are chained after the checkpoint (node ids "101", "102", ...); every input that took the
  checkpoint's MODEL or CLIP takes the last LoRA's instead. No LoRA, no LoraLoader node.
- IP-Adapter (cubiq's pack) conditions txt2img on the character's reference image(s) with the
  template's settings (PLUS preset, weight 0.7, end_at 0.85). It is left out for a shot with
  several characters, without a reference image, or for an architecture the pack does not
  support (flux); `BuiltWorkflow.ip_adapter` says whether it was applied.
- `requires` is computed from the finished graph: every class_type in it, and every model file
  it names (plus the files IPAdapterUnifiedLoader finds by itself), so the dispatcher can route
  the prompt to a backend that has them all (`missing_requirements`).
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packages.characters.prompt import BuiltPrompt, dedupe, split_terms

WORKFLOWS_DIR = Path(__file__).with_name("workflows")
TEMPLATES = ("txt2img", "img2img", "framepack_i2v", "ltx_i2v")
VIDEO_TEMPLATES = {"framepack": "framepack_i2v", "ltx": "ltx_i2v"}

LORA_NODE_BASE = 100  # the i-th LoRA (1-based) is node str(100 + i)
EXTRA_REFERENCE_BASE = 300  # reference images after the first: LoadImage str(300 + i) ...
IMAGE_BATCH_BASE = 400  # ... batched onto the first by ImageBatch str(400 + i)
MAX_SEED = 2**64 - 1  # KSampler / SamplerCustom / FramePackSampler accept 0 .. 2^64-1
IMAGE_SIZE_STEP = 8
MIN_SIZE = 64

FOLDER_NOUNS = {
    "checkpoints": "checkpoint",
    "loras": "LoRA",
    "diffusion_models": "diffusion model",
    "text_encoders": "text encoder",
    "clip_vision": "CLIP vision model",
    "vae": "VAE",
    "ipadapter": "IP-Adapter model",
}

Link = list  # ["node_id", output_index]


@dataclass
class Requirements:
    """What a backend must have to run a workflow: node classes and model files per folder."""

    node_classes: set[str] = field(default_factory=set)
    models: dict[str, set[str]] = field(default_factory=dict)

    def add_model(self, folder: str, name: str) -> None:
        self.models.setdefault(folder, set()).add(name)

    def as_dict(self) -> dict[str, Any]:
        return {"node_classes": sorted(self.node_classes),
                "models": {folder: sorted(names) for folder, names in sorted(self.models.items())}}


@dataclass
class BuiltWorkflow:
    workflow: dict[str, Any]  # API format, ready to be the `prompt` of POST /prompt
    requires: Requirements
    engine: str  # txt2img | img2img | framepack | ltx
    output_nodes: list[str]  # the save nodes whose /history outputs are the results
    fps: float | None = None  # videos: the rate the file is encoded at
    ip_adapter: bool = False  # txt2img: whether IP-Adapter conditioning was applied


@dataclass(frozen=True)
class Template:
    name: str
    graph: dict[str, Any]  # never mutated: builds work on a deep copy
    meta: dict[str, Any]  # the parsed <name>.requires.json


@functools.cache
def load_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ValueError(f"unknown workflow template {name!r}")
    graph = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    meta = json.loads((WORKFLOWS_DIR / f"{name}.requires.json").read_text(encoding="utf-8"))
    return Template(name, graph, meta)


# ---------------------------------------------------------------------------- graph helpers

def is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


def _split(path: str) -> tuple[str, str]:
    """"7.filename_prefix" -> ("7", "filename_prefix"); "14.format.codec" -> ("14", "format.codec")."""
    node, _, name = path.partition(".")
    return node, name


def _param_paths(meta: Mapping[str, Any], param: str) -> list[str]:
    paths = meta["params"][param]
    return [paths] if isinstance(paths, str) else list(paths)


def _set(wf: dict[str, Any], meta: Mapping[str, Any], param: str, value: Any) -> None:
    for path in _param_paths(meta, param):
        node, name = _split(path)
        wf[node]["inputs"][name] = value


def _repoint(wf: dict[str, Any], old: Sequence, new: Sequence) -> None:
    """Every input linked to output `old` is linked to `new` instead."""
    for node in wf.values():
        for name, value in node["inputs"].items():
            if is_link(value) and value[0] == old[0] and value[1] == old[1]:
                node["inputs"][name] = [new[0], new[1]]


def _start(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    template = load_template(name)
    return copy.deepcopy(template.graph), template.meta


# ---------------------------------------------------------------------------- validation

def _seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..2^64-1, got {seed!r}")
    return seed


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty file name, got {value!r}")
    return value


def _prefix(prefix: str) -> str:
    """ComfyUI refuses to save outside its output folder; refuse such a prefix here already."""
    _name(prefix, "filename_prefix")
    if prefix.startswith(("/", "\\")) or ".." in prefix.replace("\\", "/").split("/"):
        raise ValueError(f"filename_prefix must stay inside the output folder, got {prefix!r}")
    return prefix


def _dimension(value: int, step: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_SIZE or value % step:
        raise ValueError(f"{what} must be a multiple of {step} of at least {MIN_SIZE}, got {value!r}")
    return value


def _round_down(value: int, step: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_SIZE:
        raise ValueError(f"{what} must be an integer of at least {MIN_SIZE}, got {value!r}")
    return value // step * step  # MIN_SIZE is a multiple of every step


def _positive_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


# ---------------------------------------------------------------------------- LoRA and IP-Adapter

def _insert_loras(wf: dict[str, Any], chain: Mapping[str, Any], loras: Iterable[tuple[str, float]]) -> None:
    """Chain LoraLoader nodes after `chain["after"]` and move its MODEL/CLIP consumers to the end."""
    loras = list(loras)
    if not loras:
        return
    base, model_out, clip_out = chain["after"], chain["model_output"], chain["clip_output"]
    consumers = [(node_id, name, value[1]) for node_id, node in wf.items()
                 for name, value in node["inputs"].items()
                 if is_link(value) and value[0] == base and value[1] in (model_out, clip_out)]
    model: Link = [base, model_out]
    clip: Link = [base, clip_out]
    for i, lora in enumerate(loras, 1):
        lora_name, strength = lora
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not -100 <= strength <= 100:
            raise ValueError(f"LoRA strength must be a number in -100..100, got {strength!r}")
        node_id = str(LORA_NODE_BASE + i)
        wf[node_id] = {"class_type": "LoraLoader", "inputs": {
            "model": model, "clip": clip, "lora_name": _name(lora_name, "LoRA name"),
            "strength_model": float(strength), "strength_clip": float(strength)}}
        model, clip = [node_id, 0], [node_id, 1]
    for node_id, name, output in consumers:
        end = model if output == model_out else clip
        wf[node_id]["inputs"][name] = [end[0], end[1]]


def _remove_ip_adapter(wf: dict[str, Any], spec: Mapping[str, Any]) -> None:
    for node_id, passthrough in spec["bypass"]:  # IPAdapterAdvanced, then its loader: MODEL in = MODEL out
        _repoint(wf, [node_id, 0], wf[node_id]["inputs"][passthrough])
    for node_id in spec["nodes"]:
        del wf[node_id]


def _apply_ip_adapter(wf: dict[str, Any], spec: Mapping[str, Any], images: Sequence[str],
                      family: str | None) -> bool:
    if not images or family is None:
        _remove_ip_adapter(wf, spec)
        return False
    load_id, image_input = _split(spec["reference_image"])
    wf[load_id]["inputs"][image_input] = _name(images[0], "reference image")
    batch: Link = [load_id, 0]
    for i, image in enumerate(images[1:], 1):  # several references: one IMAGE batch
        extra_id, batch_id = str(EXTRA_REFERENCE_BASE + i), str(IMAGE_BATCH_BASE + i)
        wf[extra_id] = copy.deepcopy(wf[load_id])
        wf[extra_id]["inputs"][image_input] = _name(image, "reference image")
        wf[batch_id] = {"class_type": "ImageBatch", "inputs": {"image1": batch, "image2": [extra_id, 0]}}
        batch = [batch_id, 0]
    node_id, name = _split(spec["image_input"])
    wf[node_id]["inputs"][name] = batch
    return True


def _requirements(wf: Mapping[str, Any], meta: Mapping[str, Any]) -> Requirements:
    req = Requirements(node_classes={node["class_type"] for node in wf.values()})
    for key, folder in meta["models"].items():
        if key == "lora":
            for node in wf.values():
                if node["class_type"] == "LoraLoader":
                    req.add_model(folder, node["inputs"]["lora_name"])
            continue
        node_id, name = _split(key)
        if node_id in wf:
            req.add_model(folder, wf[node_id]["inputs"][name])
    return req


# ---------------------------------------------------------------------------- images

def _fill_image(wf: dict[str, Any], meta: Mapping[str, Any], prompt: BuiltPrompt, *, seed: int,
                loras: Iterable[tuple[str, float]], filename_prefix: str) -> None:
    _set(wf, meta, "checkpoint", _name(prompt.checkpoint, "checkpoint"))
    _set(wf, meta, "positive", prompt.positive)
    _set(wf, meta, "negative", prompt.negative)
    _set(wf, meta, "seed", _seed(seed))
    _set(wf, meta, "steps", _positive_int(prompt.steps, "steps"))
    _set(wf, meta, "cfg", float(prompt.cfg))
    _set(wf, meta, "sampler", prompt.sampler)
    _set(wf, meta, "scheduler", prompt.scheduler)
    _set(wf, meta, "filename_prefix", _prefix(filename_prefix))
    _insert_loras(wf, meta["lora_chain"], loras)


def build_image_workflow(prompt: BuiltPrompt, *, seed: int, loras: Iterable[tuple[str, float]] = (),
                         reference_images: Sequence[str] = (), multi_character: bool = False,
                         width: int | None = None, height: int | None = None, batch_size: int = 1,
                         filename_prefix: str) -> BuiltWorkflow:
    """txt2img at the style's size (or the given one, a multiple of 8), with the character's LoRAs
    and, for a single-character shot with reference images, IP-Adapter."""
    wf, meta = _start("txt2img")
    _fill_image(wf, meta, prompt, seed=seed, loras=loras, filename_prefix=filename_prefix)
    _set(wf, meta, "width", _dimension(prompt.width if width is None else width, IMAGE_SIZE_STEP, "width"))
    _set(wf, meta, "height", _dimension(prompt.height if height is None else height, IMAGE_SIZE_STEP, "height"))
    _set(wf, meta, "batch_size", _positive_int(batch_size, "batch_size"))

    spec = meta["ip_adapter"]
    family = None if multi_character else spec["families"].get(prompt.architecture)
    applied = _apply_ip_adapter(wf, spec, list(reference_images), family)
    requires = _requirements(wf, meta)
    if applied:
        for folder, name in spec["models"][family].items():
            requires.add_model(folder, name)
    return BuiltWorkflow(wf, requires, "txt2img", list(meta["output_nodes"]), ip_adapter=applied)


def build_img2img_workflow(prompt: BuiltPrompt, *, image_name: str, denoise: float, seed: int,
                           loras: Iterable[tuple[str, float]] = (), filename_prefix: str) -> BuiltWorkflow:
    """Re-draw an uploaded image (its size is kept) with 0 < denoise < 1."""
    if isinstance(denoise, bool) or not isinstance(denoise, int | float) or not 0 < denoise < 1:
        raise ValueError(f"img2img denoise must be between 0 and 1 (exclusive), got {denoise!r}")
    wf, meta = _start("img2img")
    _fill_image(wf, meta, prompt, seed=seed, loras=loras, filename_prefix=filename_prefix)
    _set(wf, meta, "image", _name(image_name, "image_name"))
    _set(wf, meta, "denoise", float(denoise))
    return BuiltWorkflow(wf, _requirements(wf, meta), "img2img", list(meta["output_nodes"]))


# ---------------------------------------------------------------------------- videos

def ltx_length(seconds: float, fps: float) -> int:
    """LTX-Video takes 8k+1 frames (k >= 1): the nearest such count to seconds x fps."""
    k = max(1, math.floor((seconds * fps - 1) / 8 + 0.5))
    return 8 * k + 1


def _video_size(size: Mapping[str, int], prompt: BuiltPrompt, width: int | None,
                height: int | None) -> tuple[int, int]:
    """The engine's working size at the style's aspect ratio, unless both sides are given: then
    each is rounded down to the engine's step, so one size can go through a fallback chain."""
    step = size["multiple"]
    if width is not None or height is not None:
        if width is None or height is None:
            raise ValueError("a video size override needs both width and height")
        return _round_down(width, step, "width"), _round_down(height, step, "height")
    aspect = prompt.width / prompt.height
    if "long_side" in size:  # LTX: the long side at the model's usual 768
        w, h = (size["long_side"], size["long_side"] / aspect) if aspect >= 1 else (
            size["long_side"] * aspect, size["long_side"])
    else:  # FramePack: the area of its 640 buckets
        w, h = math.sqrt(size["area"] * aspect), math.sqrt(size["area"] / aspect)
    return (max(MIN_SIZE, math.floor(w / step + 0.5) * step),
            max(MIN_SIZE, math.floor(h / step + 0.5) * step))


def build_video_workflow(engine: Literal["framepack", "ltx"], prompt: BuiltPrompt, *, image_name: str,
                         motion_prompt: str, seconds: float, seed: int, fps: float | None = None,
                         steps: int | None = None, width: int | None = None, height: int | None = None,
                         models: Mapping[str, str] | None = None, filename_prefix: str) -> BuiltWorkflow:
    """Image-to-video from an uploaded start image, saved as h264 mp4 by core CreateVideo+SaveVideo.

    The positive text is the motion prompt followed by the character's built positive prompt; LTX
    uses the built negative (FramePack samples at cfg 1 with distilled guidance, so its negative
    is a zeroed conditioning the sampler ignores). `fps` (LTX, default 24) sets both the model's
    frame-rate conditioning and the file's rate, and the frame count follows LTX's 8k+1 rule.
    FramePack renders at its fixed 30 fps whatever `fps` says; `BuiltWorkflow.fps` is the rate
    actually encoded. The size is the engine's working size at the style's aspect ratio (LTX:
    long side 768; FramePack: the area of its 640 buckets) unless `width` and `height` are both
    given. `steps` defaults to the template's (30). `models` replaces the template's
    default model files by slot (framepack: model, clip_l, llava, clip_vision, vae; ltx:
    checkpoint, text_encoder)."""
    if engine not in VIDEO_TEMPLATES:
        raise ValueError(f"unknown video engine {engine!r}")
    wf, meta = _start(VIDEO_TEMPLATES[engine])
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 120:
        raise ValueError(f"seconds must be in (0, 120], got {seconds!r}")
    for slot, file_name in (models or {}).items():
        if slot not in meta["model_params"]:
            raise ValueError(f"{engine} has no model slot {slot!r} (slots: {', '.join(meta['model_params'])})")
        _set(wf, meta, slot, _name(file_name, f"{slot} model"))

    positive = ", ".join(dedupe([*split_terms(motion_prompt or ""), *split_terms(prompt.positive)]))
    _set(wf, meta, "positive", positive)
    _set(wf, meta, "image", _name(image_name, "image_name"))
    _set(wf, meta, "seed", _seed(seed))
    if steps is not None:
        _set(wf, meta, "steps", _positive_int(steps, "steps"))
    w, h = _video_size(meta["size"], prompt, width, height)
    _set(wf, meta, "width", w)
    _set(wf, meta, "height", h)
    _set(wf, meta, "filename_prefix", _prefix(filename_prefix))

    if engine == "framepack":
        _set(wf, meta, "seconds", float(max(seconds, 0.1)))  # the sampler's minimum length
        rate = float(meta["native_fps"])
    else:
        rate = float(meta["default_fps"] if fps is None else fps)
        if not 1 <= rate <= 120:  # CreateVideo's range
            raise ValueError(f"fps must be in 1..120, got {fps!r}")
        _set(wf, meta, "negative", prompt.negative)
        _set(wf, meta, "fps", rate)
        _set(wf, meta, "length", ltx_length(seconds, rate))
    return BuiltWorkflow(wf, _requirements(wf, meta), engine, list(meta["output_nodes"]), fps=rate)


# ---------------------------------------------------------------------------- routing

def missing_requirements(requires: Requirements, capabilities: Mapping[str, Any]) -> list[str]:
    """What a backend lacks to run a workflow, in words ("node FramePackSampler",
    "checkpoint animagine.safetensors"); empty when it has everything. `capabilities` is
    {"node_classes": [...], "models": {"checkpoints": [...], "loras": [...], ...}}."""
    have_nodes = set(capabilities.get("node_classes") or ())
    have_models = capabilities.get("models") or {}
    missing = [f"node {name}" for name in sorted(requires.node_classes - have_nodes)]
    for folder in sorted(requires.models):
        have = set(have_models.get(folder) or ())
        noun = FOLDER_NOUNS.get(folder, f"{folder} model")
        missing += [f"{noun} {name}" for name in sorted(requires.models[folder] - have)]
    return missing
