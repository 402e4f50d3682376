"""What must hold before the server or a worker runs: a safe bind, the home lock, a database URL
(Vault, DATABASE_URL or the embedded server) and an up-to-date schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from packages.core import migrate
from packages.core.db import resolve_database_url
from packages.core.embedded import EmbeddedPostgres, HomeLock
from packages.core.errors import StartupError
from packages.core.settings import Settings


def check_bind(settings: Settings) -> None:
    if not settings.is_loopback and not settings.admin_token:
        raise StartupError(
            f"Refusing to listen on {settings.host} (not loopback) without an admin token. "
            "Set ANIME_STUDIO_ADMIN_TOKEN to a long random secret (e.g. `openssl rand -hex 32`), "
            "or bind to 127.0.0.1."
        )


@dataclass
class Prepared:
    url: str
    embedded: EmbeddedPostgres
    lock: HomeLock | None = field(default=None)

    def close(self) -> None:
        self.embedded.stop()
        if self.lock is not None:
            self.lock.release()


def prepare(settings: Settings, *, server: bool = True) -> Prepared:
    """`server=True` also checks the bind address and takes the home lock (one server per home)."""
    lock = None
    if server:
        check_bind(settings)
        lock = HomeLock(settings.var_dir)
        lock.acquire()
    embedded = EmbeddedPostgres(settings.var_dir)
    try:
        url = resolve_database_url(settings, embedded)
        migrate.upgrade(url)
    except BaseException:
        embedded.stop()
        if lock is not None:
            lock.release()
        raise
    return Prepared(url=url, embedded=embedded, lock=lock)
