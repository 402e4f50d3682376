"""The README's first hour, from a fresh checkout in a temporary directory: `make run` in the
background, health, the printed sign-in URL, `anime-studio demo`, the published episode in the
library folder, then shutdown. Shared by tests/integration/test_new_user.py and bench/first_hour.py.

The checkout is `git clone` of this repository's HEAD when the working tree is clean, else a copy
of the working tree's files as git sees them (tracked and untracked-but-not-ignored), so
uncommitted work is what gets tested. Nothing is downloaded: rather than `make run` installing for
minutes, the checkout gets
- `.venv`: a new virtual environment (same interpreter) whose site-packages reads this repo's
  `.venv` site-packages through a `.pth` line (that directory's own `.pth` files, among them the
  editable install pointing here, are not processed), with the checkout itself installed editable
  (`pip install --no-deps --no-build-isolation --no-index -e .`) so the checkout's code is what
  runs, and `.venv/.installed` made, so make's install step is up to date;
- `frontend/node_modules`: a symlink to this repo's, with the checkout's `package-lock.json` dated
  back so make does not run `npm ci` into it. `frontend/dist` is not copied: `make run` builds it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.live import REPO, free_port

# Settings a developer's shell may carry that a newcomer's does not: all of them point at services.
FOREIGN_ENV = ("ANIME_STUDIO_", "DATABASE_URL", "JELLYFIN_", "TTS_URL", "ACESTEP_URL", "OLLAMA_HOST", "COMFYUI_",
               "QDRANT_URL", "VAULT_")
READY = re.compile(r"(http://\S+)\?token=(\S+)")


def fresh_checkout(dest: Path) -> str:
    """`git clone` of HEAD when the tree is clean, else a copy of the files git would commit."""
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.strip()
    if not dirty:
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(dest)], check=True)
        return "git clone of HEAD"
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the tree is left out, as a commit would
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return "copy of the working tree (uncommitted changes present)"


def link_dependencies(checkout: Path) -> None:
    """The checkout's .venv and frontend/node_modules, reusing what this repo has installed."""
    venv = checkout / ".venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = venv / ours.relative_to(Path(sys.prefix))
    (theirs / "_anime_studio_shared.pth").write_text(f"{ours}\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-e", str(checkout)], cwd=checkout, check=True, capture_output=True)
    (venv / ".installed").touch()
    os.utime(checkout / "pyproject.toml", (1, 1))  # older than .installed: make leaves the venv alone
    (checkout / "frontend" / "node_modules").symlink_to(REPO / "frontend" / "node_modules")
    os.utime(checkout / "frontend" / "package-lock.json", (1, 1))  # no `npm ci` into the shared folder


def newcomer_env(port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env.update({"ANIME_STUDIO_PORT": str(port), "PYTHONUNBUFFERED": "1"})
    return env


@dataclass
class FirstHour:
    """Each step's seconds (in order), and what was found."""
    checkout: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    episode: Path | None = None


def run_first_hour(work: Path, timeout: float = 900, result: FirstHour | None = None) -> FirstHour:
    """Runs every step, timing each into `result`; raises AssertionError naming the step (with its
    log tail) when one fails. The server is always stopped, by SIGINT to make's process group, as
    a user's Ctrl+C."""
    result, deadline = result or FirstHour(), time.monotonic() + timeout
    checkout = work / "anime-studio"
    checkout.mkdir(parents=True)

    def step(name: str, started: float) -> None:
        result.seconds[name] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    result.checkout = fresh_checkout(checkout)
    step("checkout", started)
    started = time.perf_counter()
    link_dependencies(checkout)
    step("link dependencies", started)

    port = free_port()
    env = newcomer_env(port)
    log = work / "make-run.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        make = subprocess.Popen(["make", "run"], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        ready = _wait_ready(make, log, port, deadline)
        step("make run to healthy", started)
        base, token = ready
        me = httpx.get(f"http://127.0.0.1:{port}/api/lora/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "admin", f"the printed token does not sign in: {me.text}"
        ui = httpx.get(base, timeout=10)
        assert ui.status_code == 200 and "<div id=\"app\"" in ui.text, "the UI is not served at the printed URL"

        started = time.perf_counter()
        demo = subprocess.run([str(checkout / ".venv" / "bin" / "anime-studio"), "demo"], cwd=checkout, env=env,
                              capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic()))
        assert demo.returncode == 0, f"`anime-studio demo` exited {demo.returncode}:\n{demo.stdout[-3000:]}{demo.stderr[-3000:]}"
        step("anime-studio demo", started)
        episodes = sorted((checkout / "library").glob("*/Season 01/*.mp4"))
        assert episodes and episodes[0].stat().st_size > 10_000, f"no episode in {checkout / 'library'}:\n{demo.stdout[-2000:]}"
        result.episode = episodes[0].relative_to(checkout)
        assert httpx.get(f"http://127.0.0.1:{port}/api/lora/health").status_code == 200, "the server died during the demo"
    finally:
        started = time.perf_counter()
        stopped = _stop(make)
        step("shutdown", started)
    assert stopped, f"make run did not stop within 60 s of Ctrl+C:\n{log.read_text()[-3000:]}"
    leftover = checkout / "var" / "postgres" / "postmaster.pid"
    assert not leftover.exists(), "the embedded PostgreSQL was left running after shutdown"
    return result


def _wait_ready(make: subprocess.Popen, log: Path, port: int, deadline: float) -> tuple[str, str]:
    """Health answers and the sign-in URL is printed (first start)."""
    while time.monotonic() < deadline:
        if make.poll() is not None:
            raise AssertionError(f"make run exited {make.returncode}:\n{log.read_text()[-4000:]}")
        try:
            healthy = httpx.get(f"http://127.0.0.1:{port}/api/lora/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            healthy = False
        found = READY.search(log.read_text(errors="replace"))
        if healthy and found:
            return found.group(1), found.group(2)
        time.sleep(0.2)
    raise AssertionError(f"make run was not healthy with a sign-in URL in time:\n{log.read_text()[-4000:]}")


def _stop(make: subprocess.Popen) -> bool:
    """Ctrl+C to make's process group; True when make and everything it started (the server, its
    embedded PostgreSQL) are gone within 60 s, else kills what is left and returns False."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(make.pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        make.poll()
        try:
            os.killpg(make.pid, 0)
        except ProcessLookupError:
            make.wait()
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(make.pid, signal.SIGKILL)
    make.wait()
    return False
