"""The browser tests' own API calls (set-up and checks beside what the page shows)."""

from __future__ import annotations

import time

import httpx


def client(server) -> httpx.Client:
    return httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {server.token}"}, timeout=30)


def ok(response: httpx.Response):
    assert response.status_code < 300, response.text
    return response.json()


def wait_for(check, timeout: float = 60, what: str = "condition"):
    """Calls `check` every 0.25 s until it returns something truthy, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)
