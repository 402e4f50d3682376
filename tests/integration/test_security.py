"""Security: every route's required role (a table checked against app.routes), hashed tokens,
secrets kept out of the logs, CORS closed by default and security headers on the UI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
from fastapi.routing import APIRoute

from packages.core.auth import ROLES
from tests.conftest import ADMIN_TOKEN, API
from tests.factories import make_project

PUBLIC, VIEWER, REVIEWER, DIRECTOR, ADMIN = "public", "viewer", "reviewer", "director", "admin"

# The role each route needs. A route missing here (or listed here but gone) fails the test, so a
# new route must state its role. Rules: a viewer only reads; a reviewer reviews, ingests and chats
# but cannot train, generate or publish (director); only an admin manages tokens, backends and
# webhooks.
REQUIRED = {
    "GET /health": PUBLIC, "POST /auth/session": PUBLIC, "DELETE /auth/session": PUBLIC,
    "GET /auth/me": VIEWER,
    "GET /tokens": ADMIN, "POST /tokens": ADMIN, "DELETE /tokens/{token_id}": ADMIN,
    "GET /events": VIEWER, "GET /events/stream": VIEWER, "GET /jobs/running": VIEWER,
    "GET /projects": VIEWER, "POST /projects": DIRECTOR, "GET /projects/by-slug/{slug}": VIEWER,
    "GET /projects/{project_id}": VIEWER, "PATCH /projects/{project_id}": DIRECTOR,
    "POST /projects/{project_id}/archive": DIRECTOR, "POST /projects/{project_id}/restore": DIRECTOR,
    "GET /styles": VIEWER, "GET /styles/options": VIEWER, "POST /styles": DIRECTOR,
    "GET /styles/{style_id}": VIEWER, "PATCH /styles/{style_id}": DIRECTOR, "DELETE /styles/{style_id}": DIRECTOR,
    "GET /storylines": VIEWER, "POST /storylines": DIRECTOR, "GET /storylines/{storyline_id}": VIEWER,
    "PATCH /storylines/{storyline_id}": DIRECTOR, "DELETE /storylines/{storyline_id}": DIRECTOR,
    "GET /world-settings/{project_id}": VIEWER, "PUT /world-settings/{project_id}": DIRECTOR,
    "GET /characters": VIEWER, "POST /characters": DIRECTOR, "GET /characters/by-slug/{slug}": VIEWER,
    "GET /characters/{character_id}": VIEWER, "PATCH /characters/{character_id}": DIRECTOR,
    "POST /characters/{character_id}/archive": DIRECTOR, "POST /characters/{character_id}/restore": DIRECTOR,
    "GET /characters/{character_id}/prompt": VIEWER,
    "GET /characters/{character_id}/reference-images": VIEWER,
    "POST /characters/{character_id}/reference-images": DIRECTOR,
    "DELETE /characters/{character_id}/reference-images/{image_id}": DIRECTOR,
    "GET /reference-images/{image_id}/file": VIEWER,
    "POST /generations": DIRECTOR, "GET /generations": VIEWER, "GET /generations/{generation_id}": VIEWER,
    "GET /generations/{generation_id}/preview": VIEWER, "POST /generations/{generation_id}/cancel": DIRECTOR,
    "POST /generations/{generation_id}/retry": DIRECTOR,
    "GET /backends": VIEWER, "POST /backends": ADMIN, "GET /backends/{backend_id}": VIEWER,
    "PATCH /backends/{backend_id}": ADMIN, "DELETE /backends/{backend_id}": ADMIN,
    "POST /backends/{backend_id}/refresh": ADMIN,
    "GET /gallery": VIEWER, "GET /outputs/{output_id}": VIEWER, "GET /outputs/{output_id}/file": VIEWER,
    "GET /outputs/{output_id}/thumbnail": VIEWER, "GET /farm/jobs": VIEWER,
    "POST /characters/{character_id}/ingest/images": REVIEWER, "POST /characters/{character_id}/ingest/zip": REVIEWER,
    "POST /characters/{character_id}/ingest/video": REVIEWER,
    "POST /characters/{character_id}/ingest/video-upload": REVIEWER,
    "GET /ingestions": VIEWER, "GET /ingestions/{ingestion_id}": VIEWER,
    "GET /images": VIEWER, "GET /images/summary": VIEWER, "GET /images/reasons": VIEWER,
    "POST /images/bulk": REVIEWER, "GET /images/{image_id}": VIEWER, "GET /images/{image_id}/file": VIEWER,
    "GET /images/{image_id}/thumbnail": VIEWER, "POST /images/{image_id}/approve": REVIEWER,
    "POST /images/{image_id}/reject": REVIEWER, "POST /images/{image_id}/undo": REVIEWER,
    "GET /quality/gates": VIEWER, "PUT /quality/gates": DIRECTOR,
    "POST /characters/{character_id}/review/metrics": REVIEWER,
    "POST /characters/{character_id}/review/vision": REVIEWER, "GET /review/vision/status": VIEWER,
    "GET /characters/{character_id}/learning": VIEWER,
    "GET /corrections/settings": VIEWER, "POST /corrections/toggle": REVIEWER, "GET /corrections": VIEWER,
    "GET /replenishment/status": VIEWER, "POST /replenishment/toggle": REVIEWER,
    "POST /replenishment/target": REVIEWER, "GET /replenishment/readiness": VIEWER,
    "PUT /replenishment/settings": REVIEWER, "POST /replenishment/run": REVIEWER,
    "GET /training/base-models": VIEWER, "GET /training/readiness": VIEWER, "POST /training/runs": DIRECTOR,
    "GET /training/runs": VIEWER, "GET /training/runs/{run_id}": VIEWER,
    "POST /training/runs/{run_id}/cancel": DIRECTOR, "POST /training/runs/{run_id}/use": DIRECTOR,
    "GET /training/runs/{run_id}/samples/{name}": VIEWER, "GET /characters/{character_id}/loras": VIEWER,
    "GET /scenes/presets": VIEWER, "POST /scenes/generate-from-story": DIRECTOR, "GET /scenes": VIEWER,
    "POST /scenes": DIRECTOR, "GET /scenes/{scene_id}": VIEWER, "PATCH /scenes/{scene_id}": DIRECTOR,
    "DELETE /scenes/{scene_id}": DIRECTOR, "POST /scenes/{scene_id}/generate": DIRECTOR,
    "POST /scenes/{scene_id}/cancel": DIRECTOR, "GET /scenes/{scene_id}/output": VIEWER,
    "POST /scenes/{scene_id}/shots": DIRECTOR, "PATCH /scenes/{scene_id}/shots/{shot_id}": DIRECTOR,
    "DELETE /scenes/{scene_id}/shots/{shot_id}": DIRECTOR, "POST /scenes/{scene_id}/shots/{shot_id}/move": DIRECTOR,
    "POST /scenes/{scene_id}/shots/{shot_id}/reset": DIRECTOR,
    "GET /scenes/{scene_id}/shots/{shot_id}/video": VIEWER,
    "GET /scenes/{scene_id}/shots/{shot_id}/first-frame": VIEWER,
    "GET /scenes/{scene_id}/shots/{shot_id}/last-frame": VIEWER,
    "GET /scenes/{scene_id}/pilots": VIEWER, "POST /scenes/{scene_id}/pilots": DIRECTOR,
    "GET /scenes/{scene_id}/pilots/{pilot_id}": VIEWER, "POST /scenes/{scene_id}/pilots/{pilot_id}/cancel": DIRECTOR,
    "POST /scenes/{scene_id}/pilots/{pilot_id}/choose": DIRECTOR, "POST /scenes/{scene_id}/hero-pass": DIRECTOR,
    "POST /scenes/{scene_id}/shots/{shot_id}/hero-pass": DIRECTOR,
    "GET /episodes": VIEWER, "POST /episodes": DIRECTOR, "GET /episodes/{episode_id}": VIEWER,
    "PATCH /episodes/{episode_id}": DIRECTOR, "DELETE /episodes/{episode_id}": DIRECTOR,
    "POST /episodes/{episode_id}/scenes/{scene_id}": DIRECTOR,
    "DELETE /episodes/{episode_id}/scenes/{scene_id}": DIRECTOR,
    "POST /episodes/{episode_id}/scenes/{scene_id}/move": DIRECTOR, "PUT /episodes/{episode_id}/reorder": DIRECTOR,
    "POST /episodes/{episode_id}/assemble": DIRECTOR, "POST /episodes/{episode_id}/publish": DIRECTOR,
    "DELETE /episodes/{episode_id}/publish": DIRECTOR, "GET /episodes/{episode_id}/video": VIEWER,
    "GET /episodes/{episode_id}/thumbnail": VIEWER, "GET /episodes/{episode_id}/export": VIEWER,
    "GET /jellyfin/health": VIEWER,
    "GET /echo/status": VIEWER, "GET /echo/conversations": VIEWER, "POST /echo/conversations": REVIEWER,
    "GET /echo/conversations/{conversation_id}": VIEWER,
    "POST /echo/conversations/{conversation_id}/messages": REVIEWER,
    "POST /echo/search": VIEWER, "POST /echo/enhance": REVIEWER, "POST /echo/narrate": REVIEWER,
    "POST /echo/reindex": DIRECTOR,
    "GET /projects/{project_id}/costs": VIEWER, "GET /projects/{project_id}/budget": VIEWER,
    "PUT /projects/{project_id}/budget": DIRECTOR, "DELETE /projects/{project_id}/budget": DIRECTOR,
    "GET /episodes/{episode_id}/budget": VIEWER, "PUT /episodes/{episode_id}/budget": DIRECTOR,
    "DELETE /episodes/{episode_id}/budget": DIRECTOR,
    "GET /projects/{project_id}/webhooks": ADMIN, "POST /projects/{project_id}/webhooks": ADMIN,
    "PATCH /webhooks/{webhook_id}": ADMIN, "DELETE /webhooks/{webhook_id}": ADMIN,
    "GET /webhooks/{webhook_id}/deliveries": ADMIN, "POST /webhooks/{webhook_id}/test": ADMIN,
    "POST /deliveries/{delivery_id}/redeliver": ADMIN,
    "POST /team/sessions": DIRECTOR, "GET /team/sessions": VIEWER, "GET /team/sessions/{session_id}": VIEWER,
    "GET /team/sessions/{session_id}/stream": VIEWER, "POST /team/sessions/{session_id}/interject": DIRECTOR,
    "POST /team/sessions/{session_id}/answer": DIRECTOR, "PATCH /team/sessions/{session_id}/plan": DIRECTOR,
    "POST /team/sessions/{session_id}/approve": DIRECTOR, "POST /team/sessions/{session_id}/cancel": DIRECTOR,
    "GET /team/models": VIEWER, "PUT /team/models": DIRECTOR,
}

MISSING_ID = "987654"  # no row has it: a call at the role answers 404/422 instead of acting on data


def api_routes(app) -> set[str]:
    """'METHOD /path' (without the API prefix) of every API route the app serves."""
    found = set()
    for item in app.routes:
        router = getattr(item, "original_router", None)  # FastAPI keeps included routers whole
        prefix = item.include_context.prefix if router is not None else ""
        for route in (router.routes if router is not None else [item]):
            path = prefix + getattr(route, "path", "")
            if isinstance(route, APIRoute) and path.startswith(API + "/"):
                found |= {f"{method} {path[len(API):]}" for method in route.methods}
    return found


async def first_status(app, method: str, path: str, token: str | None) -> int:
    """The status the app starts its answer with, by a direct ASGI call that stops there (so event
    streams, which never finish, are checked like any other route)."""
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    headers = [(b"host", b"test"), (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": API + path, "raw_path": (API + path).encode(), "root_path": "", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("test", 80), "state": {}}
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected until the status is known

    async def send(message):
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])

    task = asyncio.create_task(app(scope, receive, send))
    try:
        return await asyncio.wait_for(asyncio.shield(started), timeout=20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def test_every_route_has_a_required_role_in_the_table(app):
    """A route added without a role in REQUIRED (or a stale entry) fails here."""
    served = api_routes(app)
    assert served - REQUIRED.keys() == set(), "routes without a required role in test_security.REQUIRED"
    assert REQUIRED.keys() - served == set(), "REQUIRED lists routes the app no longer serves"


async def test_each_route_refuses_the_role_below_and_admits_its_role(app, db):
    """One role below the required one gets 403 (no token at all: 401); the required role gets past
    authorisation (neither 401 nor 403), for every route in the table."""
    from packages.core.auth import create_token

    tokens = {None: None}
    for role in ROLES:
        tokens[role] = (await create_token(db, user_name=f"sec-{role}", role=role, token_name=role))[1]
    below = {VIEWER: None, **{role: ROLES[ROLES.index(role) - 1] for role in ROLES[1:]}}
    wrong = []
    for key, role in sorted(REQUIRED.items()):
        method, template = key.split(" ", 1)
        path = "/".join(MISSING_ID if part.startswith("{") else part for part in template.split("/"))
        if role != PUBLIC:
            status = await first_status(app, method, path, tokens[below[role]])
            if status != (401 if below[role] is None else 403):
                wrong.append(f"{key} as {below[role] or 'anonymous'}: {status}")
        status = await first_status(app, method, path, tokens.get(role))
        if status in (401, 403):
            wrong.append(f"{key} as {role}: {status}")
    assert wrong == []


async def test_tokens_are_stored_only_as_hashes(client, db):
    """The api_tokens row never holds the token: only its SHA-256 and a short display prefix."""
    created = (await client.post("/tokens", json={"name": "sec-bot", "role": "viewer"})).json()
    row = dict(await db.fetchrow("SELECT * FROM api_tokens WHERE id = $1", created["id"]))
    from packages.core.auth import hash_token

    assert row["token_hash"] == hash_token(created["token"])
    assert all(created["token"] not in str(value) for value in row.values())
    assert len(row["prefix"]) < len(created["token"]) // 4


async def test_secrets_are_never_logged(client, caplog):
    """Creating a token and a webhook logs neither the token nor the webhook's signing secret."""
    caplog.set_level(logging.DEBUG)
    project = await make_project(client)
    token = (await client.post("/tokens", json={"name": "log-bot", "role": "reviewer"})).json()["token"]
    hook = await client.post(f"/projects/{project['id']}/webhooks",
                             json={"url": "http://127.0.0.1:9/hook", "event_types": ["budget.*"]})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    async with client.__class__(transport=client._transport, base_url=client.base_url,
                                headers={"Authorization": f"Bearer {token}"}) as bot:
        assert (await bot.get("/auth/me")).status_code == 200
    logged = "\n".join(r.getMessage() + json.dumps(r.args, default=str) for r in caplog.records)
    assert token not in logged and secret not in logged and ADMIN_TOKEN not in logged


async def test_cors_is_closed_by_default(client):
    """A foreign Origin gets no Access-Control-Allow-Origin, on a simple request or a preflight."""
    origin = {"Origin": "https://evil.example"}
    r = await client.get("/projects", headers=origin)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    r = await client.options("/projects", headers={**origin, "Access-Control-Request-Method": "POST",
                                                   "Access-Control-Request-Headers": "authorization"})
    assert "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" not in r.headers


@pytest.fixture
def built_ui(tmp_path, monkeypatch):
    """A stand-in built UI (index.html and one hashed asset), so the test needs no npm build."""
    import src.app

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><html><head></head><body>UI</body></html>")
    (dist / "assets" / "index-abc123.js").write_text("console.log('ui')")
    monkeypatch.setattr(src.app, "FRONTEND_DIST", dist)
    return dist


async def test_ui_pages_and_assets_carry_security_headers(app, built_ui):
    """/, a client-side route and an asset are sent with nosniff, a CSP forbidding framing, a
    Referrer-Policy and X-Frame-Options; API answers are nosniff too."""
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as browser:
        for path in ("/", "/projects/1/scenes", "/assets/index-abc123.js"):
            r = await browser.get(path)
            assert r.status_code == 200, path
            assert r.headers["x-content-type-options"] == "nosniff", path
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert r.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
            assert r.headers["x-frame-options"] == "DENY", path
        r = await browser.get(f"{API}/health")
        assert r.headers["x-content-type-options"] == "nosniff"
