"""Tokens, roles and the browser session."""

from tests.conftest import ADMIN_TOKEN
from tests.factories import make_project


async def test_health_is_open_and_everything_else_needs_a_token(anon):
    """Only /health and the session exchange answer without a token; the rest is 401."""
    r = await anon.get("/health")
    assert r.status_code == 200 and r.json()["database"] == "ok"
    for method, path in [("get", "/projects"), ("post", "/projects"), ("get", "/events"), ("get", "/auth/me"),
                         ("get", "/styles"), ("get", "/tokens")]:
        r = await anon.request(method.upper(), path, json={})
        assert r.status_code == 401, path
        assert r.json()["code"] == "unauthorized"


async def test_bad_token_is_401(app):
    """A wrong bearer token is refused like a missing one."""
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/api/lora",
                                 headers={"Authorization": "Bearer as_wrong"}) as c:
        assert (await c.get("/projects")).status_code == 401


async def test_viewer_reads_but_cannot_write(client, client_as, db):
    """A viewer token lists projects but gets 403 on every write, and nothing changes."""
    project = await make_project(client)
    async with client_as("viewer") as viewer:
        assert (await viewer.get("/projects")).status_code == 200
        r = await viewer.post("/projects", json={"name": "V", "slug": "v"})
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert (await viewer.patch(f"/projects/{project['id']}", json={"name": "Hacked"})).status_code == 403
        assert (await viewer.get("/tokens")).status_code == 403
    assert await db.fetchval("SELECT name FROM projects WHERE id = $1", project["id"]) == project["name"]


async def test_director_writes_but_cannot_manage_tokens(client_as):
    """Directors edit the story; only admins manage tokens."""
    async with client_as("director") as director:
        assert (await director.post("/projects", json={"name": "D", "slug": "d"})).status_code == 201
        assert (await director.post("/tokens", json={"name": "x", "role": "admin"})).status_code == 403


async def test_tokens_are_hashed_and_revocable(client, db, app):
    """A created token is stored only as a hash, works once issued and stops working when revoked."""
    import httpx

    r = await client.post("/tokens", json={"name": "ci-bot", "role": "reviewer"})
    assert r.status_code == 201
    created = r.json()
    stored = await db.fetchval("SELECT token_hash FROM api_tokens WHERE id = $1", created["id"])
    assert created["token"] not in stored and len(stored) == 64
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/api/lora",
                                 headers={"Authorization": f"Bearer {created['token']}"}) as bot:
        me = (await bot.get("/auth/me")).json()
        assert me["role"] == "reviewer" and me["name"] == "ci-bot"
        assert (await client.delete(f"/tokens/{created['id']}")).status_code == 204
        assert (await bot.get("/auth/me")).status_code == 401


async def test_session_cookie_signs_in_the_browser(anon):
    """Exchanging a valid token sets an HttpOnly cookie that authenticates later requests; a bad one is 401."""
    r = await anon.post("/auth/session", json={"token": "nope"})
    assert r.status_code == 401
    r = await anon.post("/auth/session", json={"token": ADMIN_TOKEN})
    assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    assert (await anon.get("/auth/me")).status_code == 200
    await anon.delete("/auth/session")
    anon.cookies.clear()
    assert (await anon.get("/auth/me")).status_code == 401
