"""Image workflow templates and their builder (packages/visual_pipeline/builder.py): txt2img with
LoRA chains and IP-Adapter, img2img, the template files; every built workflow passes the validator
of tests/unit/workflow_kit.py (the real server's node specs)."""

from __future__ import annotations

import json

import pytest

from packages.visual_pipeline.builder import (
    TEMPLATES,
    build_image_workflow,
    build_img2img_workflow,
    is_link,
    load_template,
)
from tests.unit.workflow_kit import (
    _IPA_WEIGHT_TYPES,
    SPECS,
    FILE_INPUTS,
    prompt,
    validate,
    assert_valid,
    nodes_of,
    only,
    image,
)


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
