"""Video workflows (FramePack, LTX-Video) and capability routing from the builder
(packages/visual_pipeline/builder.py); every built workflow passes the validator of
tests/unit/workflow_kit.py (the real server's node specs)."""

from __future__ import annotations

import pytest

from packages.visual_pipeline.builder import (
    Requirements,
    build_video_workflow,
    ltx_length,
    missing_requirements,
)
from tests.unit.workflow_kit import (
    CORE_SPECS,
    SPECS,
    prompt,
    assert_valid,
    only,
    image,
)


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
