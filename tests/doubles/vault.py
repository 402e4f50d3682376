"""A Vault protocol double: a real HTTP server on loopback answering as Vault's API does for the
calls the studio makes (KV v2 read, database secrets engine creds, AppRole login)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class VaultDouble:
    def __init__(self) -> None:
        self.tokens: set[str] = {"root-token"}
        self.kv: dict[tuple[str, str], dict] = {}  # (mount, path) -> data
        self.db_roles: dict[tuple[str, str], tuple[str, str]] = {}  # (mount, role) -> (username, password)
        self.approles: dict[str, str] = {}  # role_id -> secret_id
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("X-Vault-Token") in double.tokens:
                    return True
                self._send(403, {"errors": ["permission denied"]})
                return False

            def do_GET(self):
                double.requests.append(("GET", self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] != "v1" or len(parts) < 4 or not self._authorised():
                    if parts[0] != "v1" or len(parts) < 4:
                        self._send(404, {"errors": []})
                    return
                mount, kind, rest = parts[1], parts[2], "/".join(parts[3:])
                if kind == "data" and (mount, rest) in double.kv:
                    self._send(200, {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                                     "lease_duration": 0, "data": {"data": double.kv[(mount, rest)],
                                     "metadata": {"version": 1, "deletion_time": "", "destroyed": False}}})
                elif kind == "creds" and (mount, rest) in double.db_roles:
                    username, password = double.db_roles[(mount, rest)]
                    self._send(200, {"request_id": str(uuid.uuid4()), "lease_id": f"{mount}/creds/{rest}/x",
                                     "renewable": True, "lease_duration": 3600,
                                     "data": {"username": username, "password": password}})
                else:
                    self._send(404, {"errors": []})

            def do_POST(self):
                double.requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path == "/v1/auth/approle/login":
                    if double.approles.get(body.get("role_id")) == body.get("secret_id"):
                        token = f"s.{uuid.uuid4().hex}"
                        double.tokens.add(token)
                        self._send(200, {"auth": {"client_token": token, "lease_duration": 3600,
                                                  "renewable": True, "policies": ["default"]}})
                    else:
                        self._send(400, {"errors": ["invalid role or secret ID"]})
                else:
                    self._send(404, {"errors": []})

        return Handler
