"""The ComfyUI double behaves as the real server does under load and faults: out of memory,
interrupt, queue order and delete, the cache, video outputs, Origin checks, uploads, kill and
restart, dropped sockets, broadcasts, VRAM stats (DESIGN.md sections 5 and 7)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from PIL import Image

from tests.unit.comfyui_double.kit import (
    PID, txt2img, ltx_i2v, framepack_vhs, ws_url, until_done, drain, submit, upload, ffmpeg_frames)


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
