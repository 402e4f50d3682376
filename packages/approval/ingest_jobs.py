"""Durable ingestion jobs: a zip, an uploaded video, or a video URL (downloaded with yt-dlp).

A job takes the ingestion id, reloads the row, and runs to the end: each image is stored in its
own short transaction, so a crash keeps what was done and the rerun (the stalled-job recovery, or
the sweep below) goes through the same input again, adding only what is missing. Limits are
enforced here, not trusted to yt-dlp: the downloaded bytes are counted against
ANIME_STUDIO_MAX_VIDEO_MB, and the duration is measured with ffmpeg against ANIME_STUDIO_MAX_VIDEO_S
(yt-dlp knows no duration for local files and `max_filesize` only skips silently).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import procrastinate

from packages.approval import ingest, ingest_queries
from packages.approval.ingest import Counts, Deduper
from packages.approval.ingest_schemas import IngestionCompleted, IngestionFailed, IngestionProgress
from packages.characters import queries as character_queries
from packages.core.db import transaction
from packages.core.errors import DomainError
from packages.core.jobs import runtime
from packages.core.media import extract_voice, probe_video, scene_frames
from packages.core.paths import character_dir, inside_home

log = logging.getLogger(__name__)
ingestion_jobs = procrastinate.Blueprint()
FRAME_EVERY_S = 5.0  # at least one frame this often, scene changes or not
MAX_FRAMES = 2000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class IngestError(Exception):
    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code


@ingestion_jobs.task(name="run", queue="ingestion")
async def run_ingestion(ingestion_id: int) -> None:
    await execute(ingestion_id)


@ingestion_jobs.periodic(cron="* * * * *")
@ingestion_jobs.task(name="sweep", queue="maintenance", queueing_lock="ingestion:sweep")
async def sweep(timestamp: int) -> None:
    """Re-queues unfinished ingestions whose job was lost (deferred after a commit that crashed)."""
    async with runtime.acquire() as conn:
        orphans = await conn.fetch(
            """SELECT i.id FROM ingestions i
               WHERE i.status IN ('queued', 'running') AND i.updated_at < now() - interval '60 seconds'
                 AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = $1
                                 AND j.status IN ('todo', 'doing') AND (j.args->>'ingestion_id')::bigint = i.id)""",
            ingest.RUN_TASK)
    for row in orphans:
        await ingest.enqueue_ingestion(row["id"])


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Run:
    """One ingestion while its job runs: the row's id, its character, counts and progress."""

    def __init__(self, row, character):
        self.row, self.character = row, character
        self.settings = runtime.settings
        self.counts = Counts()
        self.deduper: Deduper | None = None
        self._reported = 0.0

    async def update(self, event_cls=None, event: dict | None = None, **fields) -> None:
        async with runtime.acquire() as conn, transaction(conn) as tx:
            await ingest_queries.update_ingestion(conn, self.row["id"], fields)
            if event_cls is not None:
                fresh = await ingest_queries.get_ingestion(conn, self.row["id"])
                await tx.emit(event_cls(project_id=self.character["project_id"], ingestion_id=self.row["id"],
                                        character_id=self.character["id"], status=fresh["status"],
                                        progress=fresh["progress"], step=fresh["step"], **(event or {})))

    async def progress(self, fraction: float, step: str, force: bool = False) -> None:
        """Percent and step on the row and as an event, at most twice a second."""
        if not force and time.monotonic() - self._reported < 0.5:
            return
        self._reported = time.monotonic()
        await self.update(IngestionProgress, progress=round(min(max(fraction, 0.0), 1.0), 3), step=step,
                          **self.counts.fields())

    async def add(self, data: bytes, source: str, name: str = "") -> None:
        """One image through the pipeline (sniff, size, duplicates), stored in its own transaction."""
        try:
            cand = await asyncio.to_thread(ingest.examine, data, self.settings, name)
        except DomainError:
            self.counts.files_skipped += 1
            return
        verdict = self.deduper.judge(cand)
        if verdict == "new":
            async with runtime.acquire() as conn, transaction(conn):
                if await ingest.store_image(conn, self.settings, self.character, self.row["id"], cand, source) is None:
                    verdict = "duplicate"  # stored by another ingestion a moment ago
        if verdict in ("new", "again"):
            self.deduper.keep(cand)
        self.deduper.count(verdict, self.counts)


async def execute(ingestion_id: int) -> None:
    async with runtime.acquire() as conn:
        row = await ingest_queries.get_ingestion(conn, ingestion_id)
        if row is None or row["status"] in ingest.TERMINAL:
            return  # finished before: a second run does nothing
        character = await character_queries.get_character(conn, row["character_id"])
        run = Run(row, character)
        run.deduper = await Deduper.load(conn, character["id"], ingestion_id)
    settings = run.settings
    work = inside_home(settings, settings.home / row["work_dir"]) if row["work_dir"] else None
    try:
        await run.update(status="running", started_at=row["started_at"] or _now(), error=None, error_code=None)
        await run.progress(0.0, "starting", force=True)
        if row["kind"] == "zip":
            await _zip(run, work / "input.zip")
        elif row["kind"] == "video":
            await _video(run, work / "input.video", work, "video")
        else:
            if work is None:
                work = await asyncio.to_thread(ingest.new_work_dir, settings)
                await run.update(work_dir=str(work.relative_to(settings.home)))
            await _video(run, await _download(run, work), work, "url")
    except IngestError as exc:
        await run.update(IngestionFailed, event={"error": exc.message}, status="failed", error=exc.message,
                         error_code=exc.code, step="failed", finished_at=_now(), **run.counts.fields())
    except Exception as exc:  # a bug or an unreadable input: the row says so instead of staying 'running'
        log.exception("ingestion %s failed", ingestion_id)
        await run.update(IngestionFailed, event={"error": str(exc)}, status="failed", error=str(exc)[:2000],
                         error_code="internal", step="failed", finished_at=_now(), **run.counts.fields())
    else:
        c = run.counts
        await run.update(IngestionCompleted, event={"images_added": c.images_added,
                                                    "duplicates_dropped": c.duplicates_dropped,
                                                    "too_small_dropped": c.too_small_dropped},
                         status="succeeded", progress=1.0, step="done", finished_at=_now(), **c.fields())
    if work is not None:
        await asyncio.to_thread(shutil.rmtree, work, True)
        await run.update(work_dir=None)


# -- zip --------------------------------------------------------------------------------------

def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, counted while reading: more than `limit` is a bomb whatever the header said."""
    chunks, size = [], 0
    with archive.open(member) as fh:
        while chunk := fh.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                raise IngestError(f"A member of the zip expands past {limit // ingest.MB} MB", "zip_bomb")
            chunks.append(chunk)
    return b"".join(chunks)


async def _zip(run: Run, path: Path) -> None:
    limit = run.settings.max_upload_bytes
    try:
        members = await asyncio.to_thread(ingest.check_zip, path)
        await asyncio.to_thread(ingest.check_zip_sizes, path, limit)
    except DomainError as exc:
        raise IngestError(exc.detail, exc.code) from None
    total = 0
    with zipfile.ZipFile(path) as archive:
        for index, member in enumerate(members):
            try:
                data = await asyncio.to_thread(_read_member, archive, member, limit)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError):  # corrupt, encrypted, odd
                run.counts.files_skipped += 1
                continue
            total += len(data)
            if total > ingest.ZIP_MAX_TOTAL_BYTES:
                raise IngestError("The zip expands past its total limit", "zip_bomb")
            await run.add(data, "upload")  # member names never become paths or names
            await run.progress((index + 1) / max(len(members), 1), f"images {index + 1}/{len(members)}")


# -- video ------------------------------------------------------------------------------------

def _yt_dlp_download(url: str, dest: Path, cap: int, max_s: float, state: dict) -> Path:
    import yt_dlp

    def hook(status: dict) -> None:
        done = status.get("downloaded_bytes") or 0
        if done > cap:
            state["too_big"] = True
            raise yt_dlp.utils.DownloadCancelled("over the size limit")
        whole = status.get("total_bytes") or status.get("total_bytes_estimate")
        if whole:
            state["fraction"] = min(done / whole, 1.0)

    options = {
        "outtmpl": str(dest / "download.%(ext)s"), "paths": {"home": str(dest), "temp": str(dest)},
        "format": "b/bv*",  # one file with sound when there is one (no merging step)
        "noplaylist": True, "playlist_items": "1", "quiet": True, "no_warnings": True, "noprogress": True,
        "max_filesize": cap, "progress_hooks": [hook], "cachedir": False, "overwrites": True,
        "enable_file_urls": url.startswith("file:"),  # only for a path video_url() allowed
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=False)
            if info.get("_type") in ("playlist", "multi_video"):
                raise IngestError("The URL is a playlist; give the URL of one video", "playlist")
            if info.get("duration") and info["duration"] > max_s:
                raise IngestError(f"The video lasts {info['duration']:.0f} s; the limit is {max_s:g} s "
                                  "(ANIME_STUDIO_MAX_VIDEO_S)", "video_too_long")
            size = info.get("filesize") or info.get("filesize_approx")
            if size and size > cap:
                state["too_big"] = True
                raise IngestError("too big", "video_too_large")
            info = ydl.process_ie_result(info, download=True)
    except yt_dlp.utils.YoutubeDLError as exc:
        if state.get("too_big"):
            raise IngestError("too big", "video_too_large") from None
        raise IngestError(f"Could not download the video: {_ANSI.sub('', str(exc))[:500]}", "download_failed") from None
    files = [Path(d["filepath"]) for d in info.get("requested_downloads") or () if d.get("filepath")]
    if not files or not files[0].is_file():
        state["too_big"] = True  # max_filesize skips without an error
        raise IngestError("too big", "video_too_large")
    return files[0]


async def _download(run: Run, work: Path) -> Path:
    try:
        url = ingest.video_url(run.settings, run.row["source"])  # checked again: settings may have changed
    except DomainError as exc:
        raise IngestError(exc.detail, exc.code) from None
    dest = work / "download"
    dest.mkdir(exist_ok=True)
    cap, state = run.settings.max_video_mb * ingest.MB, {"fraction": 0.0}
    task = asyncio.ensure_future(asyncio.to_thread(_yt_dlp_download, url, dest, cap, run.settings.max_video_s, state))
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        await run.progress(0.3 * state["fraction"], "downloading")
    try:
        return task.result()
    except IngestError as exc:
        if exc.code == "video_too_large":
            raise IngestError(f"The video is larger than {run.settings.max_video_mb} MB (ANIME_STUDIO_MAX_VIDEO_MB)",
                              "video_too_large") from None
        raise


async def _video(run: Run, path: Path, work: Path, source: str) -> None:
    settings = run.settings
    if path.stat().st_size > settings.max_video_mb * ingest.MB:
        raise IngestError(f"The video is larger than {settings.max_video_mb} MB (ANIME_STUDIO_MAX_VIDEO_MB)",
                          "video_too_large")
    try:
        info = await probe_video(path, settings.ffmpeg_binary)
    except ValueError:
        raise IngestError("The file is not a video ffmpeg can read", "not_a_video") from None
    if info.duration_s is None:
        raise IngestError("ffmpeg cannot tell how long the video is, so its length limit cannot be checked",
                          "unknown_duration")
    if info.duration_s > settings.max_video_s:
        raise IngestError(f"The video lasts {info.duration_s:.1f} s; the limit is {settings.max_video_s:g} s "
                          "(ANIME_STUDIO_MAX_VIDEO_S)", "video_too_long")
    duration = max(info.duration_s, 0.001)

    async def extracting(seconds: float) -> None:
        await run.progress(0.3 + 0.4 * min(seconds / duration, 1.0), "extracting frames")

    await run.progress(0.3, "extracting frames", force=True)
    try:
        frames = await scene_frames(path, work / "frames", every_s=FRAME_EVERY_S, max_frames=MAX_FRAMES,
                                    ffmpeg=settings.ffmpeg_binary, on_progress=extracting)
    except ValueError as exc:
        raise IngestError(str(exc), "bad_video") from None
    run.counts.frames_found = len(frames)
    for index, frame in enumerate(frames):
        await run.add(await asyncio.to_thread(frame.read_bytes), source)
        await run.progress(0.7 + 0.25 * (index + 1) / len(frames), f"frames {index + 1}/{len(frames)}")
    if info.has_audio:
        await run.progress(0.95, "voice sample", force=True)
        character = run.character
        voice = (character_dir(settings, character["project_slug"], character["slug"]) / "voice"
                 / f"ingestion-{run.row['id']}.wav")
        try:
            await extract_voice(path, voice, settings.ffmpeg_binary)
        except ValueError as exc:
            raise IngestError(str(exc), "bad_audio") from None
        await run.update(voice_sample=str(voice.relative_to(settings.home)))
