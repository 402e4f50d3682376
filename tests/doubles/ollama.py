"""An Ollama protocol double: a real HTTP server on 127.0.0.1 answering as Ollama's API does
(docs/api.md of ollama/ollama) for the calls the studio makes, so the production client (the
`ollama` package) is tested against the protocol rather than a mock.

    with OllamaDouble() as ollama:                 # has "gemma3:latest" (completion, vision)
        ollama.answer = lambda request: {...}      # the assistant's content for a chat request
        ollama.garbage_next = 1                    # the next chat answers unparseable text
        ollama.fail_mid_stream = 1                 # the next chat fails after a partial answer
        ... client against ollama.url ...
        ollama.chats                               # the chat requests received (parsed bodies)

Standalone, for manual UI checks (answers satisfy the requested schema at its minimum):
    .venv/bin/python -m tests.doubles.ollama --port 11434 --latency 1

Routes: `GET /` ("Ollama is running"), `GET /api/version`, `GET /api/tags`, `GET /api/ps`,
`POST /api/show` (404 `{"error": "model 'x' not found"}`), `POST /api/chat` (`stream` defaults to
true: NDJSON lines, chunked, then a final `done` line with durations and counts; `stream: false`:
one JSON object; 404 `{"error": "model \\"x\\" not found, try pulling it first"}` for a missing
model; 400 `{"error": ...}` for a bad body, format or image), `POST /api/embed` (`input` a string or
a list: `{"model", "embeddings": [[...]], ...}`, unit vectors of `embed_dim` from hashed words, so
texts sharing words are near; 400 for a model without the "embedding" capability). Model names
without a tag mean `:latest`, as in Ollama.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.doubles.loopback import LoopbackServer

VERSION = "0.9.6"
GARBAGE = 'Sure! Here is my review of the picture: {"character_match": 8, "clarity": '
MID_STREAM_ERROR = "an error was encountered while running the model: unexpected EOF"
CHUNK = 12  # characters of content per streamed line


def model_name(name: str) -> str:
    """Ollama's short form: `gemma3` is `gemma3:latest`."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def fill_schema(schema: Any) -> Any:
    """A value that satisfies a JSON schema (what a grammar-constrained model emits at the least):
    the first enum value, the minimum of a number, false, "" or the shortest array, each required
    property of an object."""
    if not isinstance(schema, dict):
        return {}
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return fill_schema(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: fill_schema(props.get(name, {})) for name in schema.get("required", list(props))}
    if kind == "array":
        return [fill_schema(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    return None


def default_answer(request: dict) -> Any:
    """With a JSON schema as `format`: a value satisfying it; with "json": {}; else a greeting."""
    fmt = request.get("format")
    if isinstance(fmt, dict):
        return fill_schema(fmt)
    if fmt == "json":
        return {}
    return "Hello! How are you today?"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaDouble(LoopbackServer):
    """Knobs (read live, set any time):
    - `models`: name -> capabilities (e.g. ["completion", "vision"]); listed by /api/tags;
    - `answer(request) -> str | dict | list`: the assistant's content for a chat request (a dict or
      list is sent as its JSON text), so a test can answer per image or per prompt;
    - `latency`: seconds each chat takes (spread over the streamed lines);
    - `token_delay`: seconds before each streamed line (on top of `latency`);
    - `garbage_next`: that many next chats answer text that is not JSON;
    - `fail_mid_stream`: that many next chats fail after a partial answer, as `mid_stream_failure`
      says: "error" sends an `{"error": ...}` line mid-stream (a 500 `{"error"}` when not
      streaming), "close" cuts the connection mid-body.
    Records: `requests` (method, path, parsed body), `chats` (the chat bodies), `embeds` (the embed
    bodies), `stamps` (per streamed chat, the time.monotonic() at which each line was sent)."""

    name = "ollama-double"

    def __init__(self, models: dict[str, list[str]] | None = None, *, latency: float = 0.0, port: int = 0) -> None:
        self.models: dict[str, list[str]] = dict(models or {"gemma3:latest": ["completion", "vision"]})
        self.answer: Callable[[dict], Any] = default_answer
        self.latency = latency
        self.token_delay = 0.0
        self.embed_dim = 64
        self.stamps: list[list[float]] = []
        self.garbage_next = 0
        self.fail_mid_stream = 0
        self.mid_stream_failure = "error"
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._serve(self._handler(), port)

    @property
    def chats(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"] == "/api/chat" and isinstance(r["body"], dict)]

    @property
    def embeds(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"] == "/api/embed" and isinstance(r["body"], dict)]

    def vector(self, text: str) -> list[float]:
        """A unit vector of hashed lower-case words (deterministic; shared words -> near)."""
        v = [0.0] * self.embed_dim
        for word in "".join(c if c.isalnum() else " " for c in text.lower()).split():
            h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
            v[h % self.embed_dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = sum(x * x for x in v) ** 0.5 or 1.0
        return [x / norm for x in v]

    def _has(self, name: str) -> str | None:
        full = model_name(name)
        return full if full in {model_name(m) for m in self.models} else None

    def _take(self, knob: str) -> bool:
        with self._lock:
            if getattr(self, knob) > 0:
                setattr(self, knob, getattr(self, knob) - 1)
                return True
            return False


    # -- answers --------------------------------------------------------------------------------
    def _tag(self, name: str) -> dict:
        family = model_name(name).split(":")[0].rsplit("/", 1)[-1]
        digest = hashlib.sha256(model_name(name).encode()).hexdigest()
        return {"name": model_name(name), "model": model_name(name), "modified_at": "2025-06-01T10:00:00.000000Z",
                "size": 3_338_801_804, "digest": digest,
                "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                            "parameter_size": "4.3B", "quantization_level": "Q4_K_M"}}

    def _show(self, name: str) -> dict:
        tag = self._tag(name)
        return {"license": "", "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {tag['name']}\n",
                "parameters": "stop                           \"<end_of_turn>\"\ntemperature                    1",
                "template": "{{- range .Messages }}{{ .Content }}{{ end }}", "details": tag["details"],
                "model_info": {"general.architecture": tag["details"]["family"], "general.parameter_count": 4_300_079_472},
                "capabilities": next((list(caps) for m, caps in self.models.items() if model_name(m) == tag["name"]),
                                     []),
                "modified_at": tag["modified_at"]}

    def _content(self, body: dict) -> str:
        if self._take("garbage_next"):
            return GARBAGE
        value = self.answer(body)
        return value if isinstance(value, str) else json.dumps(value)

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json; charset=utf-8") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str) -> None:
                self._send(status, {"error": message})

            def _record(self, body: Any) -> None:
                with double._lock:
                    double.requests.append({"method": self.command, "path": self.path, "body": body})

            def _body(self) -> tuple[bool, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    return True, json.loads(raw) if raw else None
                except ValueError:
                    return False, None

            def do_HEAD(self):
                self._record(None)
                if self.path == "/":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", "17")
                    self.end_headers()
                else:
                    self._send(404, b"404 page not found", "text/plain")

            def do_GET(self):
                self._record(None)
                if self.path == "/":
                    self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
                elif self.path == "/api/version":
                    self._send(200, {"version": VERSION})
                elif self.path == "/api/tags":
                    self._send(200, {"models": [double._tag(m) for m in list(double.models)]})
                elif self.path == "/api/ps":
                    self._send(200, {"models": []})
                else:
                    self._send(404, b"404 page not found", "text/plain")

            def do_POST(self):
                ok, body = self._body()
                self._record(body)
                if self.path not in ("/api/show", "/api/chat", "/api/embed"):
                    return self._send(404, b"404 page not found", "text/plain")
                if not ok or not isinstance(body, dict):
                    return self._error(400, "invalid character 'x' looking for beginning of value" if not ok
                                       else "missing request body")
                name = body.get("model") or body.get("name")
                if not isinstance(name, str) or not name:
                    return self._error(400, "model is required")
                if self.path == "/api/show":
                    if double._has(name) is None:
                        return self._error(404, f"model '{name}' not found")
                    return self._send(200, double._show(double._has(name)))
                if self.path == "/api/embed":
                    return self._embed(body, name)
                self._chat(body, name)

            def _embed(self, body: dict, name: str) -> None:
                full = double._has(name)
                if full is None:
                    return self._error(404, f'model "{name}" not found, try pulling it first')
                caps = next((c for m, c in double.models.items() if model_name(m) == full), [])
                if "embedding" not in caps:
                    return self._error(400, f'"{name}" does not support embeddings')
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else texts
                if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                    return self._error(400, "json: cannot unmarshal input")
                time.sleep(double.latency)
                self._send(200, {"model": name, "embeddings": [double.vector(t) for t in texts],
                                 "total_duration": 1_000_000, "load_duration": 100_000,
                                 "prompt_eval_count": sum(len(t.split()) for t in texts)})

            def _chat(self, body: dict, name: str) -> None:
                fmt = body.get("format")
                if fmt not in (None, "", "json") and not isinstance(fmt, dict):
                    return self._error(400, 'invalid format: expected "json" or a valid JSON schema')
                messages = body.get("messages") or []
                if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                    return self._error(400, "json: cannot unmarshal messages")
                for message in messages:
                    for image in message.get("images") or []:
                        try:
                            base64.b64decode(image, validate=True)
                        except (binascii.Error, TypeError, ValueError):
                            return self._error(400, "illegal base64 data at input byte 0")
                full = double._has(name)
                if full is None:
                    return self._error(404, f'model "{name}" not found, try pulling it first')
                stream = body.get("stream", True) is not False
                if not messages:  # an empty chat loads the model
                    return self._send(200, {"model": name, "created_at": _now(),
                                            "message": {"role": "assistant", "content": ""},
                                            "done_reason": "load", "done": True})
                content = double._content(body)
                failure = double.mid_stream_failure if double._take("fail_mid_stream") else None
                if stream:
                    self._stream(name, content, failure)
                else:
                    self._whole(name, content, failure)

            def _final(self, name: str, content: str, started: float) -> dict:
                total = int((time.monotonic() - started) * 1e9) + 1
                return {"model": name, "created_at": _now(), "message": {"role": "assistant", "content": content},
                        "done_reason": "stop", "done": True, "total_duration": total, "load_duration": total // 10,
                        "prompt_eval_count": 300, "prompt_eval_duration": total // 5,
                        "eval_count": max(1, len(content) // 4), "eval_duration": total // 2}

            def _whole(self, name: str, content: str, failure: str | None) -> None:
                started = time.monotonic()
                time.sleep(double.latency)
                if failure == "error":
                    return self._error(500, MID_STREAM_ERROR)
                data = json.dumps(self._final(name, content, started)).encode()
                if failure == "close":  # the promised length, half of it sent, then the connection cut
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(200, data)

            def _chunk(self, line: dict) -> None:
                data = json.dumps(line).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, name: str, content: str, failure: str | None) -> None:
                started = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = [content[i:i + CHUNK] for i in range(0, len(content), CHUNK)] or [""]
                if failure:
                    pieces = pieces[: max(1, len(pieces) // 2)]
                stamps: list[float] = []
                with double._lock:
                    double.stamps.append(stamps)
                for piece in pieces:
                    time.sleep(double.latency / len(pieces) + double.token_delay)
                    self._chunk({"model": name, "created_at": _now(),
                                 "message": {"role": "assistant", "content": piece}, "done": False})
                    stamps.append(time.monotonic())
                if failure == "close":
                    self.close_connection = True  # no terminating chunk: the body ends mid-stream
                    return
                if failure == "error":
                    self._chunk({"error": MID_STREAM_ERROR})
                else:
                    self._chunk(self._final(name, "", started))
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.doubles.ollama", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per chat answer")
    ap.add_argument("--model", action="append", help="a vision model name (repeat; default gemma3:latest)")
    ap.add_argument("--embed-model", action="append", default=[], help="an embedding model name (repeat)")
    args = ap.parse_args(argv)
    models = {name: ["completion", "vision"] for name in args.model} if args.model else None
    if args.embed_model:
        models = {**(models or {"gemma3:latest": ["completion", "vision"]}),
                  **{name: ["embedding"] for name in args.embed_model}}
    with OllamaDouble(models, latency=args.latency, port=args.port) as double:
        print(f"Ollama double on {double.url} (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
