"""The ComfyUI client: httpx for HTTP, one WebSocket per backend (and client id) for events.

It follows DESIGN.md section 5 (what the real v0.33 server answers): our own uuid4 `prompt_id`
on submission so a retry after a crash finds its prompt instead of submitting twice; events
routed to the socket whose clientId matches; success confirmed from /history with
`status_str == "success"`; outputs under `images` (videos too, with `animated`) or `gifs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

log = logging.getLogger(__name__)
DISCONNECTED = {"type": "_disconnected"}  # put in a waiter's queue when its socket drops


class ComfyError(Exception):
    """kind: unreachable | missing_node | missing_model | validation | no_outputs | oom | execution |
    interrupted | failed (history says error without a message)."""

    def __init__(self, kind: str, message: str, *, node_type: str | None = None, input_name: str | None = None,
                 value=None):
        super().__init__(message)
        self.kind, self.message, self.node_type, self.input_name, self.value = kind, message, node_type, input_name, value


@dataclass
class OutputFile:
    node: str
    filename: str
    subfolder: str
    type: str
    animated: bool

    @property
    def is_video(self) -> bool:
        return self.animated or self.filename.lower().endswith((".mp4", ".webm", ".mov", ".mkv", ".gif"))


@dataclass
class PromptResult:
    prompt_id: str
    outputs: list[OutputFile]
    execution_seconds: float | None


@dataclass
class Progress:
    prompt_id: str
    node: str | None
    value: int
    max: int


ProgressCallback = Callable[[Progress], Awaitable[None]]


def parse_submit_error(body: dict) -> ComfyError:
    """A 400 from POST /prompt as one ComfyError (missing models name their input)."""
    error = body.get("error") or {}
    etype = error.get("type", "")
    if etype == "missing_node_type":
        cls = (error.get("extra_info") or {}).get("class_type")
        return ComfyError("missing_node", error.get("message") or f"Node {cls} is not installed", node_type=cls)
    if etype == "prompt_no_outputs":
        return ComfyError("no_outputs", error.get("message") or "The workflow has no output node")
    for node in (body.get("node_errors") or {}).values():
        for err in node.get("errors", []):
            extra = err.get("extra_info") or {}
            name = extra.get("input_name") or err.get("details")
            if err.get("type") == "value_not_in_list":
                return ComfyError("missing_model", err.get("message", "value not in list"), node_type=node.get("class_type"),
                                  input_name=name, value=extra.get("received_value"))
            return ComfyError("validation", f"{node.get('class_type')}: {err.get('message')} ({name})",
                              node_type=node.get("class_type"), input_name=name)
    return ComfyError("validation", error.get("message") or "ComfyUI refused the workflow")


def parse_outputs(entry: dict) -> list[OutputFile]:
    files = []
    for node_id, output in (entry.get("outputs") or {}).items():
        animated = bool((output.get("animated") or [False])[0])
        for key in ("images", "gifs", "videos"):
            for item in output.get(key) or []:
                if item.get("type") == "temp":  # previews, not results
                    continue
                files.append(OutputFile(node=node_id, filename=item["filename"], subfolder=item.get("subfolder", ""),
                                        type=item.get("type", "output"), animated=animated or key == "gifs"))
    return files


def execution_seconds(entry: dict) -> float | None:
    stamps = {name: data.get("timestamp") for name, data in (entry.get("status") or {}).get("messages") or []}
    start = stamps.get("execution_start")
    end = stamps.get("execution_success") or stamps.get("execution_error") or stamps.get("execution_interrupted")
    return (end - start) / 1000 if start and end else None


def error_from_event(data: dict) -> ComfyError:
    etype, message = data.get("exception_type", ""), data.get("exception_message", "")
    oom = "OutOfMemory" in etype or "out of memory" in message.lower() or "Allocation on device" in message
    return ComfyError("oom" if oom else "execution", f"{data.get('node_type')}: {etype}: {message}".strip(),
                      node_type=data.get("node_type"))


PREVIEW_FORMATS = {1: "jpeg", 2: "png"}


def parse_preview(frame: bytes) -> tuple[str, bytes] | None:
    """A binary frame: 4-byte event type (1 = preview image), 4-byte image type, the image."""
    if len(frame) > 8 and int.from_bytes(frame[:4], "big") == 1:
        return PREVIEW_FORMATS.get(int.from_bytes(frame[4:8], "big"), "jpeg"), frame[8:]
    return None


@dataclass
class _Socket:
    client_id: str
    waiters: dict[str, asyncio.Queue] = field(default_factory=dict)
    executing: str | None = None  # the prompt running for this client: binary previews carry no id
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


class ComfyClient:
    def __init__(self, url: str, *, client_id: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.client_id = client_id or f"anime-studio-{uuid.uuid4()}"
        # a server-side client sends no Origin header (ComfyUI refuses foreign origins)
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self._sockets: dict[str, _Socket] = {}

    async def close(self) -> None:
        for sock in self._sockets.values():
            if sock.task:
                sock.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sock.task
        self._sockets.clear()
        await self.http.aclose()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return await self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError,
                httpx.ReadTimeout, httpx.WriteError) as exc:
            raise ComfyError("unreachable", f"ComfyUI at {self.url} is unreachable ({exc.__class__.__name__})") from exc

    async def _json(self, path: str, **params):
        response = await self._request("GET", path, params=params or None)
        response.raise_for_status()
        return response.json()

    async def submit(self, workflow: dict, prompt_id: str, client_id: str | None = None) -> None:
        body = {"prompt": workflow, "client_id": client_id or self.client_id, "prompt_id": prompt_id}
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            raise parse_submit_error(response.json())
        response.raise_for_status()

    async def history(self, prompt_id: str) -> dict | None:
        """The prompt's history entry, or None while it is unknown, queued or running."""
        return (await self._json(f"/history/{prompt_id}")).get(prompt_id)

    async def queue(self) -> dict:
        return await self._json("/queue")

    async def is_queued(self, prompt_id: str) -> bool:
        q = await self.queue()
        return any(item[1] == prompt_id for item in q.get("queue_running", []) + q.get("queue_pending", []))

    async def system_stats(self) -> dict:
        return await self._json("/system_stats")

    async def object_info(self) -> dict:
        return await self._json("/object_info")

    async def model_folders(self) -> list[str]:
        return await self._json("/models")

    async def models(self, folder: str) -> list[str]:
        return await self._json(f"/models/{folder}")

    async def cancel(self, prompt_id: str) -> None:
        """Removes a pending prompt, or interrupts it when it is the one running."""
        await self._request("POST", "/queue", json={"delete": [prompt_id]})
        running = (await self.queue()).get("queue_running", [])
        if any(item[1] == prompt_id for item in running):
            await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def upload_image(self, path: Path, *, name: str | None = None, subfolder: str = "anime-studio") -> str:
        """Uploads an input image (overwriting one of the same name); returns the name LoadImage
        takes ("subfolder/name")."""
        with open(path, "rb") as fh:
            response = await self._request("POST", "/upload/image",
                                           files={"image": (name or path.name, fh, "image/png")},
                                           data={"subfolder": subfolder, "type": "input", "overwrite": "true"})
        response.raise_for_status()
        body = response.json()
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    async def download(self, output: OutputFile, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        params = {"filename": output.filename, "subfolder": output.subfolder, "type": output.type}
        partial = dest.with_name(dest.name + ".part")
        try:
            async with self.http.stream("GET", "/view", params=params) as response:
                response.raise_for_status()
                with open(partial, "wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 16):
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise ComfyError("unreachable", f"Downloading {output.filename} from {self.url} failed: {exc}") from exc
        partial.replace(dest)
        return dest

    # -- WebSocket ----------------------------------------------------------------------------

    def _socket(self, client_id: str) -> _Socket:
        sock = self._sockets.get(client_id)
        if sock is None or sock.task is None or sock.task.done():
            sock = self._sockets[client_id] = sock or _Socket(client_id)
            sock.task = asyncio.create_task(self._listen(sock), name=f"comfy-ws-{self.url}")
        return sock

    async def _listen(self, sock: _Socket) -> None:
        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={sock.client_id}"
        delay = 0.5
        while True:
            try:
                async with websockets.connect(ws_url, max_size=None, open_timeout=10) as ws:
                    sock.connected.set()
                    delay = 0.5
                    for queue in sock.waiters.values():  # anything missed while down: check /history
                        queue.put_nowait(DISCONNECTED)
                    async for raw in ws:
                        if isinstance(raw, bytes):  # a preview of the prompt executing now
                            preview = parse_preview(raw)
                            if preview and sock.executing in sock.waiters:
                                sock.waiters[sock.executing].put_nowait({"type": "_preview", "data": preview})
                            continue
                        message = json.loads(raw)
                        data = message.get("data") or {}
                        prompt_id = data.get("prompt_id")
                        if message.get("type") == "executing":
                            sock.executing = prompt_id if data.get("node") is not None else None
                        if prompt_id in sock.waiters:
                            sock.waiters[prompt_id].put_nowait(message)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
                log.info("ComfyUI socket %s dropped: %s", self.url, exc)
            sock.connected.clear()
            for queue in sock.waiters.values():
                queue.put_nowait(DISCONNECTED)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)

    async def run(self, workflow: dict, prompt_id: str, *, client_id: str | None = None, resume: bool = False,
                  on_progress: ProgressCallback | None = None, on_preview=None, on_finished=None,
                  on_submitted=None, timeout: float | None = None) -> PromptResult:
        """Submits and waits for the result; with `resume` (the prompt id may have been submitted
        before a crash) it first looks for the prompt and only follows it if ComfyUI knows it.
        Raises ComfyError on any failure."""
        client_id = client_id or self.client_id
        sock = self._socket(client_id)
        queue: asyncio.Queue = asyncio.Queue()
        sock.waiters[prompt_id] = queue
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(sock.connected.wait(), timeout=10)
            entry = await self.history(prompt_id) if resume else None
            if entry is not None:
                return self._result(prompt_id, entry)
            if not resume or not await self.is_queued(prompt_id):
                await self.submit(workflow, prompt_id, client_id)
            if on_submitted is not None:  # submitted now, or before a crash
                on_submitted()
            return await asyncio.wait_for(self._follow(prompt_id, queue, on_progress, on_preview, on_finished),
                                          timeout)
        finally:
            sock.waiters.pop(prompt_id, None)

    async def _follow(self, prompt_id: str, queue: asyncio.Queue, on_progress, on_preview,
                      on_finished) -> PromptResult:
        """`on_finished()` is awaited as soon as ComfyUI says the prompt ended (success or not),
        before the history is read: the backend is free from that moment."""
        while True:
            message = await queue.get()
            kind, data = message["type"], message.get("data") or {}
            if kind == "_preview":
                if on_preview:
                    await on_preview(*data)
            elif kind == "progress" and on_progress:
                await on_progress(Progress(prompt_id, data.get("node"), int(data.get("value", 0)), int(data.get("max", 1))))
            elif kind == "execution_success":
                if on_finished:
                    await on_finished()
                entry = await self.history(prompt_id)  # unreachable raises: the job moves on
                if entry is None:  # success without history is not success
                    raise ComfyError("failed", "ComfyUI reported success but has no history for the prompt")
                return self._result(prompt_id, entry)
            elif message is DISCONNECTED:  # events may have been missed: ask where the prompt is
                if await self.is_queued(prompt_id):  # queue first: a prompt leaving it is in history
                    continue
                entry = await self.history(prompt_id)
                if entry is None:
                    raise ComfyError("failed", "ComfyUI no longer knows this prompt (server restarted?)")
                return self._result(prompt_id, entry)
            elif kind == "execution_error":
                raise error_from_event(data)
            elif kind == "execution_interrupted":
                raise ComfyError("interrupted", "The prompt was interrupted")

    def _result(self, prompt_id: str, entry: dict) -> PromptResult:
        status = entry.get("status") or {}
        if status.get("status_str") != "success":
            for name, data in status.get("messages") or []:
                if name == "execution_error":
                    raise error_from_event(data)
                if name == "execution_interrupted":
                    raise ComfyError("interrupted", "The prompt was interrupted")
            raise ComfyError("failed", "ComfyUI reports the prompt failed")
        return PromptResult(prompt_id, parse_outputs(entry), execution_seconds(entry))
