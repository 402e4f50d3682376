"""Users, roles and hashed API tokens; the auth dependencies every router is created with.

A token is sent as `Authorization: Bearer <token>` or in the HttpOnly cookie set by
POST /auth/session (so <img src> and EventSource work in the browser). Tokens are random
256-bit strings; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from pydantic import BaseModel

from packages.core.errors import Forbidden, Unauthorized

ROLES = ("viewer", "reviewer", "director", "admin")
COOKIE_NAME = "anime_studio_token"


class User(BaseModel):
    id: int | None  # None for the ANIME_STUDIO_ADMIN_TOKEN principal
    name: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "as_" + secrets.token_urlsafe(32)


async def create_token(conn: asyncpg.Connection, *, user_name: str, role: str, token_name: str) -> tuple[int, str]:
    """Creates (or reuses) the user and a new token for it; returns (token id, the token)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = new_token()
    async with conn.transaction():
        user_id = await conn.fetchval(
            "INSERT INTO users (name, role) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role RETURNING id",
            user_name, role,
        )
        token_id = await conn.fetchval(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4) RETURNING id",
            user_id, token_name, hash_token(token), token[:7],
        )
    return token_id, token


async def list_tokens(conn: asyncpg.Connection, limit: int, offset: int) -> tuple[list, int]:
    rows = await conn.fetch(
        "SELECT t.id, t.name, t.prefix, u.name AS user_name, u.role, t.created_at, t.last_used_at, t.revoked_at "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id LIMIT $1 OFFSET $2", limit, offset)
    return rows, await conn.fetchval("SELECT count(*) FROM api_tokens")


async def revoke_token(conn: asyncpg.Connection, token_id: int) -> bool:
    """Revokes an active token (this process forgets it at once; others within the cache's ttl)."""
    done = await conn.fetchval(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id", token_id)
    token_cache.clear()
    return done is not None


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE_NAME) or None


class TokenCache:
    """Remembers recent token checks for a few seconds so a page of requests costs one query.
    Revoking through this process clears it; another process sees a revocation within `ttl`."""

    def __init__(self, ttl: float = 10.0, size: int = 1024):
        self.ttl, self.size = ttl, size
        self._entries: dict[str, tuple[float, User]] = {}

    def get(self, digest: str) -> User | None:
        entry = self._entries.get(digest)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, digest: str, user: User) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, user)

    def clear(self) -> None:
        self._entries.clear()


token_cache = TokenCache()


async def authenticate(request: Request, token: str | None) -> User | None:
    if not token:
        return None
    admin_token = request.app.state.settings.admin_token
    if admin_token and hmac.compare_digest(token.encode(), admin_token.get_secret_value().encode()):
        return User(id=None, name="admin", role="admin")
    digest = hash_token(token)
    if (user := token_cache.get(digest)) is not None:
        return user
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            "UPDATE api_tokens t SET last_used_at = now() FROM users u "
            "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.id = t.user_id "
            "RETURNING u.id, u.name, u.role",
            digest,
        )
    if row is None:
        return None
    user = User(**dict(row))
    token_cache.put(digest, user)
    return user


async def current_user(request: Request) -> User:
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    user = await authenticate(request, _presented_token(request))
    if user is None:
        raise Unauthorized("A valid API token is required", code="unauthorized")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(role: str):
    """Dependency: the caller's role is at least `role`."""

    async def check(user: CurrentUser) -> User:
        if not user.can(role):
            raise Forbidden(f"This needs the {role} role; your token has {user.role}", code="forbidden")
        return user

    check.__name__ = f"require_{role}"
    return Depends(check)
