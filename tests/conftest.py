"""Shared fixtures: one embedded PostgreSQL for the session, a migrated template database, and a
fresh database (copied from the template) plus a fresh ANIME_STUDIO_HOME for every test."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from packages.core import migrate
from packages.core.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"
API = "/api/lora"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory) -> str:
    """URL of the session's PostgreSQL server (its maintenance database)."""
    import pgserver

    if url := os.environ.get("TEST_DATABASE_URL"):  # run against another server if asked
        yield url
        return
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


def _with_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@pytest.fixture(scope="session")
async def template_db(pg_cluster) -> str:
    conn = await asyncpg.connect(pg_cluster)
    await conn.execute("DROP DATABASE IF EXISTS as_template")
    await conn.execute("CREATE DATABASE as_template")
    await conn.close()
    migrate.upgrade(_with_db(pg_cluster, "as_template"))
    return "as_template"


@pytest.fixture
async def database_url(pg_cluster, template_db) -> AsyncIterator[str]:
    name = f"as_test_{os.getpid()}_{next(_db_counter)}"
    conn = await asyncpg.connect(pg_cluster)
    await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    yield _with_db(pg_cluster, name)
    await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    await conn.close()


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home, database_url) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    ANIME_STUDIO_INPROCESS_WORKER=False, _env_file=None)


@pytest.fixture
async def app(settings):
    from src.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db(app) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's database, for arranging rows and checking what was written."""
    async with app.state.pool.acquire() as conn:
        yield conn


def _client(app, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://test{API}", headers=headers)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client on /api/lora."""
    async with _client(app, ADMIN_TOKEN) as c:
        yield c


@pytest.fixture
async def anon(app) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, None) as c:
        yield c


@pytest.fixture
async def client_as(app, db):
    """`async with client_as("viewer") as c:` — a client holding a fresh token of that role."""
    from contextlib import asynccontextmanager

    from packages.core.auth import create_token

    @asynccontextmanager
    async def make(role: str):
        _, token = await create_token(db, user_name=f"{role}-user", role=role, token_name=role)
        async with _client(app, token) as c:
            yield c

    return make
