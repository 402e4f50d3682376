"""The ComfyUI double's protocol (validation errors, socket message order, history, /view) is the
recorded real server's (tests/reference/, DESIGN.md sections 5 and 7): if it drifts, the client tested
against it is tested against the wrong thing."""

from __future__ import annotations

import io
import json
import re

import websockets
from PIL import Image

from tests.unit.comfyui_double.kit import (
    CKPT, PID, RECORDED, txt2img, framepack_vhs, ws_url, until_done, drain, submit, _empty, _save,
    RECORDED_REQUESTS, _without_tracebacks, _shape)


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
