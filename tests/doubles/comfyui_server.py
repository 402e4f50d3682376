"""HTTP and WebSocket routes of the ComfyUI double (starlette), answering as server.py of the real
v0.33 server does: same paths (also under /api), status codes, bodies and content types as the
recordings in tests/reference/comfyui-api-recorded.json.
"""

from __future__ import annotations

import copy
import hashlib
import io
import ipaddress
import json
import os
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlsplit

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import comfyui_media as media
from .comfyui_engine import QueueItem, now_ms
from .comfyui_validate import PACK_FOLDERS, SPECS, annotated, node_info, object_info, safe_join, validate

MODEL_FOLDERS = ["checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision",
                 "style_models", "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models",
                 "latent_upscale_models", "custom_nodes", "datasets", "hypernetworks", "photomaker", "classifiers",
                 "model_patches", "audio_encoders", "background_removal", "frame_interpolation",
                 "geometry_estimation", "optical_flow", "detection"]
FEATURES = {"supports_preview_metadata": True, "supports_model_type_tags": True, "max_upload_size": 104857600,
            "extension": {"manager": {"supports_v4": True}}, "node_replacements": True, "assets": False}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


def jr(data, status: int = 200) -> Response:
    """aiohttp's json_response: json.dumps, 'application/json; charset=utf-8'."""
    return Response(json.dumps(data), status_code=status, media_type="application/json; charset=utf-8")


def crash() -> Response:  # what aiohttp answers when a handler raises (e.g. a body that is not JSON)
    return PlainTextResponse("500 Internal Server Error\n\nServer got itself in trouble", status_code=500)


def _error(etype: str, message: str, details: str) -> dict:
    return {"error": {"type": etype, "message": message, "details": details, "extra_info": {}}, "node_errors": {}}


async def _json(request: Request):
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def foreign_origin(host: str, origin: str) -> bool:
    """server.py create_origin_only_middleware: on a loopback Host, the Origin's host must match."""
    try:
        host_domain = host.lower()
        parsed = urlparse(origin)
        origin_domain = parsed.netloc.lower()
        host_parsed = urlsplit("//" + host_domain)
        loopback = _is_loopback(host_parsed.hostname)
        if parsed.port is None:
            host_domain = host_parsed.hostname
        if host_parsed.port is None:
            origin_domain = parsed.hostname
    except ValueError:
        return False
    return bool(loopback and host_domain and origin_domain and host_domain != origin_domain)


class OriginOnly:
    """ASGI middleware: a foreign Origin on a loopback server gets 403 (HTTP and the WS handshake)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if "host" in headers and "origin" in headers and foreign_origin(headers["host"], headers["origin"]):
                if scope["type"] == "http":
                    return await Response(status_code=403)(scope, receive, send)
                await receive()
                return await send({"type": "websocket.close", "code": 1008})
            if scope["type"] == "http" and scope["method"] == "OPTIONS":
                return await Response()(scope, receive, send)
        await self.app(scope, receive, send)


def build_app(double):
    """The double's ASGI app; `double._engine` is the live server state."""

    def engine():
        return double._engine

    async def websocket(ws: WebSocket):
        await ws.accept()
        e = engine()
        sid = ws.query_params.get("clientId", "")
        if sid:
            e.sockets.pop(sid, None)  # reusing a session replaces the old socket
        else:
            sid = uuid.uuid4().hex
        e.sockets[sid] = ws
        try:
            await ws.send_text(json.dumps({"type": "status", "data": {"status": e.queue_info(), "sid": sid}}))
            if e.client_id == sid and e.last_node_id is not None:
                await ws.send_text(json.dumps({"type": "executing", "data": {"node": e.last_node_id}}))
            first = True
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                if msg.get("text") is not None:
                    try:
                        data = json.loads(msg["text"])
                    except ValueError:
                        continue
                    if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                        await ws.send_text(json.dumps({"type": "feature_flags", "data": FEATURES}))
                    first = False
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            e.sockets.pop(sid, None)  # as the real server: even if a newer socket took this sid

    async def post_prompt(request: Request):
        e = engine()
        body = await _json(request)
        if not isinstance(body, dict):
            return crash()
        if "number" in body:
            number = float(body["number"])
        else:
            number = -e.number if body.get("front") else e.number
            e.number += 1
        if "prompt" not in body:
            return jr(_error("no_prompt", "No prompt provided", "No prompt provided"), 400)
        supplied = body.get("prompt_id")
        if supplied is not None and not (isinstance(supplied, str) and UUID4.fullmatch(supplied)):
            return jr(_error("invalid_prompt_id", "prompt_id must be a valid UUID",
                             "prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let "
                             "the server generate one"), 400)
        prompt = body["prompt"]
        if not isinstance(prompt, dict):
            return crash()
        ok, error, outputs, node_errors = validate(double, prompt, body.get("partial_execution_targets"))
        if not ok:
            return jr({"error": error, "node_errors": node_errors}, 400)
        prompt_id = supplied or str(uuid.uuid4())
        extra = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            extra.pop(key, None)
        extra["create_time"] = now_ms()
        double.submissions.append({"prompt_id": prompt_id, "client_id": body.get("client_id"),
                                   "prompt": copy.deepcopy(prompt), "at": extra["create_time"] / 1000})
        await e.put(QueueItem(number, prompt_id, prompt, extra, outputs))
        return jr({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    async def get_prompt(request):
        return jr(engine().queue_info())

    async def get_queue(request):
        e = engine()
        return jr({"queue_running": [e.running.as_list()] if e.running else [],
                   "queue_pending": [it.as_list() for it in e.pending]})

    async def post_queue(request):
        body = await _json(request)
        if not isinstance(body, dict):
            return crash()
        if body.get("clear"):
            await engine().wipe()
        if "delete" in body:
            await engine().delete(list(body["delete"]))
        return Response()

    async def post_interrupt(request):
        body = await _json(request)
        engine().interrupt((body or {}).get("prompt_id") if isinstance(body, dict) else None)
        return Response()

    async def post_free(request):
        return Response()

    async def get_history(request):
        history = engine().history
        q = request.query_params
        max_items = int(q["max_items"]) if "max_items" in q else None
        offset = int(q.get("offset", -1))
        if offset < 0 and max_items is not None:
            offset = len(history) - max_items
        out = {}
        for i, key in enumerate(history):
            if i >= offset:
                out[key] = history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return jr(out)

    async def get_history_one(request):
        pid = request.path_params["prompt_id"]
        history = engine().history
        return jr({pid: history[pid]} if pid in history else {})

    async def post_history(request):
        body = await _json(request)
        if not isinstance(body, dict):
            return crash()
        history = engine().history
        if body.get("clear"):
            history.clear()
        for pid in body.get("delete", []):
            history.pop(pid, None)
        return Response()

    async def get_object_info(request):
        return jr(object_info(double))

    async def get_object_info_one(request):
        name = request.path_params["node_class"]
        return jr({name: node_info(double, name)} if name in SPECS and name in double.node_classes else {})

    def folders() -> list[str]:
        extra = [f for c, f in PACK_FOLDERS.items() if c in double.node_classes]
        return MODEL_FOLDERS + extra + [f for f in double.models if f not in MODEL_FOLDERS and f not in extra]

    async def get_models(request):
        return jr(folders())

    async def get_models_folder(request):
        folder = request.path_params["folder"]
        if folder not in folders():
            return Response(status_code=404)
        return jr(list(double.models.get(folder, [])))

    async def get_embeddings(request):
        return jr([os.path.splitext(f)[0] for f in double.models.get("embeddings", [])])

    async def get_features(request):
        return jr(FEATURES)

    async def get_system_stats(request):
        free = int(double.vram_free)
        return jr({
            "system": {"os": sys.platform, "ram_total": 67108864000, "ram_free": 60129542144,
                       "comfyui_version": "0.33.0", "required_frontend_version": "1.49.6",
                       "installed_templates_version": "0.11.44", "required_templates_version": "0.11.44",
                       "comfy_package_versions": [
                           {"name": "comfyui-frontend-package", "installed": "1.49.6", "required": "1.49.6"},
                           {"name": "comfyui-workflow-templates", "installed": "0.11.44", "required": "0.11.44"},
                           {"name": "comfyui-embedded-docs", "installed": "0.5.10", "required": "0.5.10"},
                           {"name": "comfy-kitchen", "installed": "0.2.31", "required": "0.2.31"},
                           {"name": "comfy-aimdo", "installed": "0.4.13", "required": "0.4.13"}],
                       "python_version": sys.version, "pytorch_version": "2.7.1+cu128", "embedded_python": False,
                       "deploy_environment": "local-git",
                       "argv": ["main.py", "--listen", "127.0.0.1", "--port", str(double.port)]},
            "devices": [{"name": f"cuda:0 {double.gpu_name} : cudaMallocAsync", "type": "cuda", "index": 0,
                         "vram_total": int(double.vram_total), "vram_free": free,
                         "torch_vram_total": max(int(double.vram_total) - free, 0), "torch_vram_free": 0}]})

    async def view(request):
        q = request.query_params
        if "filename" not in q:
            return Response(status_code=404)
        filename, kind = annotated(q["filename"], None)
        if not filename or filename[0] == "/" or ".." in filename:
            return Response(status_code=400)
        kind = kind or q.get("type", "output")
        if kind not in ("output", "input", "temp"):
            return Response(status_code=400)
        folder = double.root / kind
        if "subfolder" in q:
            folder = safe_join(folder, q["subfolder"])
            if folder is None:
                return Response(status_code=403)
        filename = os.path.basename(filename)
        file = folder / filename
        if not file.is_file():
            return Response(status_code=404)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        channel = q.get("channel", "rgba")
        if "preview" in q:
            info = q["preview"].split(";")
            fmt = info[0] if info[0] in ("webp", "jpeg") and "a" not in q.get("channel", "") else "webp"
            quality = int(info[-1]) if info[-1].isdigit() else 90
            body = media.convert_preview(file, fmt, quality, channel)
            return Response(body, media_type=f"image/{fmt}",
                            headers={"Content-Disposition": f'filename="{filename.replace("png", fmt)}"'})
        if channel in ("rgb", "a"):
            with Image.open(file) as img:
                img = img.convert("RGBA")
                out = img.convert("RGB") if channel == "rgb" else Image.new("RGBA", img.size)
                if channel == "a":
                    out.putalpha(img.getchannel("A"))
                buf = io.BytesIO()
                out.save(buf, format="PNG")
            return Response(buf.getvalue(), media_type="image/png", headers=disposition)
        return FileResponse(file, headers=disposition)

    async def upload_image(request):
        async with request.form() as form:
            return await _upload(form)

    async def _upload(form):
        image = form.get("image")
        if image is None or isinstance(image, str) or not image.filename:
            return Response(status_code=400)
        kind = form.get("type") or "input"
        if kind not in ("input", "temp", "output"):
            return Response(status_code=400)
        upload_dir = (double.root / kind).resolve()
        subfolder = form.get("subfolder", "")
        folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        filename = image.filename
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((str(upload_dir), path)) != str(upload_dir):
            return Response(status_code=400)
        os.makedirs(folder, exist_ok=True)
        data = await image.read()
        duplicate = False
        if form.get("overwrite") not in ("true", "1"):
            stem, ext = os.path.splitext(filename)
            i = 1
            while os.path.exists(path):
                if hashlib.sha256(Path(path).read_bytes()).digest() == hashlib.sha256(data).digest():
                    duplicate = True  # the same bytes under the same name: kept once (the real #3465 fix)
                    break
                filename = f"{stem} ({i}){ext}"
                path = os.path.join(folder, filename)
                i += 1
        if not duplicate:
            Path(path).write_bytes(data)
        return jr({"name": filename, "subfolder": subfolder, "type": kind})

    table = [
        ("/prompt", post_prompt, ["POST"]), ("/prompt", get_prompt, ["GET"]),
        ("/queue", get_queue, ["GET"]), ("/queue", post_queue, ["POST"]),
        ("/interrupt", post_interrupt, ["POST"]), ("/free", post_free, ["POST"]),
        ("/history", get_history, ["GET"]), ("/history", post_history, ["POST"]),
        ("/history/{prompt_id}", get_history_one, ["GET"]),
        ("/object_info", get_object_info, ["GET"]), ("/object_info/{node_class}", get_object_info_one, ["GET"]),
        ("/models", get_models, ["GET"]), ("/models/{folder}", get_models_folder, ["GET"]),
        ("/embeddings", get_embeddings, ["GET"]), ("/features", get_features, ["GET"]),
        ("/system_stats", get_system_stats, ["GET"]), ("/view", view, ["GET"]),
        ("/upload/image", upload_image, ["POST"]),
    ]
    routes = [WebSocketRoute("/ws", websocket), WebSocketRoute("/api/ws", websocket)]
    for prefix in ("", "/api"):  # the real server serves every route with and without /api
        routes += [Route(prefix + path, fn, methods=methods) for path, fn, methods in table]
    return OriginOnly(Starlette(routes=routes))
