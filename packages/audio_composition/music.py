"""Music for a scene: generated from its mood by ACE-Step 1.5's API server (`ACESTEP_URL`), cached
by (mood, duration) under `output/audio/music/`; or a track uploaded for the scene
(`prepare_track`); or none.

ACE-Step's API (docs/en/API.md of ace-step/ACE-Step-1.5): every answer is wrapped as
`{data, code, error, timestamp, extra}`. `POST /release_task` (JSON: prompt, lyrics,
audio_duration 10-600 s, audio_format, batch_size, ...) -> `data.task_id`; `POST /query_result`
`{task_id_list: [id]}` -> `data: [{task_id, status 0 queued/running | 1 succeeded | 2 failed,
result: a JSON string of [{file: "/v1/audio?path=...", status, metas, ...}]}]` (an id the server
does not know answers status 0 with result "[]", for ever); `GET /v1/audio?path=` downloads the
file. Errors are HTTP statuses with `{detail}` (401 key, 429 queue full, 404/403 for a file).

Polling runs on the event loop with asyncio.sleep between requests (async httpx), never a
blocking call."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from pathlib import Path
from urllib.parse import urljoin

import httpx

from packages.core.errors import DomainError, Invalid
from packages.core.media import ffmpeg_binary
from packages.core.settings import Settings

MIN_S, MAX_S = 10, 600  # what ACE-Step generates
AUDIO_FORMAT = "wav"
POLL_FIRST_S, POLL_MAX_S = 0.5, 3.0  # the wait between polls grows from the first to the most
TIMEOUT_S = 900.0  # a task that has not finished by then is given up
LOST_AFTER = 3  # polls answering "[]" in a row: the server no longer knows the task (restarted)
BUSY_RETRIES = 3  # 429 (queue full): tries of release_task, waiting 2^n s between them
_locks: dict[str, asyncio.Lock] = {}


class MusicUnavailable(DomainError):
    """ACE-Step cannot be reached."""

    status = 503
    code = "acestep_unreachable"


class MusicFailed(DomainError):
    """ACE-Step refused the task, failed it, lost it or did not finish it in time."""

    status = 502
    code = "music_failed"


def music_dir(settings: Settings) -> Path:
    return settings.output_dir / "audio" / "music"


def clean_mood(mood: str) -> str:
    mood = re.sub(r"\s+", " ", mood or "").strip().lower()
    if not mood:
        raise Invalid("A mood is needed to generate music", code="empty_mood", field="mood")
    if len(mood) > 200:
        raise Invalid("A mood is at most 200 characters", code="mood_too_long", field="mood")
    return mood


def request_seconds(duration_s: float) -> int:
    """The length asked of ACE-Step: the scene's, rounded up, within what it generates."""
    if not duration_s > 0:
        raise Invalid("Music needs a positive duration", code="invalid_duration", field="duration_s")
    return min(MAX_S, max(MIN_S, math.ceil(duration_s)))


def caption(mood: str) -> str:
    return f"instrumental anime soundtrack, {mood} mood, cinematic background score, no vocals"


class AceStepClient:
    """One ACE-Step API server. `generate(caption, seconds, dest)` releases a task, polls it to the
    end and downloads its first file to `dest` (atomically)."""

    def __init__(self, url: str, *, poll_s: float = POLL_FIRST_S, max_poll_s: float = POLL_MAX_S,
                 timeout_s: float = TIMEOUT_S, busy_backoff_s: float = 1.0) -> None:
        self.url = url.rstrip("/") + "/"
        self.poll_s, self.max_poll_s, self.timeout_s, self.busy_backoff_s = poll_s, max_poll_s, timeout_s, busy_backoff_s

    async def _call(self, client: httpx.AsyncClient, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return await client.request(method, urljoin(self.url, path.lstrip("/")), **kwargs)
        except httpx.HTTPError as exc:
            raise MusicUnavailable(f"ACE-Step at {self.url} cannot be reached: {exc}") from exc

    @staticmethod
    def _data(response: httpx.Response, what: str):
        if response.status_code != 200:
            try:
                detail = response.json().get("detail") or response.text
            except (ValueError, AttributeError):
                detail = response.text
            raise MusicFailed(f"ACE-Step refused {what} ({response.status_code}): {str(detail)[:300]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise MusicFailed(f"ACE-Step answered {what} with something that is not JSON") from exc
        if not isinstance(body, dict) or body.get("code", 200) != 200 or body.get("error"):
            raise MusicFailed(f"ACE-Step failed {what}: {body.get('error') if isinstance(body, dict) else body}")
        return body.get("data")

    async def release(self, client: httpx.AsyncClient, payload: dict) -> str:
        for attempt in range(BUSY_RETRIES + 1):
            response = await self._call(client, "POST", "/release_task", json=payload)
            if response.status_code != 429 or attempt == BUSY_RETRIES:
                break
            await asyncio.sleep(self.busy_backoff_s * 2 ** attempt)  # queue full: wait, then again
        data = self._data(response, "the task")
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not task_id:
            raise MusicFailed("ACE-Step accepted the task without a task id")
        return str(task_id)

    async def wait(self, client: httpx.AsyncClient, task_id: str) -> str:
        """Polls until the task succeeds; returns its first file's URL (relative to the server)."""
        loop = asyncio.get_running_loop()
        deadline, delay, unknown = loop.time() + self.timeout_s, self.poll_s, 0
        while True:
            response = await self._call(client, "POST", "/query_result", json={"task_id_list": [task_id]})
            entries = self._data(response, "the status query") or []
            entry = next((e for e in entries if isinstance(e, dict) and e.get("task_id") == task_id), None)
            if entry is None:
                raise MusicFailed(f"ACE-Step's status answer does not mention task {task_id}")
            try:
                result = json.loads(entry.get("result") or "[]")
            except (TypeError, ValueError):
                result = []
            result = result if isinstance(result, list) else []
            status = entry.get("status")
            if status == 1:
                files = [item.get("file") for item in result if isinstance(item, dict) and item.get("file")]
                if not files:
                    raise MusicFailed(f"ACE-Step finished task {task_id} without an audio file")
                return files[0]
            if status == 2:
                reason = next((item.get("error") for item in result if isinstance(item, dict) and item.get("error")),
                              None)
                raise MusicFailed(f"ACE-Step failed task {task_id}: {(reason or 'no reason given')[-300:]}")
            unknown = unknown + 1 if not result else 0
            if unknown >= LOST_AFTER:
                raise MusicFailed(f"ACE-Step no longer knows task {task_id} (was the server restarted?)")
            if loop.time() + delay > deadline:
                raise MusicFailed(f"ACE-Step did not finish task {task_id} in {self.timeout_s:g} s")
            await asyncio.sleep(delay)
            delay = min(self.max_poll_s, delay * 1.5)

    async def download(self, client: httpx.AsyncClient, file_url: str, dest: Path) -> Path:
        partial = dest.with_name(dest.stem + ".part" + dest.suffix)
        try:
            async with client.stream("GET", urljoin(self.url, file_url.lstrip("/"))) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._data(response, "the audio download")
                with open(partial, "wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 16):
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise MusicUnavailable(f"ACE-Step at {self.url} cannot be reached: {exc}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if partial.stat().st_size == 0:
            partial.unlink()
            raise MusicFailed("ACE-Step's audio file is empty")
        partial.replace(dest)
        return dest

    async def generate(self, prompt: str, seconds: int, dest: Path) -> Path:
        payload = {"prompt": prompt, "lyrics": "[Instrumental]", "audio_duration": seconds,
                   "audio_format": AUDIO_FORMAT, "batch_size": 1, "thinking": False, "vocal_language": "en"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            task_id = await self.release(client, payload)
            file_url = await self.wait(client, task_id)
            dest.parent.mkdir(parents=True, exist_ok=True)
            return await self.download(client, file_url, dest)


def cache_path(settings: Settings, mood: str, seconds: int) -> Path:
    key = hashlib.sha256(f"{mood}\0{seconds}".encode()).hexdigest()[:40]
    return music_dir(settings) / f"{key}.{AUDIO_FORMAT}"


async def music_for(settings: Settings, mood: str, duration_s: float) -> Path | None:
    """Music for `mood` lasting at least `duration_s` (up to ACE-Step's 600 s), generated once per
    (mood, duration in whole seconds) and cached; None when ACESTEP_URL is not set."""
    if not settings.acestep_url:
        return None
    mood, seconds = clean_mood(mood), request_seconds(duration_s)
    dest = cache_path(settings, mood, seconds)
    if dest.is_file():
        return dest
    lock = _locks.setdefault(dest.name, asyncio.Lock())
    try:
        async with lock:
            if not dest.is_file():
                await AceStepClient(settings.acestep_url).generate(caption(mood), seconds, dest)
            return dest
    finally:
        if not lock.locked() and _locks.get(dest.name) is lock:
            del _locks[dest.name]


async def prepare_track(settings: Settings, source: Path, dest: Path) -> float:
    """An uploaded track made fit for assembly: its audio only, as 48 kHz stereo FLAC at `dest`
    (written atomically). Returns its duration; a file without audio is refused (nothing written)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.stem + ".part.flac")
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(settings.ffmpeg_binary), "-hide_banner", "-y", "-i", str(source.resolve()),
        "-map", "0:a:0", "-vn", "-sn", "-ac", "2", "-ar", "48000", "-c:a", "flac", "-f", "flac", str(partial),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, report = await process.communicate()
    text = report.decode(errors="replace")
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if process.returncode != 0 or not times:
        partial.unlink(missing_ok=True)
        raise Invalid("The music file has no readable audio", code="unreadable_audio", field="file")
    h, m, s = times[-1]
    seconds = int(h) * 3600 + int(m) * 60 + float(s)
    if seconds <= 0:
        partial.unlink(missing_ok=True)
        raise Invalid("The music file's audio is empty", code="unreadable_audio", field="file")
    partial.replace(dest)
    return seconds
