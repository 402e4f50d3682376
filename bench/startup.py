"""Cold `make run` (dependencies installed and the UI built, a fresh home, embedded PostgreSQL)
to a healthy /api/lora/health, and the server's idle RSS (embedded PostgreSQL excluded).

Goal (Foundation issue): start <= 10 s, idle RSS <= 250 MB. Prints the start time as a ratio of its
limit; the last line is the JSON summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import free_port

REPO = Path(__file__).resolve().parents[1]
START_LIMIT_S, RSS_LIMIT_MB = 10.0, 250.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def one_start(home: Path) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "ANIME_STUDIO_HOME": str(home), "ANIME_STUDIO_PORT": str(port)}
    env.pop("DATABASE_URL", None)
    started = time.perf_counter()
    process = subprocess.Popen(["make", "-s", "run"], cwd=REPO, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not healthy(f"http://127.0.0.1:{port}/api/lora/health"):
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise SystemExit("server did not start")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        time.sleep(3)  # idle
        return elapsed, rss_mb(server_pid(process.pid))
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def server_pid(make_pid: int) -> int:
    """The `anime-studio serve` process under make (its python child)."""
    children = Path(f"/proc/{make_pid}/task/{make_pid}/children").read_text().split()
    for child in children:
        if "anime-studio" in Path(f"/proc/{child}/cmdline").read_text():
            return int(child)
    raise SystemExit("could not find the server process under make")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cold, rss = one_start(Path(tmp) / "fresh")  # initdb + every migration
        warm, _ = one_start(Path(tmp) / "fresh")  # restart on an existing home
    print(f"cold start (new home, initdb + migrations): {cold:.2f} s   restart: {warm:.2f} s")
    print(f"idle server RSS: {rss:.0f} MB (limit {RSS_LIMIT_MB:.0f} MB)")
    ratio = cold / START_LIMIT_S
    print(f"start / limit = {ratio:.2f}")
    print(json.dumps({"bench": "startup", "value": round(ratio, 3), "goal": "<= 1.0",
                      "ok": ratio <= 1.0 and rss <= RSS_LIMIT_MB, "start_s": round(cold, 2),
                      "restart_s": round(warm, 2), "idle_rss_mb": round(rss, 1)}))


if __name__ == "__main__":
    sys.exit(main())
