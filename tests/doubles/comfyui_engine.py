"""The prompt queue and executor of the ComfyUI double.

One prompt runs at a time in queue order (the `number`, like the real heap). Execution follows the
real server's rules, checked against the recorded WebSocket sequences:
- the order nodes run in is ComfyUI's ExecutionList: output nodes are staged in order, their inputs
  depth-first, and among ready nodes an output node goes first, then one feeding an output, then one
  two steps from an output, else the first ready one;
- a node whose input signature (class, constant inputs, upstream signatures, and for LoadImage the
  file's hash) was also in the previous prompt keeps its outputs (the classic cache): it is listed
  in `execution_cached` and not run, and a cached output node re-sends `executed` with the same files;
- messages: `execution_start`, `execution_cached`, `execution_success|error`, `executing` and
  `executed` go to the prompt's client only (nowhere when it has none); `progress_state`,
  `progress` and `execution_interrupted` go to the client, or to every socket when the prompt has
  no client_id; `status` always goes to every socket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from . import comfyui_media as media
from .comfyui_nodes import NODES, NodeError, Thing, generic, generic_error, oom_error
from .comfyui_outputs import SLOW_OUTPUTS  # importing it registers the output nodes
from .comfyui_validate import SPECS, annotated

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


def is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def format_value(x):
    return x if x is None or isinstance(x, (int, float, bool, str)) else str(x)


class Interrupted(Exception):
    pass


@dataclass
class QueueItem:
    number: float
    prompt_id: str
    prompt: dict
    extra_data: dict
    outputs: list[str]

    def as_list(self) -> list:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


class Staging:
    """comfy_execution.graph.ExecutionList, without lazy inputs and subgraphs."""

    def __init__(self, prompt: dict, outputs: list[str], is_cached):
        self.prompt, self.is_cached = prompt, is_cached
        self.pending: dict[str, bool] = {}
        self.blocking: dict[str, dict[str, bool]] = {}
        self.blocks: dict[str, int] = {}
        for o in outputs:
            self.add(o)

    def add(self, nid: str) -> None:
        stack, links = [nid], []
        while stack:
            u = stack.pop()
            if u in self.pending:
                continue
            self.pending[u], self.blocks[u], self.blocking[u] = True, 0, {}
            for value in self.prompt[u]["inputs"].values():
                if is_link(value):
                    if not self.is_cached(value[0]):
                        stack.append(value[0])
                    links.append((value[0], u))
        for src, dst in links:
            if not self.is_cached(src):
                self.add(src)
                if dst not in self.blocking[src]:
                    self.blocking[src][dst] = True
                    self.blocks[dst] += 1

    def is_output(self, nid: str) -> bool:
        return SPECS[self.prompt[nid]["class_type"]]["output_node"]

    def pick(self) -> str | None:
        ready = [n for n in self.pending if self.blocks[n] == 0]
        if not ready:
            return None
        for n in ready:
            if self.is_output(n):
                return n
        for n in ready:
            if any(self.is_output(b) for b in self.blocking[n]):
                return n
        for n in ready:
            if any(self.is_output(c) for b in self.blocking[n] for c in self.blocking[b]):
                return n
        return ready[0]

    def done(self, nid: str) -> None:
        del self.pending[nid]
        for b in self.blocking[nid]:
            self.blocks[b] -= 1


class Engine:
    """Queue, history, cache and sockets of one server life (start() makes a new one)."""

    def __init__(self, double):
        self.double = double
        self.sockets: dict = {}  # sid -> starlette WebSocket
        self.pending: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.history: dict[str, dict] = {}
        self.cache: dict[str, tuple[tuple, dict | None]] = {}
        self.number = 0
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.interrupt_flag = False
        self.wake = asyncio.Event()
        # the double's own work after a prompt's last sampler step (decode, PNG encode, messages), learnt
        # per prompt and taken out of the sampling time: a prompt spans `latency`, as on a GPU
        self.after_sampling = 0.0

    # -- messages ---------------------------------------------------------------------------------
    async def send(self, event: str, data, sid: str | None = None) -> None:
        text = json.dumps({"type": event, "data": data})
        for ws in list(self.sockets.values()) if sid is None else [self.sockets.get(sid)]:
            if ws is not None:
                try:
                    await ws.send_text(text)
                except Exception:  # a socket that went away; its handler removes it
                    pass

    async def send_preview(self, jpeg: bytes, sid: str | None) -> None:
        frame = struct.pack(">I", 1) + struct.pack(">I", 1) + jpeg  # PREVIEW_IMAGE, JPEG
        for ws in list(self.sockets.values()) if sid is None else [self.sockets.get(sid)]:
            if ws is not None:
                try:
                    await ws.send_bytes(frame)
                except Exception:
                    pass

    def queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": len(self.pending) + (self.running is not None)}}

    async def queue_updated(self) -> None:
        await self.send("status", {"status": self.queue_info()})

    # -- queue ------------------------------------------------------------------------------------
    async def put(self, item: QueueItem) -> None:
        self.pending.append(item)
        self.pending.sort(key=lambda it: it.number)
        await self.queue_updated()
        self.wake.set()

    async def delete(self, ids: list[str]) -> None:
        for pid in ids:
            for item in [it for it in self.pending if it.prompt_id == pid][:1]:
                self.pending.remove(item)
                await self.queue_updated()

    async def wipe(self) -> None:
        self.pending.clear()
        await self.queue_updated()

    def interrupt(self, prompt_id: str | None = None) -> None:
        if prompt_id is None or (self.running is not None and self.running.prompt_id == prompt_id):
            self.interrupt_flag = True

    def take_fault(self, kinds: set[str]) -> str | None:
        faults: deque = self.double._faults
        if faults and faults[0] in kinds:
            return faults.popleft()
        return None

    async def worker(self) -> None:
        while True:
            while not self.pending:
                self.wake.clear()
                await self.wake.wait()
            item = self.pending.pop(0)
            self.running = item
            await self.queue_updated()
            run = Run(self, item)
            try:
                await run.execute()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in the double: keep serving, leave a trace
                log.exception("ComfyUI double failed running %s", item.prompt_id)
                await run.finish("execution_error", run.error_data(item.prompt and next(iter(item.prompt)),
                                                                    NodeError("Exception", "double failure\n")), False)
            self.running = None
            self.last_node_id = None
            await self.queue_updated()
            if run.client_id is not None:
                await self.send("executing", {"node": None, "prompt_id": item.prompt_id}, run.client_id)


class Run:
    """One prompt's execution."""

    def __init__(self, engine: Engine, item: QueueItem):
        self.engine, self.item, self.prompt = engine, item, item.prompt
        self.client_id: str | None = item.extra_data.get("client_id")
        self.messages: list = []
        self.progress: dict[str, dict] = {}
        self.executed: list[str] = []
        self.ui: dict[str, dict] = {}
        self.meta: dict[str, dict] = {}
        self.inputs: dict[str, dict] = {}

    async def add(self, event: str, data: dict, broadcast: bool) -> None:
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            await self.engine.send(event, data, self.client_id)

    async def finish(self, event: str, data: dict, broadcast: bool) -> None:
        """Record the last message, store the history entry, then send it, so a client that asks
        /history on hearing the message finds the entry."""
        self.messages.append([event, data])
        ok = event == "execution_success"
        self.engine.history[self.item.prompt_id] = {
            "prompt": self.item.as_list(), "outputs": self.ui,
            "status": {"status_str": "success" if ok else "error", "completed": ok, "messages": self.messages},
            "meta": self.meta}
        if self.client_id is not None or broadcast:
            await self.engine.send(event, data, self.client_id)

    async def send_progress_state(self) -> None:
        pid = self.item.prompt_id
        nodes = {n: {"value": s["value"], "max": s["max"], "state": s["state"], "node_id": n, "prompt_id": pid,
                     "display_node_id": n, "parent_node_id": None, "real_node_id": n}
                 for n, s in self.progress.items()}
        await self.engine.send("progress_state", {"prompt_id": pid, "nodes": nodes}, self.client_id)

    async def step(self, nid: str, value: int, total: int) -> None:
        """The real progress hook: interrupt check, progress_state, then the legacy `progress`."""
        if self.engine.interrupt_flag:
            raise Interrupted
        self.progress[nid] = {"value": value, "max": total, "state": "running"}
        await self.send_progress_state()
        await self.engine.send("progress", {"value": value, "max": total, "prompt_id": self.item.prompt_id,
                                            "node": nid}, self.client_id)

    def signatures(self) -> dict[str, str]:
        memo: dict[str, str] = {}

        def sig(nid: str, seen: frozenset) -> str:
            if nid in memo:
                return memo[nid]
            node = self.prompt[nid]
            parts = [node["class_type"]]
            for name in sorted(node["inputs"]):
                value = node["inputs"][name]
                if is_link(value) and value[0] in self.prompt and value[0] not in seen:
                    parts.append([name, sig(value[0], seen | {nid}), value[1]])
                else:
                    parts.append([name, json.dumps(value, sort_keys=True, default=str)])
            if node["class_type"] == "LoadImage":  # IS_CHANGED: the file's sha256
                file, kind = annotated(str(node["inputs"].get("image", "")), "input")
                path = self.engine.double.root / kind / file
                parts.append(hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "")
            memo[nid] = hashlib.sha1(json.dumps(parts).encode()).hexdigest()
            return memo[nid]

        return {nid: sig(nid, frozenset()) for nid in self.prompt}

    def error_data(self, nid, ex: NodeError) -> dict:
        return {"prompt_id": self.item.prompt_id, "node_id": nid,
                "node_type": self.prompt.get(nid, {}).get("class_type"), "executed": list(self.executed),
                "exception_message": ex.message, "exception_type": ex.exception_type, "traceback": ex.traceback,
                "current_inputs": {k: [format_value(v)] for k, v in self.inputs.get(nid, {}).items()},
                "current_outputs": list(self.prompt), "timestamp": now_ms()}

    async def execute(self) -> None:
        engine, pid = self.engine, self.item.prompt_id
        engine.client_id, engine.interrupt_flag = self.client_id, False
        self.started = asyncio.get_running_loop().time()  # a sampler's latency counts from here
        self.sampled_at: float | None = None  # when the last sampler step ended
        self.busy_s = 0.0  # time save nodes spent in their deliberate `latency` (not the double's own work)
        await self.add("execution_start", {"prompt_id": pid, "timestamp": now_ms()}, False)
        sigs = self.signatures()
        engine.cache = {s: v for s, v in engine.cache.items() if s in set(sigs.values())}
        cached = [n for n in self.prompt if sigs[n] in engine.cache]
        await self.add("execution_cached", {"nodes": cached, "prompt_id": pid, "timestamp": now_ms()}, False)
        staging = Staging(self.prompt, self.item.outputs, lambda n: sigs[n] in engine.cache)
        values: dict[str, tuple] = {}
        while staging.pending:
            nid = staging.pick()
            if nid is None:
                ex = NodeError("graph.DependencyCycleError", "Dependency cycle detected")
                ex.traceback = []
                return await self.finish("execution_error", self.error_data(next(iter(staging.pending)), ex), False)
            ct = self.prompt[nid]["class_type"]
            if sigs[nid] in engine.cache:
                values[nid], ui = engine.cache[sigs[nid]]
                await self.output(nid, ui)
            else:
                self.progress[nid] = {"value": 0.0, "max": 1.0, "state": "running"}
                await self.send_progress_state()
                if self.client_id is not None:
                    engine.last_node_id = nid
                    await engine.send("executing", {"node": nid, "display_node": nid, "prompt_id": pid}, self.client_id)
                if engine.take_fault({"disconnect"}):  # fail_next("disconnect"): mid-execution
                    await engine.double._drop_websockets()
                try:
                    if engine.interrupt_flag:
                        raise Interrupted
                    for v in self.prompt[nid]["inputs"].values():  # cached inputs were not staged
                        if is_link(v) and v[0] not in values:
                            values[v[0]] = engine.cache[sigs[v[0]]][0]
                    inputs = {k: (values[v[0]][v[1]] if is_link(v) else v) for k, v in self.prompt[nid]["inputs"].items()}
                    self.inputs[nid] = inputs
                    out, ui = await NODES.get(ct, generic)(Ctx(self, nid, ct), inputs)
                except Interrupted:
                    return await self.finish("execution_interrupted", {
                        "prompt_id": pid, "node_id": nid, "node_type": ct, "executed": list(self.executed),
                        "timestamp": now_ms()}, True)
                except NodeError as ex:
                    return await self.finish("execution_error", self.error_data(nid, ex), False)
                except Exception as ex:  # anything else a node raises is reported the same way
                    cls = type(ex)
                    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
                    err = NodeError(name, f"{ex}\n", traceback.format_tb(ex.__traceback__))
                    return await self.finish("execution_error", self.error_data(nid, err), False)
                spec_out = SPECS[ct]["output"]
                out = tuple(out) + tuple(Thing(k) for k in spec_out[len(out):])
                values[nid] = out
                engine.cache[sigs[nid]] = (out, ui)
                self.executed.append(nid)
                await self.output(nid, ui)
            staging.done(nid)
        if self.sampled_at is not None:
            spent = asyncio.get_running_loop().time() - self.sampled_at - self.busy_s
            engine.after_sampling = 0.7 * engine.after_sampling + 0.3 * spent
        await self.finish("execution_success", {"prompt_id": pid, "timestamp": now_ms()}, False)

    async def output(self, nid: str, ui: dict | None) -> None:
        if ui is not None:
            self.ui[nid] = ui
            self.meta[nid] = {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
            if self.client_id is not None:
                await self.engine.send("executed", {"node": nid, "display_node": nid, "output": ui,
                                                    "prompt_id": self.item.prompt_id}, self.client_id)
        state = self.progress.setdefault(nid, {"value": 0, "max": 1, "state": "pending"})
        state.update(state="finished", value=state["max"])
        await self.send_progress_state()


@dataclass
class Ctx:
    """What a node behaviour may use."""

    run: Run
    node_id: str
    class_type: str
    spec: dict = field(init=False)

    def __post_init__(self):
        self.spec = SPECS[self.class_type]
        self.double = self.run.engine.double
        self.prompt = self.run.prompt
        self.extra_data = self.run.item.extra_data
        self.dirs = {k: self.double.root / k for k in ("output", "input", "temp")}

    def models(self, folder: str) -> list[str]:
        return list(self.double.models.get(folder, []))

    def annotated_path(self, name: str, default: str) -> Path:
        file, kind = annotated(name, default)
        return self.dirs[kind] / file

    async def busy(self) -> None:
        if self.class_type in SLOW_OUTPUTS and self.double.latency > 0:
            await asyncio.sleep(self.double.latency)
            self.run.busy_s += self.double.latency

    async def sample(self, latent, steps: int, sections: int = 1) -> None:
        """A sampler's run: fail as asked (fail_next, oom_above_pixels), else `steps` progress
        updates per section spread over the double's latency, checking for an interrupt each step."""
        fault = self.run.engine.take_fault({"oom", "execution_error"})
        limit = self.double.oom_above_pixels
        if fault == "oom" or (limit is not None and latent.width * latent.height * latent.batch > limit):
            raise oom_error()
        if fault == "execution_error":
            raise generic_error()
        budget = max(self.double.latency - self.run.engine.after_sampling, 0)
        delay = budget / max(steps * sections, 1)
        preview = None
        loop = asyncio.get_running_loop()
        # deadlines from the prompt's start: the prompt takes `latency`, whatever each step costs
        start, done = getattr(self.run, "started", loop.time()), 0
        for _ in range(sections):
            for k in range(1, steps + 1):
                done += 1
                await asyncio.sleep(max(0.0, start + done * delay - loop.time()))
                await self.run.step(self.node_id, k, steps)
                if self.double.previews:
                    preview = preview or media.jpeg_bytes(media.render(64, 64, k, "preview"), 64)
                    await self.run.engine.send_preview(preview, self.run.client_id)
        self.run.sampled_at = loop.time()

