"""Tools of the fault suite: kill -9 a live server, find (and end) what it left behind (its
embedded PostgreSQL, orphaned ffmpeg or trainer children), and reach or restart the embedded
PostgreSQL under a home the way an operator would (`pg_ctl restart`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from tests.live import LiveServer


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def kill9(server: LiveServer) -> list[int]:
    """SIGKILL the server process alone (as the OOM killer would); returns the pids of its children
    at that moment, so the caller can check none of them outlives it."""
    children = [p.pid for p in descendants(server.process.pid)]
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    return children


def survivors(pids: list[int], *, but: tuple[str, ...] = ("postgres",), wait: float = 3.0) -> list[str]:
    """Which of `pids` are still alive after `wait` s (postgres is meant to outlive its owner)."""
    deadline = time.monotonic() + wait
    alive: list[str] = []
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE and not proc.name().startswith(but):
                    alive.append(f"{pid} {' '.join(proc.cmdline())[:200]}")
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def end(pids: list[int]) -> None:
    """Kill what a test started or left behind, by pid."""
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if not proc.name().startswith("postgres"):
                proc.kill()
        except psutil.NoSuchProcess:
            pass


class Embedded:
    """The embedded PostgreSQL of a live server's home, reached through its socket without joining
    pgserver's list of users (a test on that list would keep the server's clean stop from stopping it)."""

    def __init__(self, home: Path):
        self.pgdata = home / "var" / "postgres"

    @property
    def url(self) -> str:
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        port, socket_dir = lines[3].strip(), lines[4].strip()
        return f"postgresql://postgres:@/anime_studio?host={socket_dir}&port={port}"

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, the server comes back on the same socket."""
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs PostgreSQL as this user under root
        _commands.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.pgdata, user=user, timeout=60)


def postgres_running(home: Path) -> bool:
    """Whether the embedded PostgreSQL under `home` runs (read from its pid file; never starts it)."""
    pidfile = home / "var" / "postgres" / "postmaster.pid"
    return pidfile.exists() and psutil.pid_exists(int(pidfile.read_text().split()[0]))


def stop_embedded(home: Path) -> None:
    """Stops the embedded PostgreSQL a killed server left running under `home` (if any)."""
    pgdata = home / "var" / "postgres"
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().split()[0])
    if not psutil.pid_exists(pid):
        return
    try:
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None
        _commands.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user, timeout=30)
    except Exception:
        os.kill(pid, signal.SIGKILL)
