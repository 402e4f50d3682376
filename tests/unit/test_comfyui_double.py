"""The ComfyUI protocol double answers as the real ComfyUI v0.33 server does (tests/reference/,
DESIGN.md sections 5 and 7): if it drifts from the real server, the client tested against it is
tested against the wrong thing."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import websockets
from PIL import Image

from tests.doubles.comfyui import ComfyUIDouble
from tests.doubles.comfyui_media import ffmpeg_exe

CKPT = "animagine-xl-3.1.safetensors"
PID = "0b6bbd2e-3c1f-4d0e-9a39-6f4f0d3c8a11"
RECORDED = json.loads((Path(__file__).parents[1] / "reference" / "comfyui-api-recorded.json").read_text())


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


@pytest.fixture
def comfy():
    with ComfyUIDouble(latency=0.02) as double:
        double.checkpoints = [CKPT, "ltx-video-2b-v0.9.5.safetensors"]
        yield double


@pytest.fixture
async def http(comfy):
    async with httpx.AsyncClient(base_url=comfy.url, timeout=10) as client:
        yield client


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


async def test_validation_errors_are_the_recorded_bodies(comfy, http):
    """Every recorded /prompt validation failure comes back with the recorded status and body (error
    type, message, details, extra_info, node_errors with dependent_outputs), tracebacks aside."""
    comfy.models = {folder: [] for folder in comfy.models}  # the recording server had no models
    for case, graph in RECORDED_REQUESTS.items():
        r = await http.post("/prompt", json={"prompt": graph})
        recorded = RECORDED["validation_errors"][case]
        assert (r.status_code, _without_tracebacks(r.json())) == (recorded["status"], _without_tracebacks(recorded["body"])), case
    for case, body in (("no_prompt_key", {"client_id": "x"}), ("invalid_client_prompt_id", {"prompt": {}, "prompt_id": "abc"})):
        r = await http.post("/prompt", json=body)
        assert (r.status_code, r.json()) == (RECORDED["validation_errors"][case]["status"], RECORDED["validation_errors"][case]["body"])
    r = await http.post("/prompt", content=b"{not json")
    assert (r.status_code, r.text) == (500, RECORDED["validation_errors"]["malformed_json_body"]["body"])
    assert comfy.submissions == []


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


async def test_websocket_sequences_have_the_recorded_shape(comfy, http):
    """A 3-node graph run, run again (all cached), and failing in LoadImage gives the recorded
    ws_success_sequence, ws_cached_sequence and ws_exec_error_sequence message for message, and the
    recorded /history shapes; another client sees only the status broadcasts."""
    graph = {"1": _empty(), "2": {"class_type": "ImageScale", "inputs": {
        "image": ["1", 0], "upscale_method": "nearest-exact", "width": 64, "height": 64, "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "probe/ok"}}}
    broken = {"1": {"class_type": "LoadImage", "inputs": {"image": "broken.png"}}, "2": _save(["1", 0])}
    async with websockets.connect(ws_url(comfy, "probe")) as ws, websockets.connect(ws_url(comfy, "other")) as other:
        assert _shape([json.loads(await ws.recv())]) == _shape(RECORDED["ws_initial_messages"])
        await other.recv()
        first = (await submit(http, graph, "probe")).json()["prompt_id"]
        assert _shape(await until_done(ws, first)) == _shape(RECORDED["ws_success_sequence"])
        again = (await submit(http, graph, "probe")).json()["prompt_id"]
        assert _shape(await until_done(ws, again)) == _shape(RECORDED["ws_cached_sequence"])
        r = await http.post("/upload/image", files={"image": ("broken.png", b"not a picture", "image/png")})
        assert r.json() == RECORDED["upload_broken"][2]
        failed = (await submit(http, broken, "probe")).json()["prompt_id"]
        msgs = await until_done(ws, failed)
        assert _shape(msgs) == _shape(RECORDED["ws_exec_error_sequence"])
        error = next(m["data"] for m in msgs if m["type"] == "execution_error")
        assert (error["exception_type"], error["current_inputs"]) == ("PIL.UnidentifiedImageError", {"image": ["broken.png"]})
        seen_by_other = await drain(other)
    assert _shape(seen_by_other) == _shape(RECORDED["ws_other_client_sees"] * 3)
    recorded_ok = next(iter(RECORDED["history_one"][2].values()))
    ok = comfy.history[first]
    assert (list(ok), list(ok["status"]), ok["meta"]) == (list(recorded_ok), list(recorded_ok["status"]), recorded_ok["meta"])
    assert ok["outputs"]["3"]["images"][0]["subfolder"] == "probe" and len(ok["prompt"]) == 5
    recorded_error = next(iter(RECORDED["history_exec_error"][2].values()))
    bad = comfy.history[failed]
    assert (bad["status"]["status_str"], bad["status"]["completed"], bad["outputs"], bad["meta"]) == ("error", False, {}, {})
    assert [m[0] for m in bad["status"]["messages"]] == [m[0] for m in recorded_error["status"]["messages"]]


async def test_txt2img_recorded_message_order_reaches_only_the_submitting_client(comfy, http):
    """Events of a prompt go to the socket whose clientId matches its client_id, in the real order
    (status x2, execution_start, execution_cached, per node progress_state/executing/.../progress_state,
    execution_success, status, executing null); another client sees only the status broadcasts."""
    async with websockets.connect(ws_url(comfy, "mine")) as mine, websockets.connect(ws_url(comfy, "other")) as other:
        hello = json.loads(await mine.recv())
        assert hello == {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "mine"}}
        await other.recv()
        r = await submit(http, txt2img(), "mine")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
        body = r.json()
        assert body["node_errors"] == {} and body["number"] == 0 and re.fullmatch(r"[0-9a-f-]{36}", body["prompt_id"])
        msgs = await until_done(mine, body["prompt_id"])
        seen_by_other = await drain(other)

    expected = ["status", "status", "execution_start", "execution_cached"]
    for node in ["4", "5", "7", "6", "3", "8", "9"]:  # ComfyUI's ExecutionList order for this graph
        expected += ["progress_state", "executing"]
        expected += ["progress_state", "progress"] * 4 if node == "3" else []
        expected += ["executed"] if node == "9" else []
        expected += ["progress_state"]
    expected += ["execution_success", "status", "executing"]
    assert [m["type"] for m in msgs] == expected
    assert [m["data"]["status"]["exec_info"]["queue_remaining"] for m in msgs if m["type"] == "status"] == [1, 1, 0]
    executing = [m["data"] for m in msgs if m["type"] == "executing"]
    assert executing[0] == {"node": "4", "display_node": "4", "prompt_id": body["prompt_id"]}
    assert executing[-1] == {"node": None, "prompt_id": body["prompt_id"]}
    progress = [m["data"] for m in msgs if m["type"] == "progress"]
    assert progress == [{"value": v, "max": 4, "prompt_id": body["prompt_id"], "node": "3"} for v in (1, 2, 3, 4)]
    executed = next(m["data"] for m in msgs if m["type"] == "executed")
    assert executed == {"node": "9", "display_node": "9", "prompt_id": body["prompt_id"], "output": {
        "images": [{"filename": "shot_00001_.png", "subfolder": "studio", "type": "output"}]}}
    last_state = [m for m in msgs if m["type"] == "progress_state"][-1]["data"]["nodes"]["9"]
    assert last_state == {"value": 1.0, "max": 1.0, "state": "finished", "node_id": "9", "prompt_id": body["prompt_id"],
                          "display_node_id": "9", "parent_node_id": None, "real_node_id": "9"}
    assert {m["type"] for m in seen_by_other} == {"status"}


async def test_history_success_shape_and_unknown_id(comfy, http):
    """/history/{id} holds prompt [number, id, graph, extra_data, outputs], outputs per save node,
    status {status_str success, completed, messages} and meta; an unknown id gives {}."""
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        pid = (await submit(http, txt2img())).json()["prompt_id"]
        await until_done(ws, pid)
    entry = (await http.get(f"/history/{pid}")).json()[pid]
    number, hid, graph, extra, outputs = entry["prompt"]
    assert (number, hid, graph["3"]["inputs"]["seed"], outputs) == (0, pid, 42, ["9"])
    assert extra["client_id"] == "studio" and isinstance(extra["create_time"], int)
    assert entry["outputs"] == {"9": {"images": [{"filename": "shot_00001_.png", "subfolder": "studio", "type": "output"}]}}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == ["execution_start", "execution_cached", "execution_success"]
    assert entry["meta"] == {"9": {"node_id": "9", "display_node": "9", "parent_node": None, "real_node_id": "9"}}
    assert (await http.get(f"/history/{PID}")).json() == {}
    assert list((await http.get("/history", params={"max_items": 1})).json()) == [pid]
    assert comfy.history[pid]["status"]["status_str"] == "success"


async def test_view_serves_the_png_at_the_latent_size_and_refuses_escapes(comfy, http):
    """/view returns the saved PNG (EmptyLatentImage 512x768 decodes to 512x768, different seeds give
    different pictures); a missing file is 404 and a '..' filename 400, as recorded."""
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        for seed in (1, 2):
            await until_done(ws, (await submit(http, txt2img(seed=seed))).json()["prompt_id"])
    pictures = []
    for name in ("shot_00001_.png", "shot_00002_.png"):
        r = await http.get("/view", params={"filename": name, "subfolder": "studio", "type": "output"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["content-disposition"] == f'filename="{name}"'
        pictures.append(Image.open(io.BytesIO(r.content)).convert("RGB"))
    assert pictures[0].size == pictures[1].size == (512, 768)
    assert pictures[0].tobytes() != pictures[1].tobytes()
    assert (await http.get("/view", params={"filename": "nope.png", "type": "output"})).status_code == 404
    assert (await http.get("/view", params={"filename": "../etc/passwd", "type": "output"})).status_code == 400
    assert (await http.get("/view", params={"filename": "shot_00001_.png", "subfolder": "../..", "type": "output"})).status_code == 403
    preview = await http.get("/view", params={"filename": "shot_00001_.png", "subfolder": "studio", "preview": "webp;50"})
    assert preview.headers["content-type"] == "image/webp"


async def test_missing_checkpoint_is_value_not_in_list_naming_ckpt_name(comfy, http):
    """A checkpoint the backend lacks is a 400 prompt_outputs_failed_validation whose node error is
    value_not_in_list with details and extra_info naming ckpt_name and the files it has."""
    r = await submit(http, txt2img(ckpt="nope.safetensors"))
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                             "details": "", "extra_info": {}}
    err = body["node_errors"]["4"]
    assert err["class_type"] == "CheckpointLoaderSimple" and err["dependent_outputs"] == ["9"]
    assert err["errors"] == [{
        "type": "value_not_in_list", "message": "Value not in list",
        "details": f"ckpt_name: 'nope.safetensors' not in ['{CKPT}', 'ltx-video-2b-v0.9.5.safetensors']",
        "extra_info": {"input_name": "ckpt_name",
                       "input_config": [[CKPT, "ltx-video-2b-v0.9.5.safetensors"],
                                        {"tooltip": "The name of the checkpoint (model) to load."}],
                       "received_value": "nope.safetensors"}}]
    assert comfy.submissions == []
    info = (await http.get("/object_info/CheckpointLoaderSimple")).json()
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == comfy.checkpoints
    assert (await http.get("/models/checkpoints")).json() == comfy.checkpoints
    assert (await http.get("/models/nonexistent")).status_code == 404


async def test_required_input_missing_and_wrong_type(comfy, http):
    """A missing required input and a value that does not convert are reported per node as the real
    server words them."""
    graph = txt2img()
    del graph["5"]["inputs"]["width"]
    graph["3"]["inputs"]["steps"] = "many"
    errors = (await submit(http, graph)).json()["node_errors"]
    assert errors["5"]["errors"] == [{"type": "required_input_missing", "message": "Required input is missing",
                                      "details": "width", "extra_info": {"input_name": "width"}}]
    bad = errors["3"]["errors"][0]
    assert bad["type"] == "invalid_input_type" and bad["message"] == "Failed to convert an input value to a INT value"
    assert bad["details"] == "steps, many, invalid literal for int() with base 10: 'many'"


async def test_unknown_class_is_missing_node_type(comfy, http):
    """A class the server does not have (unknown, or its node pack removed) is missing_node_type."""
    graph = txt2img()
    graph["3"]["class_type"] = "NoSuchSampler"
    body = (await submit(http, graph)).json()
    assert body == {"error": {"type": "missing_node_type",
                              "message": "Node 'NoSuchSampler' not found. The custom node may not be installed.",
                              "details": "Node ID '#3'",
                              "extra_info": {"node_id": "3", "class_type": "NoSuchSampler", "node_title": "NoSuchSampler"}},
                    "node_errors": {}}
    comfy.node_classes.discard("VHS_VideoCombine")
    r = await submit(http, framepack_vhs("x.png"))
    assert r.status_code == 400 and r.json()["error"]["extra_info"]["class_type"] == "VHS_VideoCombine"
    assert "VHS_VideoCombine" not in (await http.get("/object_info")).json()


async def test_no_output_node_is_prompt_no_outputs(comfy, http):
    """A graph without an output node is refused with prompt_no_outputs."""
    graph = txt2img()
    del graph["9"]
    r = await submit(http, graph)
    assert r.status_code == 400
    assert r.json() == {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                                  "extra_info": {}}, "node_errors": {}}


async def test_supplied_prompt_id_must_be_canonical_uuid4(comfy, http):
    """A supplied prompt_id that is not a canonical lowercase uuid4 gets the real invalid_prompt_id
    error; a good one is the prompt's id."""
    for bad in ("job-1", PID.upper(), "{" + PID + "}"):
        r = await submit(http, txt2img(), prompt_id=bad)
        assert r.status_code == 400
        assert r.json()["error"] == {
            "type": "invalid_prompt_id", "message": "prompt_id must be a valid UUID",
            "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the "
                       "server generate one", "extra_info": {}}
    r = await submit(http, txt2img(), prompt_id=PID)
    assert r.status_code == 200 and r.json()["prompt_id"] == PID
    assert [s["prompt_id"] for s in comfy.submissions] == [PID]


async def test_oom_is_a_torch_out_of_memory_execution_error_and_history_error(comfy, http):
    """fail_next("oom") fails the next sampler with execution_error exception_type
    torch.OutOfMemoryError, message 'Allocation on device ...'; history says error; a retry runs
    (its loaders cached). oom_above_pixels fails only samplers over the size, so smaller succeeds."""
    comfy.fail_next("oom")
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        pid = (await submit(http, txt2img())).json()["prompt_id"]
        msgs = await until_done(ws, pid)
        error = next(m["data"] for m in msgs if m["type"] == "execution_error")
        assert "execution_success" not in [m["type"] for m in msgs]
        assert error["exception_type"] == "torch.OutOfMemoryError"
        assert error["exception_message"].startswith("Allocation on device")
        assert (error["node_id"], error["node_type"], error["prompt_id"]) == ("3", "KSampler", pid)
        assert error["executed"] == ["4", "5", "7", "6"] and error["current_inputs"]["seed"] == [42]
        assert isinstance(error["traceback"], list) and "current_outputs" in error
        status = (await http.get(f"/history/{pid}")).json()[pid]["status"]
        assert (status["status_str"], status["completed"]) == ("error", False)
        assert status["messages"][-1][0] == "execution_error"

        retry = (await submit(http, txt2img())).json()["prompt_id"]
        msgs = await until_done(ws, retry)
        assert next(m["data"]["nodes"] for m in msgs if m["type"] == "execution_cached") == ["4", "6", "7", "5"]
        assert "execution_success" in [m["type"] for m in msgs]

        comfy.oom_above_pixels = 768 * 768
        big = (await submit(http, txt2img(width=1024, height=1024))).json()["prompt_id"]
        assert "execution_error" in [m["type"] for m in await until_done(ws, big)]
        small = (await submit(http, txt2img(width=512, height=768, seed=9))).json()["prompt_id"]
        assert "execution_success" in [m["type"] for m in await until_done(ws, small)]


async def test_interrupt_stops_the_running_prompt(comfy, http):
    """POST /interrupt stops the running prompt at its current node: execution_interrupted
    {node_id, node_type, executed}, and history status error; an interrupt naming another prompt
    does nothing."""
    comfy.latency = 2.0
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        pid = (await submit(http, txt2img(steps=20))).json()["prompt_id"]
        while json.loads(await ws.recv())["type"] != "progress":
            pass
        assert (await http.post("/interrupt", json={"prompt_id": PID})).status_code == 200  # not the running one
        while json.loads(await ws.recv())["type"] != "progress":  # ... so it keeps running
            pass
        assert (await http.post("/interrupt")).status_code == 200
        msgs = await until_done(ws, pid, timeout=3)
    stop = next(m["data"] for m in msgs if m["type"] == "execution_interrupted")
    assert set(stop) == {"prompt_id", "node_id", "node_type", "executed", "timestamp"}
    assert (stop["node_id"], stop["node_type"], stop["executed"]) == ("3", "KSampler", ["4", "5", "7", "6"])
    entry = (await http.get(f"/history/{pid}")).json()[pid]
    assert entry["status"]["status_str"] == "error" and entry["outputs"] == {}


async def test_queue_runs_in_order_and_delete_removes_pending(comfy, http):
    """One prompt runs at a time; /queue shows the running item and the pending ones as
    [number, id, graph, extra_data, outputs]; POST /queue {delete} drops a pending prompt, which
    never runs."""
    comfy.latency = 0.3
    ids = [(await submit(http, txt2img(seed=s))).json()["prompt_id"] for s in (1, 2, 3)]
    queue = (await http.get("/queue")).json()
    assert [q[1] for q in queue["queue_running"]] == ids[:1]
    assert [q[1] for q in queue["queue_pending"]] == ids[1:]
    assert [q[0] for q in queue["queue_pending"]] == [1, 2] and queue["queue_pending"][0][4] == ["9"]
    assert (await http.post("/queue", json={"delete": [ids[2]]})).status_code == 200
    assert [q[1] for q in (await http.get("/queue")).json()["queue_pending"]] == ids[1:2]
    async with asyncio.timeout(5):
        while ids[1] not in comfy.history:
            await asyncio.sleep(0.05)
    assert (await http.get(f"/history/{ids[2]}")).json() == {}
    assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
    assert [comfy.history[i]["status"]["status_str"] for i in ids[:2]] == ["success", "success"]


async def test_identical_resubmission_is_served_from_cache(comfy, http):
    """Resubmitting an identical graph executes nothing: every node is in execution_cached and the save
    node re-sends the same file; a new seed reruns only the sampler and what follows it."""
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        await until_done(ws, (await submit(http, txt2img())).json()["prompt_id"])
        again = (await submit(http, txt2img())).json()["prompt_id"]
        msgs = await until_done(ws, again)
        assert [m["type"] for m in msgs] == ["status", "status", "execution_start", "execution_cached", "executed",
                                             "progress_state", "execution_success", "status", "executing"]
        assert msgs[3]["data"]["nodes"] == ["4", "6", "7", "5", "3", "8", "9"]
        assert msgs[4]["data"]["output"]["images"][0]["filename"] == "shot_00001_.png"
        assert msgs[5]["data"]["nodes"]["9"]["value"] == 1 and msgs[5]["data"]["nodes"]["9"]["state"] == "finished"
        reseeded = await until_done(ws, (await submit(http, txt2img(seed=43))).json()["prompt_id"])
        assert reseeded[3]["data"]["nodes"] == ["4", "6", "7", "5"]
        assert [m["data"]["node"] for m in reseeded if m["type"] == "executing"] == ["3", "8", "9", None]
    assert comfy.history[again]["outputs"]["9"]["images"][0]["filename"] == "shot_00001_.png"
    assert sorted(p.name for p in (comfy.root / "output" / "studio").iterdir()) == ["shot_00001_.png", "shot_00002_.png"]


async def test_ltx_video_comes_under_images_with_animated(comfy, http, tmp_path):
    """The core LTX-Video graph (LoadImage of an upload, LTXVImgToVideo, SamplerCustom, CreateVideo,
    SaveVideo mp4/h264) saves an mp4 of `length` frames at the size /32, reported under `images` with
    `animated: [true]` like the recorded video outputs."""
    name = await upload(http, "start.png")
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        r = await submit(http, ltx_i2v(name, length=17))
        assert r.status_code == 200, r.text
        await until_done(ws, r.json()["prompt_id"])
    out = comfy.history[r.json()["prompt_id"]]["outputs"]["13"]
    assert out == {"images": [{"filename": "video_00001_.mp4", "subfolder": "studio", "type": "output"}], "animated": [True]}
    video = await http.get("/view", params=out["images"][0])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    assert ffmpeg_frames(video.content, tmp_path, "ltx.mp4") == 17


async def test_video_combine_comes_under_gifs(comfy, http, tmp_path):
    """VideoHelperSuite's VHS_VideoCombine reports its file under `gifs` with its format; FramePack
    makes round(seconds*30/(window*4)) sections of window*4 frames plus the start frame."""
    name = await upload(http, "portrait.png", size=(128, 192))
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        r = await submit(http, framepack_vhs(name, seconds=1.0))
        assert r.status_code == 200, r.text
        msgs = await until_done(ws, r.json()["prompt_id"])
    assert len([m for m in msgs if m["type"] == "progress"]) == 3  # one section of 3 steps
    gif = comfy.history[r.json()["prompt_id"]]["outputs"]["13"]["gifs"][0]
    assert {k: gif[k] for k in ("filename", "subfolder", "type", "format", "workflow")} == {
        "filename": "fp_00001.mp4", "subfolder": "studio", "type": "output", "format": "video/h264-mp4",
        "workflow": "fp_00001.png"}
    video = await http.get("/view", params={"filename": gif["filename"], "subfolder": "studio", "type": "output"})
    assert ffmpeg_frames(video.content, tmp_path, "fp.mp4") == 1 * 9 * 4 + 1
    with Image.open(comfy.root / "output" / "studio" / "fp_00001.png") as first:
        assert first.size == (128, 192)


async def test_foreign_origin_is_refused(comfy, http):
    """A request whose Origin is another host gets 403 (the real origin check), WebSocket included;
    a same-host Origin or none is served."""
    r = await http.post("/prompt", json={"prompt": txt2img()}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and comfy.submissions == []
    assert (await http.get("/queue", headers={"Origin": comfy.url})).status_code == 200
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(comfy, "x"), origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def test_upload_keeps_duplicates_once_and_renames_collisions(comfy, http):
    """/upload/image answers {name, subfolder, type}; the same bytes under the same name are kept once,
    other bytes get 'name (1).png'; no image field is 400."""
    assert await upload(http, "ref.png") == "ref.png"
    assert await upload(http, "ref.png") == "ref.png"
    assert await upload(http, "ref.png", colour=(1, 2, 3)) == "ref (1).png"
    r = await http.post("/upload/image", data={"subfolder": "chars", "type": "input"},
                        files={"image": ("a.png", b"\x89PNG", "image/png")})
    assert r.json() == {"name": "a.png", "subfolder": "chars", "type": "input"}
    assert (await http.post("/upload/image", data={"name": "x"})).status_code == 400


async def test_kill_refuses_connections_and_start_comes_back_empty(comfy, http):
    """kill() cuts the server mid-job and refuses new connections; start() serves the same URL with an
    empty queue and history, while `submissions` keeps every accepted prompt."""
    comfy.latency = 5
    pid = (await submit(http, txt2img())).json()["prompt_id"]
    comfy.kill()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=comfy.url) as fresh:
            await fresh.get("/queue")
    comfy.start()
    comfy.latency = 0.02
    async with httpx.AsyncClient(base_url=comfy.url) as fresh:
        assert (await fresh.get(f"/history/{pid}")).json() == {}
        assert (await fresh.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
    assert [s["prompt_id"] for s in comfy.submissions] == [pid]


async def test_disconnect_drops_sockets_but_the_prompt_completes(comfy, http):
    """fail_next("disconnect") cuts every WebSocket mid-execution; the prompt still finishes and its
    history says success."""
    comfy.fail_next("disconnect")
    async with websockets.connect(ws_url(comfy, "studio")) as ws:
        await ws.recv()
        pid = (await submit(http, txt2img())).json()["prompt_id"]
        with pytest.raises(websockets.ConnectionClosed):
            await until_done(ws, pid)
    async with asyncio.timeout(5):
        while pid not in comfy.history:
            await asyncio.sleep(0.02)
    assert comfy.history[pid]["status"]["status_str"] == "success"


async def test_prompt_without_client_id_broadcasts_progress_state_only(comfy, http):
    """With no client_id the real server sends no execution_* or executing messages, but its
    progress_state updates reach every socket (recorded no_client_id)."""
    async with websockets.connect(ws_url(comfy, "a")) as ws:
        await ws.recv()
        r = await http.post("/prompt", json={"prompt": txt2img(steps=1)})
        async with asyncio.timeout(5):
            while r.json()["prompt_id"] not in comfy.history:
                await asyncio.sleep(0.02)
        types = {m["type"] for m in await drain(ws)}
    assert types == {"status", "progress_state", "progress"}


async def test_system_stats_reports_the_vram_knob(comfy, http):
    """/system_stats has the recorded fields; devices[0].vram_free is the double's vram_free."""
    comfy.vram_free = 3 * 1024**3
    stats = (await http.get("/system_stats")).json()
    assert stats["system"]["comfyui_version"] == "0.33.0"
    assert set(stats["devices"][0]) == {"name", "type", "index", "vram_total", "vram_free", "torch_vram_total",
                                        "torch_vram_free"}
    assert stats["devices"][0]["vram_free"] == 3 * 1024**3
    assert (await http.get("/api/system_stats")).json()["devices"][0]["vram_free"] == 3 * 1024**3
