"""A Jellyfin protocol double: a real HTTP server on 127.0.0.1 answering the calls the studio makes
as Jellyfin 10.11/12 does (api docs at api.jellyfin.org), so packages/episode_assembly/jellyfin.py
is tested against the protocol, not a mock.

    with JellyfinDouble(api_key="k") as jellyfin:
        ... JELLYFIN_URL=jellyfin.url, JELLYFIN_API_KEY="k" ...
        jellyfin.scans            # [("media_updated", [paths]) | ("refresh", None)], in order
        jellyfin.media_updated_status = 404   # that endpoint refused: the client falls back to a refresh

Authentication: only `Authorization: MediaBrowser ..., Token="<key>"` (or `Emby` scheme, which
Jellyfin parses the same way). The legacy `X-Emby-Token` / `X-MediaBrowser-Token` headers and the
`api_key` / `ApiKey` query parameter are refused with 401 even when the key is right (Jellyfin 12
disables them). A wrong or missing token is 401 with an empty body.

Routes: `GET /System/Info/Public` (no auth: ServerName, Version, Id, ProductName...),
`POST /Library/Media/Updated` ({"Updates": [{"Path", "UpdateType"}]} -> 204; 400 for a body
without Updates), `POST /Library/Refresh` (-> 204). Anything else 404.

Standalone, for manual checks:  .venv/bin/python -m tests.doubles.jellyfin --port 8096 --api-key k
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.doubles.loopback import LoopbackServer

VERSION = "10.11.0"
SERVER_ID = "f3c2a1b0e9d84c7b8a6f5e4d3c2b1a09"
LEGACY_HEADERS = ("x-emby-token", "x-mediabrowser-token", "x-emby-authorization")
LEGACY_QUERY = ("api_key", "apikey")
AUTH_RE = re.compile(r'^\s*(MediaBrowser|Emby)\s+(.*)$', re.IGNORECASE)
PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


class JellyfinDouble(LoopbackServer):
    """Knobs: `api_key`; `media_updated_status` (None: 204; else that status, e.g. 404 or 500);
    `refresh_status` (None: 204). Records: `requests` (method, path, headers, parsed body),
    `scans`, `refused` (why each 401 was sent)."""

    name = "jellyfin-double"

    def __init__(self, api_key: str = "jellyfin-test-key", *, server_name: str = "Test Jellyfin", port: int = 0):
        self.api_key = api_key
        self.server_name = server_name
        self.media_updated_status: int | None = None
        self.refresh_status: int | None = None
        self.requests: list[dict] = []
        self.scans: list[tuple[str, list[str] | None]] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._serve(self._handler(), port)

    def _auth_error(self, headers, query: dict) -> str | None:
        """Why the request is not authenticated, or None when it is."""
        lower = {k.lower(): v for k, v in headers.items()}
        for name in LEGACY_HEADERS:
            if name in lower:
                return f"legacy header {name}"
        for name in query:
            if name.lower() in LEGACY_QUERY:
                return f"legacy query parameter {name}"
        found = AUTH_RE.match(lower.get("authorization", ""))
        if not found:
            return "no MediaBrowser authorization"
        token = dict(PARAM_RE.findall(found.group(2))).get("Token")
        if token != self.api_key:
            return "wrong token"
        return None

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body=None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw) if raw else None
                except ValueError:
                    return raw.decode(errors="replace")

            def _record(self, body) -> tuple[str, dict]:
                parts = urlsplit(self.path)
                with double._lock:
                    double.requests.append({"method": self.command, "path": parts.path,
                                            "headers": dict(self.headers), "body": body})
                return parts.path, parse_qs(parts.query)

            def _authorised(self, query: dict) -> bool:
                why = double._auth_error(self.headers, query)
                if why is not None:
                    with double._lock:
                        double.refused.append(why)
                    self._send(401)
                    return False
                return True

            def do_GET(self):
                path, _ = self._record(None)
                if path == "/System/Info/Public":
                    self._send(200, {"LocalAddress": double.url, "ServerName": double.server_name,
                                     "Version": VERSION, "ProductName": "Jellyfin Server", "OperatingSystem": "",
                                     "Id": SERVER_ID, "StartupWizardCompleted": True})
                else:
                    self._send(404)

            def do_POST(self):
                body = self._body()
                path, query = self._record(body)
                if path not in ("/Library/Media/Updated", "/Library/Refresh"):
                    self._send(404)
                    return
                if not self._authorised(query):
                    return
                if path == "/Library/Refresh":
                    if double.refresh_status:
                        self._send(double.refresh_status)
                        return
                    with double._lock:
                        double.scans.append(("refresh", None))
                    self._send(204)
                    return
                if double.media_updated_status:
                    self._send(double.media_updated_status)
                    return
                updates = body.get("Updates") if isinstance(body, dict) else None
                if not isinstance(updates, list) or not all(isinstance(u, dict) and u.get("Path") for u in updates):
                    self._send(400, {"type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                                     "title": "One or more validation errors occurred.", "status": 400})
                    return
                with double._lock:
                    double.scans.append(("media_updated", [u["Path"] for u in updates]))
                self._send(204)

        return Handler


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.doubles.jellyfin", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8096)
    ap.add_argument("--api-key", default="jellyfin-test-key")
    args = ap.parse_args(argv)
    with JellyfinDouble(args.api_key, port=args.port) as double:
        print(f"Jellyfin double on {double.url} (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
