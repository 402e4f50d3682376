"""A webhook receiver on loopback, as a producer's own tool would run one: it verifies each
request's `X-Anime-Studio-Signature` (HMAC-SHA256 over "<timestamp>." + raw body with the shared
secret) and records what arrived. Knob: `answers`, the status codes to give in turn (then 200);
`delay_s` holds each answer back (to provoke timeouts)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.doubles.loopback import LoopbackServer


@dataclass
class Received:
    headers: dict
    body: bytes
    signature_ok: bool
    answered: int

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver(LoopbackServer):
    name = "webhook-receiver"

    def __init__(self, secret: str = "", port: int = 0):
        self.secret = secret
        self.answers: list[int] = []
        self.delay_s = 0.0
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.received.append(Received(dict(self.headers), body, receiver.verify(self.headers, body),
                                                      status))
                payload = json.dumps({"ok": status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._serve(Handler, port)

    def verify(self, headers, body: bytes) -> bool:
        """What a receiver does: recompute the signature from the timestamp header and the raw body."""
        timestamp = headers.get("X-Anime-Studio-Timestamp", "")
        given = headers.get("X-Anime-Studio-Signature", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        return bool(timestamp) and hmac.compare_digest(given, expected)
