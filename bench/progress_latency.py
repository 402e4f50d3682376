"""How fast a ComfyUI `progress` message reaches a browser (Generation issue: median <= 100 ms).

A ComfyUI double runs in this process and notes (CLOCK_MONOTONIC, shared by every process on the
machine) when it sends each `progress` message; a real `anime-studio serve` follows the prompt and
streams `generation.progress` events; this process reads the SSE stream and notes when each event
arrives. Matched by generation and step. Progress is throttled to 5 updates a second per
generation, so only the steps that are forwarded count."""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from _common import CHECKPOINT, TOKEN, make_character, start_server
from tests.doubles.comfyui import ComfyUIDouble

GENERATIONS, LATENCY, LIMIT_MS = 16, 1.5, 100.0
STEP = re.compile(r"step (\d+)/(\d+)")


def main() -> None:
    sent: dict[tuple[str, int], float] = {}  # (prompt id, step) -> when the double sent it
    received: list[tuple[int, int, float]] = []  # (generation id, step, when the SSE client got it)
    with ComfyUIDouble(latency=LATENCY) as comfy, tempfile.TemporaryDirectory() as tmp:
        comfy.checkpoints = [CHECKPOINT]
        original = comfy._engine.send

        async def noting_send(event, data, sid=None):
            if event == "progress":
                sent[(data["prompt_id"], data["value"])] = time.monotonic()
            await original(event, data, sid)

        comfy._engine.send = noting_send
        server = start_server(Path(tmp))
        api_url = server.api
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            with httpx.Client(base_url=api_url, headers=headers, timeout=60) as api:
                assert api.post("/backends", json={"name": "gpu", "url": comfy.url}).status_code == 201
                character = make_character(api)
                stop_reading = threading.Event()
                reader = threading.Thread(target=read_stream, args=(api_url, headers, received, stop_reading),
                                          daemon=True)
                reader.start()
                time.sleep(0.5)
                ids = [g["id"] for g in api.post("/generations", json={"character_id": character["id"],
                                                                       "count": GENERATIONS}).json()]
                while not all(api.get(f"/generations/{i}").json()["status"] in ("succeeded", "failed") for i in ids):
                    time.sleep(0.5)
                prompts = {i: api.get(f"/generations/{i}").json()["comfy_prompt_id"] for i in ids}
                stop_reading.set()
        finally:
            server.stop()
    latencies = [(at - sent[(prompts[gen], step)]) * 1000 for gen, step, at in received
                 if (prompts.get(gen), step) in sent]
    assert latencies, "no progress event was matched"
    median = statistics.median(latencies)
    print(f"{len(latencies)} progress updates: median {median:.1f} ms, p90 {statistics.quantiles(latencies, n=10)[8]:.1f} ms "
          f"from ComfyUI's message to the SSE client (limit {LIMIT_MS:.0f} ms)")
    print(json.dumps({"bench": "progress_latency", "value": round(median / LIMIT_MS, 3), "goal": "<= 1.0",
                      "ok": median <= LIMIT_MS, "median_ms": round(median, 1)}))


def read_stream(api_url: str, headers: dict, received: list, stop_reading: threading.Event) -> None:
    with httpx.Client(base_url=api_url, headers=headers, timeout=None) as client:
        with client.stream("GET", "/events/stream") as stream:
            event = None
            for line in stream.iter_lines():
                if stop_reading.is_set():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "generation.progress":
                    payload = json.loads(line[6:])["payload"]
                    match = STEP.search(payload.get("step", ""))
                    if match:
                        received.append((payload["generation_id"], int(match.group(1)), time.monotonic()))


if __name__ == "__main__":
    main()
