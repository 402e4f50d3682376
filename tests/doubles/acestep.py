"""An ACE-Step 1.5 API server double: a real HTTP server on 127.0.0.1 answering as
`acestep/api_server.py` of ace-step/ACE-Step-1.5 does (docs/en/API.md), so the studio's music
client is tested against the protocol rather than a mock.

    with AceStepDouble(latency=0.3) as ace:
        ace.fail_next = 1                  # the next task fails (status 2)
        ace.busy_next = 2                  # the next two releases answer 429 (queue full)
        ace.forget()                       # the server "restarts": every task is unknown
        ... client against ace.url ...
        ace.releases, ace.queries, ace.downloads

Standalone: .venv/bin/python -m tests.doubles.acestep --port 8001 --latency 2

Answers are wrapped `{data, code: 200, error: null, timestamp, extra: null}`. `POST /release_task`
(JSON or form) -> `{task_id, status: "queued", queue_position}`. `POST /query_result`
`{task_id_list}` (a list or a JSON string) -> one entry per id `{task_id, status, result,
progress_text}`: status 0 while queued (the first `latency / 4`) and running, 1 succeeded, 2 failed;
`result` is a JSON *string* of a list: on success one item per batch entry
`{file: "/v1/audio?path=<quoted path>", wave, status, create_time, env, prompt, lyrics, metas,
generation_info, seed_value, lm_model, dit_model}`, else one item with `progress`, `stage` and
`error`. An unknown id answers status 0 with result "[]". `GET /v1/audio?path=` serves a file
under the double's audio folder (403 outside it, 404 missing): a WAV at 48 kHz stereo lasting the
task's `audio_duration` (default 30 s). Errors: `{detail}` with 400 (body not an object), 401 (a
key is set and none or a wrong one given), 415, 429. `GET /health`, `GET /v1/models` too."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import uuid
import wave
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np

from tests.doubles.loopback import LoopbackServer

RATE = 48000
MODEL = "acestep-v15-turbo"


def wrap(data: Any, code: int = 200, error: str | None = None) -> dict:
    return {"data": data, "code": code, "error": error, "timestamp": int(time.time() * 1000), "extra": None}


def write_music(path: Path, seconds: float, frequency: float = 220.0) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    signal = 0.4 * np.sin(2 * np.pi * frequency * t) * (0.75 + 0.25 * np.sin(2 * np.pi * 0.5 * t))
    pcm = (np.repeat(signal[:, None], 2, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


class AceStepDouble(LoopbackServer):
    """Knobs (read live): `latency` (seconds from release to success), `fail_next` (that many next
    tasks fail), `busy_next` (that many next releases answer 429), `api_key` (None: no auth).
    Records: `releases` (parsed release bodies), `queries` (count of /query_result calls),
    `downloads` (paths served)."""

    name = "acestep-double"

    def __init__(self, *, latency: float = 0.2, port: int = 0) -> None:
        self.latency = latency
        self.fail_next = 0
        self.busy_next = 0
        self.api_key: str | None = None
        self.releases: list[dict] = []
        self.queries = 0
        self.downloads: list[str] = []
        self.tasks: dict[str, dict] = {}
        self.audio_dir = Path(tempfile.mkdtemp(prefix="acestep-double-")) / "api_audio"
        self.audio_dir.mkdir()
        self._lock = threading.Lock()
        self._serve(self._handler(), port)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.audio_dir.parent, ignore_errors=True)

    def forget(self) -> None:
        """As a restarted server: no task is known any more."""
        with self._lock:
            self.tasks.clear()

    def _take(self, knob: str) -> bool:
        with self._lock:
            if getattr(self, knob) > 0:
                setattr(self, knob, getattr(self, knob) - 1)
                return True
            return False

    def _release(self, body: dict) -> dict:
        task_id = str(uuid.uuid4())
        task = {"id": task_id, "created": time.time(), "latency": self.latency, "fails": self._take("fail_next"),
                "body": body, "files": None}
        with self._lock:
            self.releases.append(body)
            self.tasks[task_id] = task
            position = sum(1 for t in self.tasks.values() if t["files"] is None)
        return {"task_id": task_id, "status": "queued", "queue_position": position}

    def _entry(self, task_id: str) -> dict:
        with self._lock:
            task = self.tasks.get(task_id)
        if task is None:
            return {"task_id": task_id, "result": "[]", "status": 0}
        elapsed = time.time() - task["created"]
        body = task["body"]
        base = {"wave": "", "create_time": int(task["created"]), "env": "development"}
        if elapsed < task["latency"]:
            stage = "queued" if elapsed < task["latency"] / 4 else "running"
            items = [{**base, "file": "", "status": 0, "prompt": "", "lyrics": "", "metas": {},
                      "progress": round(elapsed / task["latency"], 3) if stage == "running" else 0.0,
                      "stage": stage, "error": None}]
            return {"task_id": task_id, "result": json.dumps(items), "status": 0, "progress_text": stage}
        if task["fails"]:
            error = ("Traceback (most recent call last):\n  File \"acestep/api_server.py\", line 1678, in _run_one_job\n"
                     "RuntimeError: Music generation failed: CUDA out of memory")
            items = [{**base, "file": "", "status": 2, "prompt": "", "lyrics": "", "metas": {}, "progress": 0.0,
                      "stage": "failed", "error": error}]
            return {"task_id": task_id, "result": json.dumps(items), "status": 2, "progress_text": "failed"}
        seconds = float(body.get("audio_duration") or body.get("duration") or 30)
        fmt = str(body.get("audio_format") or "mp3")
        if task["files"] is None:
            files = []
            for n in range(int(body.get("batch_size") or 2)):
                path = self.audio_dir / f"{task_id}_{n}.{fmt}"
                write_music(path, seconds, 220.0 + 55 * n)  # the double writes WAV data whatever the name
                files.append(str(path))
            task["files"] = files
        metas = {"bpm": body.get("bpm") or 96, "duration": seconds, "genres": "", "keyscale": "C Major",
                 "timesignature": "4", "prompt": body.get("prompt", ""), "lyrics": body.get("lyrics", "")}
        items = [{**base, "file": f"/v1/audio?path={quote(path, safe='')}", "status": 1,
                  "prompt": body.get("prompt", ""), "lyrics": body.get("lyrics", ""), "metas": metas,
                  "generation_info": "double", "seed_value": "1234", "lm_model": "acestep-5Hz-lm-0.6B",
                  "dit_model": MODEL, "progress": 1.0, "stage": "succeeded"} for path in task["files"]]
        return {"task_id": task_id, "result": json.dumps(items), "status": 1, "progress_text": "succeeded"}

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self, body: dict | None) -> bool:
                if double.api_key is None:
                    return True
                header = self.headers.get("Authorization") or ""
                token = (body or {}).get("ai_token") or (header[7:] if header.startswith("Bearer ") else header)
                if not token:
                    self._send(401, {"detail": "Missing ai_token or Authorization header"})
                    return False
                if token != double.api_key:
                    self._send(401, {"detail": "Invalid API key"})
                    return False
                return True

            def _body(self) -> dict | None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = (self.headers.get("Content-Type") or "").lower()
                if "json" in kind or raw.lstrip()[:1] in (b"{", b"["):
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        self._send(400, {"detail": "Invalid JSON body (hint: set 'Content-Type: application/json')"})
                        return None
                    if not isinstance(body, dict):
                        self._send(400, {"detail": "JSON payload must be an object"})
                        return None
                    return body
                if kind.startswith("application/x-www-form-urlencoded") or b"=" in raw:
                    return {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
                self._send(415, {"detail": f"Unsupported Content-Type: {kind or '(missing)'}; use application/json, "
                                           "application/x-www-form-urlencoded, or multipart/form-data"})
                return None

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/health":
                    self._send(200, wrap({"status": "ok", "service": "ACE-Step API", "version": "1.0"}))
                    return
                if not self._authorised(None):
                    return
                if parts.path == "/v1/models":
                    self._send(200, wrap({"models": [{"name": MODEL, "is_default": True}], "default_model": MODEL}))
                elif parts.path == "/v1/audio":
                    raw = parse_qs(parts.query).get("path", [""])[0]
                    resolved = Path(raw).resolve()
                    if double.audio_dir.resolve() not in resolved.parents:
                        self._send(403, {"detail": "Access denied: path outside allowed directory"})
                    elif not resolved.is_file():
                        self._send(404, {"detail": "Audio file not found"})
                    else:
                        with double._lock:
                            double.downloads.append(str(resolved))
                        media = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg"}
                        self._send(200, resolved.read_bytes(), media.get(resolved.suffix, "audio/mpeg"))
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                path = urlsplit(self.path).path
                body = self._body()
                if body is None or not self._authorised(body):
                    return
                if path == "/release_task":
                    if double._take("busy_next"):
                        self._send(429, {"detail": "Server busy: queue is full"})
                        return
                    self._send(200, wrap(double._release(body)))
                elif path == "/query_result":
                    with double._lock:
                        double.queries += 1
                    ids = body.get("task_id_list", "[]")
                    if not isinstance(ids, list):
                        try:
                            ids = json.loads(ids)
                        except ValueError:
                            ids = []
                    self._send(200, wrap([double._entry(str(task_id)) for task_id in ids]))
                else:
                    self._send(404, {"detail": "Not Found"})

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="ACE-Step 1.5 API server double")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency", type=float, default=2.0)
    args = parser.parse_args()
    double = AceStepDouble(port=args.port, latency=args.latency).start()
    print(f"ACE-Step double on {double.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
