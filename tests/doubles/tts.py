"""An OpenAI-compatible speech server double: a real HTTP server on 127.0.0.1 answering
`POST /v1/audio/speech` as OpenAI's API (and the local servers that copy it) does, so the studio's
TTS client is tested against the protocol rather than a mock.

    with TTSDouble() as tts:
        tts.fail_next = 1                 # the next request answers 500 {"error": {...}}
        tts.ignore_format = True          # answer MP3 whatever response_format says
        ... client against tts.url ...
        tts.speeches                      # the request bodies received

Standalone, for manual checks: .venv/bin/python -m tests.doubles.tts --port 8880

Request: JSON `{model, input, voice, response_format?, speed?}` (response_format defaults to mp3;
wav, mp3, flac, opus, aac and pcm are accepted). Answer: 200 with the audio bytes
(`audio/wav`, `audio/mpeg`, ...): a tone lasting SECONDS_PER_CHAR per character of the input
(at least MIN_SECONDS) at 24 kHz mono, as OpenAI's voices are. Errors are 4xx/5xx with
`{"error": {"message", "type", "param", "code"}}`: a missing field, input over 4096 characters,
an unknown voice or model, a body that is not JSON."""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import subprocess
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.doubles.loopback import LoopbackServer

RATE = 24000
SECONDS_PER_CHAR = 0.06
MIN_SECONDS = 0.4
VOICES = ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer"]
MODELS = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"]
FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "opus": "audio/ogg",
           "aac": "audio/aac", "pcm": "audio/pcm"}


def tone(seconds: float, frequency: float = 220.0) -> bytes:
    """16-bit mono PCM at RATE: a tone with a syllable-like envelope (4 per second)."""
    count = int(seconds * RATE)
    samples = (int(12000 * abs(math.sin(math.pi * 4 * i / RATE)) * math.sin(2 * math.pi * frequency * i / RATE))
               for i in range(count))
    return struct.pack(f"<{count}h", *samples)


def wav_bytes(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


def encode(pcm: bytes, fmt: str) -> bytes:
    if fmt == "wav":
        return wav_bytes(pcm)
    if fmt == "pcm":
        return pcm
    import imageio_ffmpeg

    codec = {"mp3": ["-c:a", "libmp3lame", "-f", "mp3"], "flac": ["-c:a", "flac", "-f", "flac"],
             "opus": ["-c:a", "libopus", "-f", "ogg"], "aac": ["-c:a", "aac", "-f", "adts"]}[fmt]
    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "wav",
                           "-i", "pipe:0", *codec, "pipe:1"], input=wav_bytes(pcm), capture_output=True,
                          check=True).stdout


class TTSDouble(LoopbackServer):
    """Knobs (read live): `voices`, `models`; `latency` (seconds per request); `fail_next` (that many
    next requests answer 500 server_error); `ignore_format` (always answer MP3, as some servers do).
    Records: `speeches` (the parsed request bodies, accepted or not)."""

    name = "tts-double"

    def __init__(self, *, port: int = 0, latency: float = 0.0) -> None:
        self.voices = list(VOICES)
        self.models = list(MODELS)
        self.latency = latency
        self.fail_next = 0
        self.ignore_format = False
        self.speeches: list[Any] = []
        self._lock = threading.Lock()
        self._serve(self._handler(), port)


    def _take_failure(self) -> bool:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

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

            def _error(self, status: int, message: str, kind: str = "invalid_request_error",
                       param: str | None = None, code: str | None = None) -> None:
                self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "system"}
                                                                for m in double.models]})
                else:
                    self._error(404, f"Invalid URL (GET {self.path})")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/audio/speech":
                    self._error(404, f"Invalid URL (POST {self.path})")
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with double._lock:
                    double.speeches.append(body)
                if not isinstance(body, dict):
                    self._error(400, "We could not parse the JSON body of your request. (HINT: This likely means "
                                     "you aren't using your HTTP library correctly.)")
                    return
                if double.latency:
                    time.sleep(double.latency)
                if double._take_failure():
                    self._error(500, "The server had an error while processing your request. Sorry about that!",
                                kind="server_error")
                    return
                for field in ("model", "input", "voice"):
                    if not isinstance(body.get(field), str) or (field != "input" and not body[field]):
                        self._error(400, f"Missing required parameter: '{field}'.", param=field,
                                    code="missing_required_parameter")
                        return
                text, voice, model = body["input"], body["voice"], body["model"]
                fmt = body.get("response_format", "mp3")
                if model not in double.models:
                    self._error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                code="model_not_found")
                elif len(text) > 4096:
                    self._error(400, f"'{text[:20]}...' is too long - 'input'", param="input",
                                code="string_above_max_length")
                elif voice not in double.voices:
                    self._error(400, f"Invalid value: '{voice}'. Supported values are: "
                                     + ", ".join(f"'{v}'" for v in double.voices) + ".", param="voice",
                                code="invalid_value")
                elif fmt not in FORMATS:
                    self._error(400, f"Invalid value: '{fmt}'. Supported values are: "
                                     + ", ".join(f"'{f}'" for f in FORMATS) + ".", param="response_format",
                                code="invalid_value")
                else:
                    fmt = "mp3" if double.ignore_format else fmt
                    seconds = max(MIN_SECONDS, SECONDS_PER_CHAR * len(text)) / float(body.get("speed") or 1.0)
                    frequency = 150.0 + 20 * (double.voices.index(voice) % 10)  # each voice sounds different
                    self._send(200, encode(tone(seconds, frequency), fmt), FORMATS[fmt])

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible speech server double")
    parser.add_argument("--port", type=int, default=8880)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    double = TTSDouble(port=args.port, latency=args.latency).start()
    print(f"TTS double on {double.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
