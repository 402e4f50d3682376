"""The embedded PostgreSQL (pgserver) under $ANIME_STUDIO_HOME/var/postgres, and the home lock."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

from packages.core.errors import StartupError

log = logging.getLogger(__name__)
DB_NAME = "anime_studio"


class HomeLock:
    """One server per home: a second `anime-studio serve` on the same home refuses politely."""

    def __init__(self, var_dir: Path):
        self.path = var_dir / "server.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StartupError(
                f"Another Anime Studio server (pid {holder}) is already running on this home "
                f"({self.path.parent.parent}). Stop it first, or set ANIME_STUDIO_HOME to another folder."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_users(pgdata: Path) -> None:
    """pgserver stops PostgreSQL when the last process on its list of users lets go; a server
    killed with SIGKILL never took itself off that list, so without this the next server's clean
    stop would leave PostgreSQL running after the app has gone."""
    from pgserver.postgres_server import PostgresServer

    listing = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = json.loads(listing.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
        if alive != pids:
            log.info("forgetting dead users of the embedded PostgreSQL: %s", sorted(set(pids) - set(alive)))
            listing.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """Starts (or joins) the pgserver cluster; it stops when the last process using it lets go."""

    def __init__(self, var_dir: Path):
        self.pgdata = var_dir / "postgres"
        self._server = None

    def start(self) -> str:
        import pgserver  # imported here: only needed when DATABASE_URL is unset

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_users(self.pgdata)
        try:
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises plain exceptions with the postgres log inside
            raise StartupError(f"The embedded PostgreSQL under {self.pgdata} did not start: {exc}") from exc
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
        if "1 row" not in exists:
            self._server.psql(f"CREATE DATABASE {DB_NAME};")
        base = self._server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
        return base.replace("/postgres?", f"/{DB_NAME}?", 1)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
