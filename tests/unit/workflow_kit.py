"""What the workflow tests check built workflows with: the node specs the real server validates
with (the core classes' /object_info recorded in tests/reference/comfyui-object-info-core.json, and
for the custom node packs the specs below, transcribed from their public sources), a validator
that refuses what the server refuses, and small accessors."""

from __future__ import annotations

import json
from pathlib import Path

from packages.characters.prompt import BuiltPrompt, build_prompt
from packages.visual_pipeline.builder import (
    BuiltWorkflow,
    build_image_workflow,
    is_link,
    load_template,
)


REFERENCE = Path(__file__).resolve().parents[1] / "reference"  # copied from the shared recordings
CORE_SPECS = json.loads((REFERENCE / "comfyui-object-info-core.json").read_text())

_IPA_PRESETS = ["LIGHT - SD1.5 only (low strength)", "STANDARD (medium strength)", "VIT-G (medium strength)",
                "PLUS (high strength)", "PLUS FACE (portraits)", "FULL FACE - SD1.5 only (portraits stronger)"]
_IPA_WEIGHT_TYPES = ["linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input", "weak output",
                     "weak middle", "strong middle", "style transfer", "composition", "strong style transfer",
                     "style and composition", "style transfer precise", "composition precise"]
_QUANT = ["disabled", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]

# The custom nodes' INPUT_TYPES / RETURN_TYPES, in /object_info's shape (inputs and outputs only):
# - cubiq/ComfyUI_IPAdapter_plus, IPAdapterPlus.py at 9d076a3 (2025-02-26): classes
#   IPAdapterUnifiedLoader and IPAdapterAdvanced, the WEIGHT_TYPES list, NODE_CLASS_MAPPINGS.
# - kijai/ComfyUI-FramePackWrapper, nodes.py at a7c4b70 (2025-06-04): classes LoadFramePackModel
#   and FramePackSampler, NODE_CLASS_MAPPINGS (example_workflows/framepack_hv_example.json for
#   the usual values).
CUSTOM_SPECS = {
    "IPAdapterUnifiedLoader": {
        "input": {"required": {"model": ["MODEL"], "preset": [_IPA_PRESETS]},
                  "optional": {"ipadapter": ["IPADAPTER"]}},
        "output": ["MODEL", "IPADAPTER"], "output_node": False},
    "IPAdapterAdvanced": {
        "input": {"required": {
            "model": ["MODEL"], "ipadapter": ["IPADAPTER"], "image": ["IMAGE"],
            "weight": ["FLOAT", {"min": -1, "max": 5}], "weight_type": [_IPA_WEIGHT_TYPES],
            "combine_embeds": [["concat", "add", "subtract", "average", "norm average"]],
            "start_at": ["FLOAT", {"min": 0.0, "max": 1.0}], "end_at": ["FLOAT", {"min": 0.0, "max": 1.0}],
            "embeds_scaling": [["V only", "K+V", "K+V w/ C penalty", "K+mean(V) w/ C penalty"]]},
            "optional": {"image_negative": ["IMAGE"], "attn_mask": ["MASK"], "clip_vision": ["CLIP_VISION"]}},
        "output": ["MODEL"], "output_node": False},
    "LoadFramePackModel": {
        "input": {"required": {"model": [[]], "base_precision": [["fp32", "bf16", "fp16"]], "quantization": [_QUANT],
                               "load_device": [["main_device", "offload_device"]]},
                  "optional": {"attention_mode": [["sdpa", "flash_attn", "sageattn"]],
                               "compile_args": ["FRAMEPACKCOMPILEARGS"], "lora": ["FPLORA"]}},
        "output": ["FramePackMODEL"], "output_node": False},
    "FramePackSampler": {
        "input": {"required": {
            "model": ["FramePackMODEL"], "positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
            "start_latent": ["LATENT"], "steps": ["INT", {"min": 1}], "use_teacache": ["BOOLEAN"],
            "teacache_rel_l1_thresh": ["FLOAT", {"min": 0.0, "max": 1.0}], "cfg": ["FLOAT", {"min": 0.0, "max": 30.0}],
            "guidance_scale": ["FLOAT", {"min": 0.0, "max": 32.0}], "shift": ["FLOAT", {"min": 0.0, "max": 1000.0}],
            "seed": ["INT", {"min": 0, "max": 2**64 - 1}], "latent_window_size": ["INT", {"min": 1, "max": 33}],
            "total_second_length": ["FLOAT", {"min": 0.1, "max": 120}],
            "gpu_memory_preservation": ["FLOAT", {"min": 0.0, "max": 128.0}],
            "sampler": [["unipc_bh1", "unipc_bh2"]]},
            "optional": {
                "image_embeds": ["CLIP_VISION_OUTPUT"], "end_latent": ["LATENT"],
                "end_image_embeds": ["CLIP_VISION_OUTPUT"],
                "embed_interpolation": [["disabled", "weighted_average", "linear"]],
                "start_embed_strength": ["FLOAT", {"min": 0.0, "max": 1.0}], "initial_samples": ["LATENT"],
                "denoise_strength": ["FLOAT", {"min": 0.0, "max": 1.0}]}},
        "output": ["LATENT"], "output_node": False},
}
SPECS = {**CORE_SPECS, **CUSTOM_SPECS}

# Inputs whose list is the backend's files (empty or a stand-in in the specs), with the model
# folder the real loader reads (ComfyUI nodes.py / folder_paths; the FramePack loader's own code).
FILE_INPUTS = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("LoraLoader", "lora_name"): "loras",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("VAELoader", "vae_name"): "vae",
    ("LoadFramePackModel", "model"): "diffusion_models",
    ("LoadImage", "image"): None,  # an uploaded input image, not a model
}

STYLE = {
    "id": 3, "name": "Anime XL", "checkpoint": "animagine-xl-3.1.safetensors", "cfg": 6.5, "steps": 28,
    "sampler": "dpmpp_2m_sde", "scheduler": "karras", "width": 832, "height": 1216, "architecture": "sdxl",
    "positive_template": "anime style, {prompt}", "negative_template": "lowres, bad anatomy",
}
CHARACTER = {"design_prompt": "1girl, silver hair, red eyes",
             "appearance_data": {"species": "fox spirit, NOT human", "common_errors": ["extra tails"]}}


def prompt(**style) -> BuiltPrompt:
    return build_prompt({**STYLE, **style}, CHARACTER, trigger="yukiko_v1")


# ---------------------------------------------------------------------------- the validator

def _check_value(where: str, spec: list, value, errors: list[str]) -> None:
    kind, opts = spec[0], (spec[1] if len(spec) > 1 else None) or {}
    if isinstance(kind, list) or kind == "COMBO":
        choices = kind if isinstance(kind, list) else opts.get("options", [])
        if value not in choices:
            errors.append(f"{where}: {value!r} not in {choices}")
    elif kind == "INT" or kind == "FLOAT":
        ok = isinstance(value, int) if kind == "INT" else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            errors.append(f"{where}: {value!r} is not {kind}")
        elif not opts.get("min", -float("inf")) <= value <= opts.get("max", float("inf")):
            errors.append(f"{where}: {value!r} outside {opts.get('min')}..{opts.get('max')}")
    elif kind == "BOOLEAN" and not isinstance(value, bool):
        errors.append(f"{where}: {value!r} is not BOOLEAN")
    elif kind == "STRING" and not isinstance(value, str):
        errors.append(f"{where}: {value!r} is not STRING")
    elif kind not in ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO", "COMFY_DYNAMICCOMBO_V3"):
        errors.append(f"{where}: a {kind} input must be a link, got {value!r}")


def _dynamic_inputs(name: str, spec: list, value, inputs: dict, errors: list[str], where: str) -> set[str]:
    """A V3 dynamic combo ("format": "mp4" with "format.codec": "h264"): the value picks an
    option, whose own inputs are given as `name.sub`. Returns the input names it accounts for."""
    options = {o["key"]: o["inputs"] for o in spec[1]["options"]}
    if value not in options:
        errors.append(f"{where}.{name}: {value!r} not in {sorted(options)}")
        return {name}
    used = {name}
    for section in ("required", "optional"):
        for sub, sub_spec in options[value].get(section, {}).items():
            full = f"{name}.{sub}"
            if full not in inputs:
                if section == "required":
                    errors.append(f"{where}: required input {full} missing")
                continue
            if sub_spec[0] == "COMFY_DYNAMICCOMBO_V3":
                used |= _dynamic_inputs(full, sub_spec, inputs[full], inputs, errors, where)
            else:
                _check_value(f"{where}.{full}", sub_spec, inputs[full], errors)
                used.add(full)
    return used


def validate(workflow: dict) -> list[str]:
    """What ComfyUI's validation (and a careful reader) would refuse in an API-format prompt."""
    errors: list[str] = []
    for node_id, node in workflow.items():
        where = f"{node_id}:{node.get('class_type')}"
        spec = SPECS.get(node.get("class_type"))
        if spec is None:
            errors.append(f"{where}: unknown class_type")
            continue
        required, optional = spec["input"].get("required", {}), spec["input"].get("optional", {})
        inputs = node["inputs"]
        accounted: set[str] = set()
        for name in required:
            if name not in inputs:
                errors.append(f"{where}: required input {name} missing")
        for name, value in inputs.items():
            if name in accounted:
                continue
            input_spec = required.get(name) or optional.get(name)
            if input_spec is None:
                if "." not in name:
                    errors.append(f"{where}: unknown input {name}")
                continue
            accounted.add(name)
            if is_link(value):
                source = workflow.get(value[0])
                if source is None:
                    errors.append(f"{where}.{name}: links to missing node {value[0]}")
                    continue
                outputs = SPECS.get(source["class_type"], {}).get("output", [])
                if not 0 <= value[1] < len(outputs):
                    errors.append(f"{where}.{name}: output {value[1]} of {value[0]} does not exist")
                elif input_spec[0] != outputs[value[1]] and not isinstance(input_spec[0], list):
                    errors.append(f"{where}.{name}: takes {input_spec[0]}, gets {outputs[value[1]]}")
            elif (node["class_type"], name) in FILE_INPUTS:
                if not isinstance(value, str) or not value:
                    errors.append(f"{where}.{name}: file name expected, got {value!r}")
            elif input_spec[0] == "COMFY_DYNAMICCOMBO_V3":
                accounted |= _dynamic_inputs(name, input_spec, value, inputs, errors, where)
            else:
                _check_value(f"{where}.{name}", input_spec, value, errors)
        for name in inputs:
            if "." in name and name not in accounted:
                errors.append(f"{where}: unknown input {name}")
    errors += _graph_errors(workflow)
    return errors


def _graph_errors(workflow: dict) -> list[str]:
    """At least one output node; no cycle; every node feeds an output (nothing left dangling)."""
    outputs = [i for i, n in workflow.items() if SPECS.get(n["class_type"], {}).get("output_node")]
    if not outputs:
        return ["no output node"]
    feeds: dict[str, set[str]] = {i: set() for i in workflow}
    for node_id, node in workflow.items():
        for value in node["inputs"].values():
            if is_link(value) and value[0] in workflow:
                feeds[node_id].add(value[0])
    errors, state = [], {}

    def visit(node_id: str) -> None:
        if state.get(node_id) == "open":
            errors.append(f"cycle through {node_id}")
        if node_id in state:
            return
        state[node_id] = "open"
        for source in feeds[node_id]:
            visit(source)
        state[node_id] = "done"

    for node_id in outputs:
        visit(node_id)
    errors += [f"{i}:{workflow[i]['class_type']} feeds no output" for i in workflow if i not in state]
    return errors


def assert_valid(built: BuiltWorkflow) -> None:
    """The graph passes the specs, and `requires` names exactly its classes and every file it loads."""
    assert validate(built.workflow) == []
    assert built.requires.node_classes == {n["class_type"] for n in built.workflow.values()}
    for node in built.workflow.values():
        for name, value in node["inputs"].items():
            folder = FILE_INPUTS.get((node["class_type"], name))
            if folder:
                assert value in built.requires.models.get(folder, set()), (folder, value)
    meta = load_template({"framepack": "framepack_i2v", "ltx": "ltx_i2v"}.get(built.engine, built.engine)).meta
    declared = set(meta["node_classes"]).union(*meta.get("optional_node_classes", {}).values())
    assert set(meta["node_classes"]) <= built.requires.node_classes <= declared
    for node_id in built.output_nodes:
        assert SPECS[built.workflow[node_id]["class_type"]]["output_node"] is True
    json.dumps(built.workflow)  # plain JSON, ready for POST /prompt


def nodes_of(built: BuiltWorkflow, class_type: str) -> dict[str, dict]:
    return {i: n for i, n in built.workflow.items() if n["class_type"] == class_type}


def only(built: BuiltWorkflow, class_type: str) -> tuple[str, dict]:
    found = nodes_of(built, class_type)
    assert len(found) == 1, (class_type, sorted(found))
    return next(iter(found.items()))


def image(**kw) -> BuiltWorkflow:
    return build_image_workflow(prompt(), **{"seed": 42, "filename_prefix": "p1/shot", **kw})
