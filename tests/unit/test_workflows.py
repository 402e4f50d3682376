"""Workflow templates and their builder (packages/visual_pipeline/builder.py).

Every built workflow is checked against the node specs the real server validates with: the core
classes' /object_info recorded in tests/reference/comfyui-object-info-core.json, and for the
custom node packs the specs below, transcribed from their public sources.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packages.characters.prompt import BuiltPrompt, build_prompt
from packages.visual_pipeline.builder import (
    TEMPLATES,
    BuiltWorkflow,
    Requirements,
    build_image_workflow,
    build_img2img_workflow,
    build_video_workflow,
    is_link,
    load_template,
    ltx_length,
    missing_requirements,
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


# ---------------------------------------------------------------------------- the validator itself

def test_the_validator_refuses_what_the_server_refuses():
    """The checker is not a rubber stamp: a missing input, a bad combo value, a dangling link, an
    unknown class and a wrong output index are each reported."""
    good = image().workflow
    cases = {
        "required input steps missing": lambda w: w["5"]["inputs"].pop("steps"),
        "not in": lambda w: w["5"]["inputs"].update(sampler_name="magic"),
        "links to missing node": lambda w: w["6"]["inputs"].update(samples=["99", 0]),
        "unknown class_type": lambda w: w["4"].update(class_type="NoSuchNode"),
        "output 5 of 1 does not exist": lambda w: w["6"]["inputs"].update(vae=["1", 5]),
        "takes VAE, gets MODEL": lambda w: w["6"]["inputs"].update(vae=["1", 0]),
        "feeds no output": lambda w: w.update({"50": {"class_type": "EmptyImage", "inputs": {
            "width": 8, "height": 8, "batch_size": 1, "color": 0}}}),
    }
    for expected, break_it in cases.items():
        workflow = json.loads(json.dumps(good))
        break_it(workflow)
        assert any(expected in e for e in validate(workflow)), expected


# ---------------------------------------------------------------------------- templates

@pytest.mark.parametrize("name", TEMPLATES)
def test_template_files_are_valid_and_match_their_declarations(name):
    """Each template is a valid API-format graph as shipped; its requires.json declares its classes
    (those every build has, and those the builder keeps or adds depending on its arguments), points
    only at inputs that exist with the folder the loader reads, and builder node ids cannot collide."""
    template = load_template(name)
    graph, meta = template.graph, template.meta
    assert validate(graph) == []
    always, optional = set(meta["node_classes"]), set().union(*meta.get("optional_node_classes", {}).values())
    assert always <= {n["class_type"] for n in graph.values()} <= always | optional
    for path in [*meta["models"], *(p for v in meta["params"].values() for p in ([v] if isinstance(v, str) else v))]:
        if path == "lora":
            continue
        node, _, name_ = path.partition(".")
        assert name_ in graph[node]["inputs"], path
    for path, folder in meta["models"].items():
        if path != "lora":
            node, _, name_ = path.partition(".")
            assert FILE_INPUTS[(graph[node]["class_type"], name_)] == folder, path
    assert all(SPECS[graph[i]["class_type"]]["output_node"] for i in meta["output_nodes"])
    assert all(int(i) < 100 for i in graph)  # 101.. are LoRAs, 301.. / 401.. extra references


# ---------------------------------------------------------------------------- txt2img

def test_txt2img_without_loras_has_no_lora_loader_and_takes_everything_from_the_prompt():
    """0 LoRAs: no LoraLoader; checkpoint, texts, cfg, steps, sampler, scheduler and size are the
    BuiltPrompt's, the seed and prefix the caller's."""
    p = prompt()
    built = build_image_workflow(p, seed=7, filename_prefix="p1/shot-3")
    assert_valid(built)
    assert not nodes_of(built, "LoraLoader")
    wf = built.workflow
    _, ckpt = only(built, "CheckpointLoaderSimple")
    ks_id, ks = only(built, "KSampler")
    assert ckpt["inputs"]["ckpt_name"] == p.checkpoint == "animagine-xl-3.1.safetensors"
    assert wf[ks["inputs"]["positive"][0]]["inputs"]["text"] == p.positive
    assert wf[ks["inputs"]["negative"][0]]["inputs"]["text"] == p.negative
    assert "yukiko_v1" in p.positive and "extra tails" in p.negative
    assert (ks["inputs"]["cfg"], ks["inputs"]["steps"], ks["inputs"]["sampler_name"], ks["inputs"]["scheduler"],
            ks["inputs"]["seed"], ks["inputs"]["denoise"]) == (6.5, 28, "dpmpp_2m_sde", "karras", 7, 1.0)
    assert ks["inputs"]["model"] == ["1", 0]
    for encoder in nodes_of(built, "CLIPTextEncode").values():
        assert encoder["inputs"]["clip"] == ["1", 1]
    _, latent = only(built, "EmptyLatentImage")
    assert (latent["inputs"]["width"], latent["inputs"]["height"], latent["inputs"]["batch_size"]) == (832, 1216, 1)
    assert only(built, "SaveImage")[1]["inputs"]["filename_prefix"] == "p1/shot-3"
    assert built.engine == "txt2img" and built.output_nodes == [only(built, "SaveImage")[0]]
    assert built.requires.models == {"checkpoints": {"animagine-xl-3.1.safetensors"}}


def test_one_lora_sits_between_the_checkpoint_and_its_consumers():
    """1 LoRA: the LoraLoader takes the checkpoint's MODEL and CLIP, and the sampler and both
    text encoders take the LoRA's outputs instead."""
    built = image(loras=[("yukiko_v1.safetensors", 0.8)])
    assert_valid(built)
    lora_id, lora = only(built, "LoraLoader")
    assert lora["inputs"] == {"model": ["1", 0], "clip": ["1", 1], "lora_name": "yukiko_v1.safetensors",
                              "strength_model": 0.8, "strength_clip": 0.8}
    assert only(built, "KSampler")[1]["inputs"]["model"] == [lora_id, 0]
    assert [e["inputs"]["clip"] for e in nodes_of(built, "CLIPTextEncode").values()] == [[lora_id, 1]] * 2
    assert only(built, "VAEDecode")[1]["inputs"]["vae"] == ["1", 2]  # the VAE never goes through a LoRA
    assert built.requires.models["loras"] == {"yukiko_v1.safetensors"}


def test_three_loras_chain_in_order_and_the_last_one_feeds_the_graph():
    """3 LoRAs: each LoraLoader takes the previous one's MODEL and CLIP, in the order given, with
    its own strength; only the last one is consumed by the rest of the graph."""
    loras = [("a.safetensors", 1.0), ("b.safetensors", 0.6), ("c.safetensors", -0.3)]
    built = image(loras=loras)
    assert_valid(built)
    chain = sorted(nodes_of(built, "LoraLoader").items(), key=lambda kv: int(kv[0]))
    assert [n["inputs"]["lora_name"] for _, n in chain] == ["a.safetensors", "b.safetensors", "c.safetensors"]
    assert [n["inputs"]["strength_model"] for _, n in chain] == [1.0, 0.6, -0.3]
    previous = "1"
    for node_id, node in chain:
        assert node["inputs"]["model"] == [previous, 0] and node["inputs"]["clip"] == [previous, 1]
        previous = node_id
    last = chain[-1][0]
    consumers = {(i, k) for i, n in built.workflow.items() for k, v in n["inputs"].items()
                 if is_link(v) and v[0] == last}
    assert {(built.workflow[i]["class_type"], k) for i, k in consumers} == {
        ("KSampler", "model"), ("CLIPTextEncode", "clip")}
    assert built.requires.models["loras"] == {"a.safetensors", "b.safetensors", "c.safetensors"}


def test_ip_adapter_conditions_a_single_character_shot_on_its_reference_image():
    """One character with a reference image: LoadImage -> IPAdapterAdvanced (weight 0.7, start 0,
    end 0.85) with the PLUS unified loader, on the LoRA'd model, feeding the sampler; the pack's
    nodes and the files its loader looks for are required."""
    built = image(loras=[("yukiko_v1.safetensors", 0.8)], reference_images=["yukiko_ref_01.png"])
    assert_valid(built)
    assert built.ip_adapter is True
    load_id, load = only(built, "LoadImage")
    loader_id, loader = only(built, "IPAdapterUnifiedLoader")
    apply_id, apply = only(built, "IPAdapterAdvanced")
    lora_id, _ = only(built, "LoraLoader")
    assert load["inputs"]["image"] == "yukiko_ref_01.png"
    assert loader["inputs"] == {"model": [lora_id, 0], "preset": "PLUS (high strength)"}
    assert apply["inputs"]["model"] == [loader_id, 0] and apply["inputs"]["ipadapter"] == [loader_id, 1]
    assert apply["inputs"]["image"] == [load_id, 0]
    assert (apply["inputs"]["weight"], apply["inputs"]["start_at"], apply["inputs"]["end_at"]) == (0.7, 0.0, 0.85)
    assert apply["inputs"]["weight_type"] in _IPA_WEIGHT_TYPES
    assert only(built, "KSampler")[1]["inputs"]["model"] == [apply_id, 0]
    assert {"IPAdapterUnifiedLoader", "IPAdapterAdvanced", "LoadImage"} <= built.requires.node_classes
    assert built.requires.models["ipadapter"] == {"ip-adapter-plus_sdxl_vit-h.safetensors"}
    assert built.requires.models["clip_vision"] == {"CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"}


def test_several_reference_images_are_batched_into_the_ip_adapter():
    """Several reference images: one LoadImage each, joined by ImageBatch, the batch going to IPAdapterAdvanced."""
    refs = ["front.png", "side.png", "back.png"]
    built = image(reference_images=refs)
    assert_valid(built)
    assert sorted(n["inputs"]["image"] for n in nodes_of(built, "LoadImage").values()) == sorted(refs)
    assert len(nodes_of(built, "ImageBatch")) == 2
    source = only(built, "IPAdapterAdvanced")[1]["inputs"]["image"]
    assert built.workflow[source[0]]["class_type"] == "ImageBatch"


@pytest.mark.parametrize("kw", [
    {"multi_character": True, "reference_images": ["a.png"]},
    {"reference_images": []},
])
def test_ip_adapter_is_left_out_for_multi_character_shots_or_without_references(kw):
    """Several characters (or no reference image): no IP-Adapter node, no LoadImage, nothing of the
    pack required, and the sampler takes the (LoRA'd) model directly."""
    built = image(loras=[("x.safetensors", 0.7)], **kw)
    assert_valid(built)
    assert built.ip_adapter is False
    classes = built.requires.node_classes
    assert not classes & {"IPAdapterUnifiedLoader", "IPAdapterAdvanced", "LoadImage", "ImageBatch"}
    assert "ipadapter" not in built.requires.models and "clip_vision" not in built.requires.models
    assert only(built, "KSampler")[1]["inputs"]["model"] == [only(built, "LoraLoader")[0], 0]


def test_ip_adapter_follows_the_architecture_and_skips_the_unsupported_one():
    """SD1.5 styles need the SD1.5 PLUS adapter; flux, which the pack does not support, gets none."""
    sd15 = build_image_workflow(prompt(architecture="sd15", width=512, height=768), seed=1,
                                reference_images=["r.png"], filename_prefix="p/s")
    assert_valid(sd15)
    assert sd15.requires.models["ipadapter"] == {"ip-adapter-plus_sd15.safetensors"}
    flux = build_image_workflow(prompt(architecture="flux"), seed=1, reference_images=["r.png"], filename_prefix="p/s")
    assert_valid(flux)
    assert flux.ip_adapter is False and "IPAdapterAdvanced" not in flux.requires.node_classes


def test_size_override_replaces_the_style_size_and_must_be_a_multiple_of_8():
    """The OOM retry asks for a smaller size: it replaces the style's, batch size too; a size that
    is not a multiple of 8 is refused before anything is sent."""
    built = image(width=640, height=960, batch_size=2)
    assert_valid(built)
    latent = only(built, "EmptyLatentImage")[1]["inputs"]
    assert (latent["width"], latent["height"], latent["batch_size"]) == (640, 960, 2)
    for bad in ({"width": 641}, {"height": 1000 + 4}, {"width": 0}):
        with pytest.raises(ValueError, match="multiple of 8"):
            image(**bad)


def test_templates_are_copied_per_build():
    """Changing one built workflow never leaks into the template or the next build; ids are stable."""
    first = image(loras=[("a.safetensors", 1.0)], reference_images=["r.png"])
    first.workflow["5"]["inputs"]["seed"] = 999
    first.workflow["1"]["inputs"]["ckpt_name"] = "changed.safetensors"
    second = image(loras=[("a.safetensors", 1.0)], reference_images=["r.png"])
    assert second.workflow["5"]["inputs"]["seed"] == 42
    assert second.workflow["1"]["inputs"]["ckpt_name"] == "animagine-xl-3.1.safetensors"
    assert sorted(first.workflow) == sorted(second.workflow)
    assert load_template("txt2img").graph["1"]["inputs"]["ckpt_name"] == "model.safetensors"


def test_bad_arguments_are_refused():
    """Seeds outside ComfyUI's range, empty file names and prefixes escaping the output folder are refused."""
    for kw, match in [({"seed": -1}, "seed"), ({"seed": 2**64}, "seed"), ({"loras": [("", 1.0)]}, "LoRA name"),
                      ({"filename_prefix": "../etc/x"}, "output folder"), ({"reference_images": [""]}, "reference")]:
        with pytest.raises(ValueError, match=match):
            image(**kw)


# ---------------------------------------------------------------------------- img2img

def test_img2img_encodes_the_input_image_and_denoises_partially():
    """img2img: LoadImage -> VAEEncode -> KSampler (denoise < 1) -> VAEDecode -> SaveImage, no empty
    latent (the size is the input image's), LoRAs chained as for txt2img; denoise 1 is refused."""
    built = build_img2img_workflow(prompt(), image_name="keyframe_12.png", denoise=0.45, seed=5,
                                   loras=[("yukiko_v1.safetensors", 0.9)], filename_prefix="p1/fix")
    assert_valid(built)
    assert not nodes_of(built, "EmptyLatentImage")
    load_id, load = only(built, "LoadImage")
    encode_id, encode = only(built, "VAEEncode")
    ks = only(built, "KSampler")[1]["inputs"]
    assert load["inputs"]["image"] == "keyframe_12.png" and encode["inputs"]["pixels"] == [load_id, 0]
    assert ks["latent_image"] == [encode_id, 0] and ks["denoise"] == 0.45 and ks["seed"] == 5
    assert ks["model"] == [only(built, "LoraLoader")[0], 0]
    assert built.engine == "img2img"
    for denoise in (1.0, 0, 1.5):
        with pytest.raises(ValueError, match="denoise"):
            build_img2img_workflow(prompt(), image_name="k.png", denoise=denoise, seed=1, filename_prefix="p/x")


# ---------------------------------------------------------------------------- videos

def test_framepack_workflow_wires_the_wrapper_nodes():
    """FramePack: the start image (scaled to a 16-multiple size at the style's aspect) is VAE-encoded
    as start_latent and CLIP-vision-encoded as image_embeds; hunyuan_video text encoders; the
    sampler gets seconds, seed and steps; tiled decode; h264 mp4 at FramePack's 30 fps."""
    p = prompt()
    built = build_video_workflow("framepack", p, image_name="kf_3.png", motion_prompt="she turns her head, smiling",
                                 seconds=4.5, seed=11, fps=24, steps=25, filename_prefix="p1/video/shot-3")
    assert_valid(built)
    wf = built.workflow
    sampler = only(built, "FramePackSampler")[1]["inputs"]
    assert (sampler["total_second_length"], sampler["seed"], sampler["steps"]) == (4.5, 11, 25)
    assert sampler["use_teacache"] is True and sampler["latent_window_size"] == 9
    assert wf[sampler["model"][0]]["class_type"] == "LoadFramePackModel"
    assert wf[sampler["start_latent"][0]]["class_type"] == "VAEEncode"
    assert wf[sampler["image_embeds"][0]]["class_type"] == "CLIPVisionEncode"
    text = wf[sampler["positive"][0]]["inputs"]["text"]
    assert text.startswith("she turns her head, smiling, ") and text.endswith(p.positive.split(", ")[-1])
    assert only(built, "DualCLIPLoader")[1]["inputs"]["type"] == "hunyuan_video"
    scale = only(built, "ImageScale")[1]["inputs"]
    assert scale["width"] % 16 == 0 and scale["height"] % 16 == 0 and scale["height"] > scale["width"]
    assert wf[only(built, "LoadImage")[0]]["inputs"]["image"] == "kf_3.png"
    assert only(built, "VAEDecodeTiled")[1]["inputs"]["samples"] == [only(built, "FramePackSampler")[0], 0]
    assert only(built, "CreateVideo")[1]["inputs"]["fps"] == 30.0 and built.fps == 30.0
    save = only(built, "SaveVideo")[1]["inputs"]
    assert (save["format"], save["format.codec"], save["filename_prefix"]) == ("mp4", "h264", "p1/video/shot-3")
    assert built.engine == "framepack" and {"LoadFramePackModel", "FramePackSampler"} <= built.requires.node_classes
    assert built.requires.models["diffusion_models"] == {"FramePackI2V_HY_fp8_e4m3fn.safetensors"}
    assert built.requires.models["text_encoders"] == {"clip_l.safetensors", "llava_llama3_fp16.safetensors"}


@pytest.mark.parametrize(("seconds", "fps", "frames"), [
    (4, 24, 97),  # 96 frames -> 8*12+1
    (3, 24, 73),  # 72 -> 73
    (2, 24, 49),  # 48 -> 49
    (5, 25, 129),  # 125 -> (124/8 = 15.5, rounds up) -> 129
    (0.1, 24, 9),  # never below LTX's minimum of 9
])
def test_ltx_length_follows_the_8k_plus_1_rule(seconds, fps, frames):
    """LTX frame count = the 8k+1 number nearest seconds x fps (at least 9), in the built workflow too."""
    assert ltx_length(seconds, fps) == frames
    built = build_video_workflow("ltx", prompt(), image_name="kf.png", motion_prompt="wind in her hair",
                                 seconds=seconds, seed=3, fps=fps, filename_prefix="p1/video/x")
    assert_valid(built)
    assert only(built, "LTXVImgToVideo")[1]["inputs"]["length"] == frames


def test_ltx_workflow_uses_the_core_nodes_and_the_built_prompt():
    """LTX: t5 CLIPLoader type ltxv; positive = motion + built positive, negative = built negative;
    LTXVImgToVideo at a 32-multiple size -> LTXVConditioning (frame rate = fps) -> SamplerCustom
    with LTXVScheduler sigmas and the seed; CreateVideo at the same fps -> SaveVideo mp4/h264."""
    p = prompt()
    built = build_video_workflow("ltx", p, image_name="kf.png", motion_prompt="camera slowly pushes in",
                                 seconds=4, seed=99, fps=24, filename_prefix="p1/video/shot-1")
    assert_valid(built)
    wf = built.workflow
    assert only(built, "CLIPLoader")[1]["inputs"]["type"] == "ltxv"
    i2v_id, node = only(built, "LTXVImgToVideo")
    i2v = node["inputs"]
    assert wf[i2v["positive"][0]]["inputs"]["text"].startswith("camera slowly pushes in, ")
    assert wf[i2v["negative"][0]]["inputs"]["text"] == p.negative
    assert i2v["width"] % 32 == 0 and i2v["height"] % 32 == 0 and (i2v["width"], i2v["height"]) == (512, 768)
    cond_id, node = only(built, "LTXVConditioning")
    cond = node["inputs"]
    assert cond["positive"] == [i2v_id, 0] and cond["frame_rate"] == 24.0
    sampler = only(built, "SamplerCustom")[1]["inputs"]
    assert sampler["noise_seed"] == 99 and sampler["positive"] == [cond_id, 0]
    assert sampler["latent_image"] == [i2v_id, 2]
    assert wf[sampler["sigmas"][0]]["class_type"] == "LTXVScheduler"
    assert only(built, "CreateVideo")[1]["inputs"]["fps"] == 24.0 and built.fps == 24.0
    assert built.requires.models == {"checkpoints": {"ltx-video-2b-v0.9.5.safetensors"},
                                     "text_encoders": {"t5xxl_fp16.safetensors"}}


def test_video_overrides_size_steps_and_model_files():
    """A video size override is rounded down to the engine's step (LTX 32, FramePack 16) so one size
    can go down a fallback chain; model files can be replaced by slot, and the requirements
    follow; a half-given size, an unknown slot or engine is refused."""
    built = build_video_workflow("ltx", prompt(), image_name="kf.png", motion_prompt="", seconds=2, seed=1,
                                 steps=20, width=384, height=576, filename_prefix="p/v",
                                 models={"checkpoint": "ltxv-2b-0.9.6-dev.safetensors"})
    assert_valid(built)
    i2v = only(built, "LTXVImgToVideo")[1]["inputs"]
    assert (i2v["width"], i2v["height"]) == (384, 576)
    assert only(built, "LTXVScheduler")[1]["inputs"]["steps"] == 20
    assert built.requires.models["checkpoints"] == {"ltxv-2b-0.9.6-dev.safetensors"}
    common = {"image_name": "kf.png", "motion_prompt": "", "seconds": 2, "seed": 1, "filename_prefix": "p/v"}
    ltx = build_video_workflow("ltx", prompt(), width=400, height=600, **common)
    fp = build_video_workflow("framepack", prompt(), width=400, height=600, **common)
    assert_valid(ltx)
    assert_valid(fp)
    i2v = only(ltx, "LTXVImgToVideo")[1]["inputs"]
    scale = only(fp, "ImageScale")[1]["inputs"]
    assert (i2v["width"], i2v["height"], scale["width"], scale["height"]) == (384, 576, 400, 592)
    with pytest.raises(ValueError, match="both width and height"):
        build_video_workflow("ltx", prompt(), width=384, **common)
    with pytest.raises(ValueError, match="at least 64"):
        build_video_workflow("ltx", prompt(), width=32, height=576, **common)
    with pytest.raises(ValueError, match="model slot"):
        build_video_workflow("ltx", prompt(), models={"unet": "x.safetensors"}, **common)
    with pytest.raises(ValueError, match="engine"):
        build_video_workflow("animatic", prompt(), **common)


# ---------------------------------------------------------------------------- routing

def test_missing_requirements_names_the_missing_checkpoint_and_node_class():
    """A backend lacking the checkpoint or a node class is told so in words; one that has
    everything lacks nothing."""
    built = build_video_workflow("framepack", prompt(), image_name="kf.png", motion_prompt="", seconds=3, seed=1,
                                 filename_prefix="p/v")
    full = {"node_classes": sorted(SPECS),
            "models": {folder: sorted(names) for folder, names in built.requires.models.items()}}
    assert missing_requirements(built.requires, full) == []
    without_sampler = {**full, "node_classes": [c for c in full["node_classes"] if c != "FramePackSampler"]}
    assert missing_requirements(built.requires, without_sampler) == ["node FramePackSampler"]

    image_req = image(loras=[("yukiko_v1.safetensors", 0.8)]).requires
    capabilities = {"node_classes": sorted(CORE_SPECS),
                    "models": {"checkpoints": ["other.safetensors"], "loras": ["yukiko_v1.safetensors"]}}
    assert missing_requirements(image_req, capabilities) == ["checkpoint animagine-xl-3.1.safetensors"]
    both = missing_requirements(Requirements({"KSampler", "IPAdapterAdvanced"}, {"loras": {"gone.safetensors"}}),
                                {"node_classes": ["KSampler"], "models": {}})
    assert both == ["node IPAdapterAdvanced", "LoRA gone.safetensors"]
