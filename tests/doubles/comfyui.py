"""A ComfyUI protocol double: a real HTTP + WebSocket server on 127.0.0.1 that answers as a real
ComfyUI v0.33 server does (recorded in tests/reference/), so the production client is tested
against the protocol rather than a mock. It "executes" the core node classes and the FramePack,
IP-Adapter and VideoHelperSuite packs well enough to return pictures and videos of the size the
workflow asks for (see comfyui_nodes.py).

    with ComfyUIDouble(latency=0.05) as comfy:
        comfy.checkpoints = ["animagine-xl-3.1.safetensors"]
        comfy.fail_next("oom")            # or "execution_error", "disconnect"
        ... client against comfy.url ...
        comfy.submissions, comfy.history

Standalone, for manual UI checks and benches:
    .venv/bin/python -m tests.doubles.comfyui --port 8188 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import uvicorn

from .comfyui_engine import Engine
from .comfyui_server import build_app
from .comfyui_validate import SPECS

DEFAULT_MODELS = {  # what a studio backend typically has; tests set their own lists
    "checkpoints": ["animagine-xl-3.1.safetensors", "ltx-video-2b-v0.9.5.safetensors"],
    "loras": [],
    "vae": ["hunyuan_video_vae_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp16.safetensors", "t5xxl_fp16.safetensors"],
    "diffusion_models": ["FramePackI2V_HY_fp8_e4m3fn.safetensors"],
    "clip_vision": ["CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors", "sigclip_vision_patch14_384.safetensors"],
    "ipadapter": ["ip-adapter-plus_sdxl_vit-h.safetensors", "ip-adapter-plus_sd15.safetensors"],
    "embeddings": [],
}
FAULTS = ("oom", "execution_error", "disconnect")


class ComfyUIDouble:
    """Knobs (read live by the server, set them any time):
    - `models` (folder -> file names; `checkpoints` and `loras` are shortcuts), shown in
      /object_info and /models and used to validate prompts;
    - `node_classes`: the installed classes (remove some to simulate a missing node pack);
    - `latency`: seconds a prompt with a sampler spans, execution_start to execution_success (the
      sampler's progress messages spread over it, less the double's own work after it) and each video
      save node takes;
    - `oom_above_pixels`: a sampler whose latent is larger (width x height x batch) fails with the real
      torch.OutOfMemoryError report, so a client that retries smaller succeeds;
    - `vram_total`, `vram_free`, `gpu_name`: what /system_stats reports;
    - `previews`: send binary preview frames while sampling (off, as on a default real server).
    Records: `submissions` (every accepted POST /prompt, kept across kill/start), `history`.
    """

    def __init__(self, latency: float = 0.05, *, port: int = 0, root: str | Path | None = None):
        self.latency = latency
        self.models: dict[str, list[str]] = {k: list(v) for k, v in DEFAULT_MODELS.items()}
        self.node_classes: set[str] = set(SPECS)
        self.oom_above_pixels: int | None = None
        self.vram_total = 24 * 1024**3
        self.vram_free = 22 * 1024**3
        self.gpu_name = "NVIDIA GeForce RTX 4090"
        self.previews = False
        self.submissions: list[dict] = []
        self._faults: deque[str] = deque()
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="comfyui-double-"))
        self.port = port
        self._app = build_app(self)
        self._engine: Engine | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self._worker: asyncio.Task | None = None
        self._stopped: asyncio.Event | None = None

    # -- knobs ------------------------------------------------------------------------------------
    @property
    def checkpoints(self) -> list[str]:
        return self.models["checkpoints"]

    @checkpoints.setter
    def checkpoints(self, names: list[str]) -> None:
        self.models["checkpoints"] = list(names)

    @property
    def loras(self) -> list[str]:
        return self.models["loras"]

    @loras.setter
    def loras(self, names: list[str]) -> None:
        self.models["loras"] = list(names)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def history(self) -> dict[str, dict]:
        return self._engine.history if self._engine is not None else {}

    def fail_next(self, kind: str) -> None:
        """Arm one failure: "oom" / "execution_error" fail the next sampler that runs (as the real
        server reports it), "disconnect" drops every WebSocket while the next prompt runs (the prompt
        still completes and is in /history)."""
        if kind not in FAULTS:
            raise ValueError(f"fail_next: {kind!r} is not one of {FAULTS}")
        self._faults.append(kind)

    # -- life -------------------------------------------------------------------------------------
    def start(self) -> "ComfyUIDouble":
        """Serve (again) on the same port with an empty queue, history and cache; files written by
        an earlier life stay on disk, as they would on a real restarted server."""
        if self._thread is not None:
            return self
        for kind in ("output", "input", "temp"):
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, as aiohttp
        # (the real server) does on every connection; without it a keep-alive answer written in two
        # parts waits for the client's delayed ACK, 40 ms a request
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.port, self._sock = sock.getsockname()[1], sock
        self._engine = Engine(self)
        config = uvicorn.Config(self._app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                ws="auto")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(self._server, sock, self._engine), daemon=True,
                                        name=f"comfyui-double-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the ComfyUI double did not start")
            time.sleep(0.005)
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket, engine: Engine) -> None:
        """The server's own event loop: uvicorn's startup, then serve until _die() (no graceful
        shutdown: this server only ever dies)."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop

        async def main():
            self._stopped = asyncio.Event()
            if not server.config.loaded:
                server.config.load()
            server.lifespan = server.config.lifespan_class(server.config)
            self._worker = asyncio.create_task(engine.worker())
            await server.startup(sockets=[sock])
            await self._stopped.wait()
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def kill(self) -> None:
        """Die now, mid-job: every connection is cut, the port refuses new ones, the running prompt
        is lost. start() brings the server back, empty."""
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._die(), self._loop).result(timeout=10)
        self._thread.join(timeout=10)
        self._sock.close()
        self._thread = self._loop = self._server = self._sock = self._worker = None

    stop = kill

    async def _die(self) -> None:
        server = self._server
        self._worker.cancel()
        for listener in server.servers:
            listener.close()
        for conn in list(server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        self._stopped.set()

    async def _drop_websockets(self) -> None:
        """fail_next("disconnect"): cut every WebSocket connection (not a clean close)."""
        for conn in list(self._server.server_state.connections):
            if type(conn).__module__.startswith("uvicorn.protocols.websockets"):
                conn.transport.abort()
        await asyncio.sleep(0)

    def __enter__(self) -> "ComfyUIDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.doubles.comfyui", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8188)
    ap.add_argument("--latency", type=float, default=0.2, help="seconds per sampler run")
    ap.add_argument("--root", help="folder for input/, output/, temp/ (default: a new temporary folder)")
    ap.add_argument("--checkpoint", action="append", help="a checkpoint file name (repeat; default: a typical set)")
    ap.add_argument("--lora", action="append", help="a LoRA file name (repeat)")
    ap.add_argument("--oom-above-pixels", type=int, help="samplers over width*height*batch fail with OOM")
    args = ap.parse_args(argv)
    double = ComfyUIDouble(latency=args.latency, port=args.port, root=args.root)
    if args.checkpoint:
        double.checkpoints = args.checkpoint
    if args.lora:
        double.loras = args.lora
    double.oom_above_pixels = args.oom_above_pixels
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop (and clean up) on SIGTERM too
    with double:
        print(f"ComfyUI double on {double.url}  (files in {double.root}; Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
