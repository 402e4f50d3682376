"""Prompts, requests and socket helpers shared by the tests of the ComfyUI protocol double."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
from pathlib import Path

import httpx
import websockets
from PIL import Image

from tests.doubles.comfyui_media import ffmpeg_exe

CKPT = "animagine-xl-3.1.safetensors"
PID = "0b6bbd2e-3c1f-4d0e-9a39-6f4f0d3c8a11"
RECORDED = json.loads((Path(__file__).parents[2] / "reference" / "comfyui-api-recorded.json").read_text())


def txt2img(seed: int = 42, width: int = 512, height: int = 768, ckpt: str = CKPT, steps: int = 4) -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "1girl, silver hair", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "studio/shot"}},
    }


def ltx_i2v(image: str, length: int = 9) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "ltx-video-2b-v0.9.5.safetensors"}},
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": "t5xxl_fp16.safetensors", "type": "ltxv"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "she turns", "clip": ["2", 0]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "5": {"class_type": "LoadImage", "inputs": {"image": image}},
        "6": {"class_type": "LTXVImgToVideo", "inputs": {
            "positive": ["3", 0], "negative": ["4", 0], "vae": ["1", 2], "image": ["5", 0], "width": 256,
            "height": 192, "length": length, "batch_size": 1, "strength": 1.0}},
        "7": {"class_type": "LTXVConditioning", "inputs": {"positive": ["6", 0], "negative": ["6", 1], "frame_rate": 24.0}},
        "8": {"class_type": "LTXVScheduler", "inputs": {
            "steps": 3, "max_shift": 2.05, "base_shift": 0.95, "stretch": True, "terminal": 0.1, "latent": ["6", 2]}},
        "9": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "10": {"class_type": "SamplerCustom", "inputs": {
            "model": ["1", 0], "add_noise": True, "noise_seed": 7, "cfg": 3.0, "positive": ["7", 0],
            "negative": ["7", 1], "sampler": ["9", 0], "sigmas": ["8", 0], "latent_image": ["6", 2]}},
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["1", 2]}},
        "12": {"class_type": "CreateVideo", "inputs": {"images": ["11", 0], "fps": 24.0}},
        "13": {"class_type": "SaveVideo", "inputs": {
            "video": ["12", 0], "filename_prefix": "studio/video", "format": "mp4", "format.codec": "h264"}},
    }


def framepack_vhs(image: str, seconds: float = 1.0) -> dict:
    return {
        "1": {"class_type": "LoadFramePackModel", "inputs": {
            "model": "FramePackI2V_HY_fp8_e4m3fn.safetensors", "base_precision": "bf16",
            "quantization": "fp8_e4m3fn", "load_device": "main_device", "attention_mode": "sdpa"}},
        "2": {"class_type": "DualCLIPLoader", "inputs": {
            "clip_name1": "clip_l.safetensors", "clip_name2": "llava_llama3_fp16.safetensors", "type": "hunyuan_video"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "wind in her hair", "clip": ["2", 0]}},
        "4": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["3", 0]}},
        "5": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "sigclip_vision_patch14_384.safetensors"}},
        "6": {"class_type": "LoadImage", "inputs": {"image": image}},
        "8": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["5", 0], "image": ["6", 0], "crop": "center"}},
        "9": {"class_type": "VAELoader", "inputs": {"vae_name": "hunyuan_video_vae_bf16.safetensors"}},
        "10": {"class_type": "VAEEncode", "inputs": {"pixels": ["6", 0], "vae": ["9", 0]}},
        "11": {"class_type": "FramePackSampler", "inputs": {
            "model": ["1", 0], "positive": ["3", 0], "negative": ["4", 0], "start_latent": ["10", 0],
            "image_embeds": ["8", 0], "steps": 3, "use_teacache": True, "teacache_rel_l1_thresh": 0.15, "cfg": 1.0,
            "guidance_scale": 10.0, "shift": 0.0, "seed": 5, "latent_window_size": 9,
            "total_second_length": seconds, "gpu_memory_preservation": 6.0, "sampler": "unipc_bh1"}},
        "12": {"class_type": "VAEDecodeTiled", "inputs": {
            "samples": ["11", 0], "vae": ["9", 0], "tile_size": 256, "overlap": 64, "temporal_size": 64,
            "temporal_overlap": 8}},
        "13": {"class_type": "VHS_VideoCombine", "inputs": {
            "images": ["12", 0], "frame_rate": 30, "loop_count": 0, "filename_prefix": "studio/fp",
            "format": "video/h264-mp4", "pingpong": False, "save_output": True, "pix_fmt": "yuv420p", "crf": 19,
            "save_metadata": True, "trim_to_audio": False}},
    }


def ws_url(comfy, client_id: str) -> str:
    return comfy.url.replace("http://", "ws://") + f"/ws?clientId={client_id}"


async def until_done(ws, prompt_id: str, timeout: float = 10) -> list[dict]:
    """Every message up to `executing {node: null}` for the prompt (the real end of a prompt)."""
    out = []
    async with asyncio.timeout(timeout):
        while True:
            raw = await ws.recv()
            msg = json.loads(raw) if isinstance(raw, str) else {"type": "binary", "data": raw}
            out.append(msg)
            if msg["type"] == "executing" and msg["data"]["node"] is None and msg["data"]["prompt_id"] == prompt_id:
                return out


async def drain(ws, quiet: float = 0.2) -> list[dict]:
    out = []
    try:
        while True:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        return out


async def submit(http, prompt: dict, client_id: str = "studio", **extra) -> httpx.Response:
    return await http.post("/prompt", json={"prompt": prompt, "client_id": client_id, **extra})


async def upload(http, name: str, size=(320, 240), colour=(200, 40, 90)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    r = await http.post("/upload/image", files={"image": (name, buf.getvalue(), "image/png")})
    assert r.status_code == 200
    return r.json()["name"]


def ffmpeg_frames(data: bytes, tmp_path, name: str) -> int:
    path = tmp_path / name
    path.write_bytes(data)
    run = subprocess.run([ffmpeg_exe(), "-i", str(path), "-map", "0:v:0", "-f", "null", "-"], capture_output=True, text=True)
    return int(re.findall(r"frame=\s*(\d+)", run.stderr)[-1])


def _empty(width=64):
    return {"class_type": "EmptyImage", "inputs": {"width": width, "height": 64, "batch_size": 1, "color": 0}}


def _save(images):
    return {"class_type": "SaveImage", "inputs": {"images": images, "filename_prefix": "x"}}


RECORDED_REQUESTS = {  # the graphs behind the recorded validation errors (ImageScale stands in for ImageInvert)
    "bad_node_type": {"1": {"class_type": "NoSuchNode", "inputs": {}}},
    "missing_required_input": {"1": {"class_type": "EmptyImage", "inputs": {"height": 64, "batch_size": 1, "color": 0}},
                               "2": _save(["1", 0])},
    "missing_required_link": {"1": _empty(), "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}},
    "value_out_of_range": {"1": _empty(0), "2": _save(["1", 0])},
    "bad_combo_value": {"1": _empty(), "2": {"class_type": "ImageScale", "inputs": {
        "image": ["1", 0], "upscale_method": "magic", "width": 32, "height": 32, "crop": "disabled"}}, "3": _save(["2", 0])},
    "wrong_type_string_for_int": {"1": _empty("abc"), "2": _save(["1", 0])},
    "link_to_missing_node": {"1": _empty(), "2": _save(["99", 0])},
    "link_type_mismatch": {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
                           "2": _save(["1", 0])},
    "no_output_node": {"1": _empty()},
    "missing_class_type": {"1": {"inputs": {}}, "2": _save(["1", 0])},
    "empty_prompt_dict": {},
    "loadimage_missing_file": {"1": {"class_type": "LoadImage", "inputs": {"image": "definitely_missing.png"}},
                               "2": _save(["1", 0])},
    "checkpoint_missing_sd_graph": {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "does_not_exist.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "nope_lora.safetensors",
                                                       "strength_model": 1.0, "strength_clip": 1.0}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["10", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["10", 0], "seed": 1, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["6", 0], "negative": ["6", 0], "latent_image": ["5", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": _save(["8", 0])},
}


def _without_tracebacks(body: dict) -> dict:
    body = json.loads(json.dumps(body))
    for node in body.get("node_errors", {}).values():
        for error in node["errors"]:
            error["extra_info"].pop("traceback", None)
    return body


def _shape(messages: list[dict]) -> list[tuple]:
    """What must match a recorded sequence: each message's type, its data keys, the node it names,
    and for progress_state each node's state and value type."""
    out = []
    for m in messages:
        d = m["data"]
        if m["type"] == "progress_state":
            out.append((m["type"], tuple((n, s["state"], type(s["value"]).__name__, tuple(sorted(s))) for n, s in d["nodes"].items())))
        else:
            out.append((m["type"], tuple(sorted(d)), d.get("node") if m["type"] in ("executing", "executed") else None))
    return out
