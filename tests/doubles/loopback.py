"""What every HTTP protocol double shares: a threaded HTTP server on 127.0.0.1, started in a
background thread, usable as a context manager (`with OllamaDouble() as double: ...`)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    name = "double"  # the serving thread's name

    def _serve(self, handler: type[BaseHTTPRequestHandler], port: int) -> None:
        """Binds the server (port 0: any free one) and sets `url`; call from __init__. TCP_NODELAY, as
        the real servers have (Go's and aiohttp's default): without it a keep-alive answer written as
        headers then body waits for the client's delayed ACK, 40 ms a request."""
        handler.disable_nagle_algorithm = True
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                                            name=self.name)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
