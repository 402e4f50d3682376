"""Ingestion: bringing images into a character's dataset from uploads, a zip, a video file or a
video URL: the request-side rules and the image pipeline every kind shares (shapes and events in
ingest_schemas.py, SQL in ingest_queries.py, the jobs in ingest_jobs.py).

Every image passes the same pipeline: sniffed, size-capped and decompression-bomb checked
(packages/characters/images.py); dropped when its shorter side is under MIN_SIDE pixels; dropped
when its bytes or its perceptual hash (Hamming distance <= NEAR_DUPLICATE_DISTANCE) match one of
the character's images; otherwise stored as a pending image of the dataset with a thumbnail.

Stored names are derived from the image's SHA-256 (never from a client's file or member name),
so a rerun after a crash writes the same paths, and rows are unique by (character, sha256) with
ON CONFLICT DO NOTHING: a job that runs twice adds each image once. Images remember their
ingestion, which is how a rerun tells "added by me before the crash" from "a duplicate".

Plain uploads run in the request (all-or-nothing: every file is checked before anything is
written). Zips and videos are durable jobs (packages/approval/ingest_jobs.py): the request stages
the input under ANIME_STUDIO_HOME/var/ingest/<token>/, checks what it can cheaply, and answers
202 with the ingestion; the job reports progress on the row and in `ingestion.*` events.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import shutil
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
from fastapi import UploadFile
from PIL import Image

from packages.approval.ingest_schemas import IngestionCompleted, VideoUrlIngest
from packages.approval.ingest_queries import get_ingestion, insert_image, insert_ingestion, known_images, update_ingestion
from packages.characters.images import ImageInfo, inspect_image, safe_original_name
from packages.characters.schemas import CharacterRow
from packages.core.db import transaction
from packages.core.errors import Conflict, Invalid, TooLarge, UnsupportedMedia
from packages.core.jobs import defer_once
from packages.core.media import image_thumbnail, probe_video
from packages.core.paths import character_dir, inside_home
from packages.core.settings import Settings

MIN_SIDE = 256  # shorter side, pixels
NEAR_DUPLICATE_DISTANCE = 6  # Hamming distance of 64-bit perceptual hashes
MAX_FILES_PER_UPLOAD = 100
ZIP_MAX_MEMBERS = 5000
ZIP_MAX_TOTAL_BYTES = 4 * 1024**3  # uncompressed, all members together
RUN_TASK = "ingestion:run"
TERMINAL = ("succeeded", "failed")
MB = 1024 * 1024


# -- the image pipeline -----------------------------------------------------------------------

@dataclass
class Candidate:
    data: bytes
    info: ImageInfo
    phash: int


def examine(data: bytes, settings: Settings, name: str = "") -> Candidate:
    """Sniffs, bomb-checks and decodes the bytes (images.inspect_image), then hashes them.
    Blocking: run it in a thread. Raises the domain errors of inspect_image."""
    info = inspect_image(data, max_pixels=settings.max_image_pixels, name=name)
    with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as img:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        import imagehash  # numpy and scipy: loaded when an ingestion first needs them, not at start-up

        digest = imagehash.phash(img)  # 8x8 DCT hash: 64 bits
    return Candidate(data=data, info=info, phash=int(str(digest), 16))


@dataclass
class Counts:
    frames_found: int = 0
    images_added: int = 0
    duplicates_dropped: int = 0
    too_small_dropped: int = 0
    files_skipped: int = 0

    def fields(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Deduper:
    """What the character has (bytes and perceptual hashes), and the verdict on a candidate."""

    ingestion_id: int
    by_sha: dict[str, int | None] = field(default_factory=dict)  # sha256 -> ingestion that added it
    hashes: list[int] = field(default_factory=list)

    @classmethod
    async def load(cls, conn, character_id: int, ingestion_id: int) -> Deduper:
        rows = await known_images(conn, character_id)
        return cls(ingestion_id, {r["sha256"]: r["ingestion_id"] for r in rows},
                   [int(r["phash"], 16) for r in rows if r["phash"]])

    def judge(self, cand: Candidate) -> str:
        """'too_small', 'duplicate', 'again' (this ingestion stored it before a crash) or 'new'."""
        if min(cand.info.width, cand.info.height) < MIN_SIDE:
            return "too_small"
        if cand.info.sha256 in self.by_sha:
            return "again" if self.by_sha[cand.info.sha256] == self.ingestion_id else "duplicate"
        if any((cand.phash ^ known).bit_count() <= NEAR_DUPLICATE_DISTANCE for known in self.hashes):
            return "duplicate"
        return "new"

    def keep(self, cand: Candidate) -> None:
        """Counts `cand` as the character's from now on (stored now, or before a crash by this ingestion)."""
        if cand.info.sha256 not in self.by_sha:
            self.hashes.append(cand.phash)
        self.by_sha[cand.info.sha256] = -1  # seen in this run: the same bytes again are a duplicate

    def count(self, verdict: str, counts: Counts) -> None:
        if verdict in ("new", "again"):
            counts.images_added += 1
        elif verdict == "duplicate":
            counts.duplicates_dropped += 1
        else:
            counts.too_small_dropped += 1


def _relative(settings: Settings, path: Path) -> str:
    return str(inside_home(settings, path).relative_to(settings.home))


def _write_image(final: Path, data: bytes, thumb: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.part")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(final)
    image_thumbnail(final, thumb)


async def store_image(conn, settings: Settings, character, ingestion_id: int, cand: Candidate,
                      source: str) -> Path | None:
    """Inserts the pending image row and writes its file and thumbnail; call it inside a
    transaction. Returns the file written (to remove if the transaction fails), or None when
    another writer stored the same bytes first."""
    sha = cand.info.sha256
    final = character_dir(settings, character["project_slug"], character["slug"]) / "images" / f"{sha[:32]}{cand.info.suffix}"
    thumb = settings.output_dir / "thumbnails" / sha[:2] / f"{sha}.webp"
    image_id = await insert_image(conn, {
        "character_id": character["id"], "path": _relative(settings, final), "thumbnail": _relative(settings, thumb),
        "sha256": sha, "phash": f"{cand.phash:016x}", "width": cand.info.width, "height": cand.info.height,
        "source": source, "ingestion_id": ingestion_id})
    if image_id is None:
        return None
    await asyncio.to_thread(_write_image, final, cand.data, thumb)
    return final


# -- requests ---------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _not_archived(character: CharacterRow) -> None:
    if character.archived:
        raise Conflict("The character is archived; restore it to add images", code="character_archived")


def _character(character: CharacterRow) -> dict:
    return {"id": character.id, "project_slug": character.project_slug, "slug": character.slug}


def _read_capped(upload: UploadFile, limit: int, name: str) -> bytes:
    upload.file.seek(0)
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{name or 'A file'} is larger than {limit // MB} MB", code="too_large", field="files")
    return data


async def ingest_uploads(conn: asyncpg.Connection, settings: Settings, character: CharacterRow,
                         uploads: list[UploadFile]):
    """Images uploaded in one request: all checked first (a single bad file refuses the request
    and writes nothing), then stored in one transaction with the ingestion record."""
    _not_archived(character)
    if not uploads or len(uploads) > MAX_FILES_PER_UPLOAD:
        raise Invalid(f"Send 1 to {MAX_FILES_PER_UPLOAD} files", code="too_many_files", field="files")
    names = [safe_original_name(u.filename) for u in uploads]
    candidates = []
    for upload, name in zip(uploads, names):
        data = await asyncio.to_thread(_read_capped, upload, settings.max_upload_bytes, name)
        candidates.append(await asyncio.to_thread(examine, data, settings, name))
    source = ", ".join(n for n in names if n)[:500]
    placed: list[Path] = []
    try:
        async with transaction(conn) as tx:
            ingestion_id = await insert_ingestion(conn, character_id=character.id, kind="upload", source=source,
                                                  status="running")
            deduper, counts = await Deduper.load(conn, character.id, ingestion_id), Counts()
            for cand in candidates:
                verdict = deduper.judge(cand)
                if verdict == "new" and (written := await store_image(conn, settings, _character(character),
                                                                      ingestion_id, cand, "upload")):
                    placed.append(written)
                    deduper.keep(cand)
                elif verdict == "new":
                    verdict = "duplicate"  # stored by another request a moment ago
                deduper.count(verdict, counts)
            await update_ingestion(conn, ingestion_id, {**counts.fields(), "status": "succeeded", "progress": 1.0,
                                                        "step": "done", "started_at": _now(), "finished_at": _now()})
            await tx.emit(IngestionCompleted(project_id=character.project_id, ingestion_id=ingestion_id,
                                             character_id=character.id, status="succeeded", progress=1.0, step="done",
                                             images_added=counts.images_added,
                                             duplicates_dropped=counts.duplicates_dropped,
                                             too_small_dropped=counts.too_small_dropped))
    except BaseException:
        for path in placed:  # the rows were rolled back: their files go too
            path.unlink(missing_ok=True)
        raise
    return await get_ingestion(conn, ingestion_id)


def new_work_dir(settings: Settings) -> Path:
    """A fresh staging folder under the home for one ingestion's input and scratch files."""
    work = inside_home(settings, settings.var_dir / "ingest" / secrets.token_hex(8))
    work.mkdir(parents=True)
    return work


def _stage(upload: UploadFile, dest: Path, limit: int, what: str) -> None:
    upload.file.seek(0)
    written = 0
    with open(dest, "xb") as out:
        while chunk := upload.file.read(MB):
            written += len(chunk)
            if written > limit:
                raise TooLarge(f"The {what} is larger than {limit // MB} MB", code="too_large", field="file")
            out.write(chunk)


def check_zip(path: Path) -> list[zipfile.ZipInfo]:
    """Refuses a zip from its central directory alone: too many members, or members that claim
    more than a file's cap or more than ZIP_MAX_TOTAL_BYTES together (the job counts again while
    reading, because headers can lie). Blocking."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UnsupportedMedia("The file is not a zip archive", code="not_a_zip", field="file") from None
    if len(members) > ZIP_MAX_MEMBERS:
        raise Invalid(f"The zip has {len(members)} files; the limit is {ZIP_MAX_MEMBERS}", code="zip_too_many_files",
                      field="file")
    return members


def check_zip_sizes(path: Path, member_limit: int) -> None:
    members = check_zip(path)
    biggest = max((m.file_size for m in members), default=0)
    if biggest > member_limit:
        raise Invalid(f"A member of the zip expands to {biggest // MB} MB; the limit is {member_limit // MB} MB",
                      code="zip_bomb", field="file")
    total = sum(m.file_size for m in members)
    if total > ZIP_MAX_TOTAL_BYTES:
        raise Invalid(f"The zip expands to {total // MB} MB; the limit is {ZIP_MAX_TOTAL_BYTES // MB} MB",
                      code="zip_bomb", field="file")


async def _start(conn, character: CharacterRow, *, kind: str, source: str, work: Path | None,
                 settings: Settings) -> int:
    async with transaction(conn):
        ingestion_id = await insert_ingestion(conn, character_id=character.id, kind=kind, source=source,
                                              work_dir=_relative(settings, work) if work else None)
    await enqueue_ingestion(ingestion_id)  # after the commit; a lost job is re-queued by the sweep
    return ingestion_id


async def start_zip(conn: asyncpg.Connection, settings: Settings, character: CharacterRow, upload: UploadFile):
    _not_archived(character)
    work = await asyncio.to_thread(new_work_dir, settings)
    try:
        await asyncio.to_thread(_stage, upload, work / "input.zip", settings.max_request_mb * MB, "zip")
        await asyncio.to_thread(check_zip_sizes, work / "input.zip", settings.max_upload_bytes)
        ingestion_id = await _start(conn, character, kind="zip", source=safe_original_name(upload.filename),
                                    work=work, settings=settings)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return await get_ingestion(conn, ingestion_id)


async def start_video_upload(conn: asyncpg.Connection, settings: Settings, character: CharacterRow,
                             upload: UploadFile):
    _not_archived(character)
    work = await asyncio.to_thread(new_work_dir, settings)
    try:
        staged = work / "input.video"
        await asyncio.to_thread(_stage, upload, staged, settings.max_video_mb * MB, "video")
        try:
            await probe_video(staged, settings.ffmpeg_binary)
        except ValueError:
            raise UnsupportedMedia("The file is not a video ffmpeg can read", code="not_a_video", field="file") from None
        ingestion_id = await _start(conn, character, kind="video", source=safe_original_name(upload.filename),
                                    work=work, settings=settings)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return await get_ingestion(conn, ingestion_id)


def _allowed_roots(settings: Settings) -> list[Path]:
    roots = [settings.home]
    if settings.ingest_dir:
        roots.append(settings.ingest_dir.expanduser().resolve())
    return roots


def video_url(settings: Settings, url: str) -> str:
    """The URL yt-dlp is given: an http(s) URL as it is, or for file:// the resolved path as a
    file URI, only when it lies inside the studio home (not its var/ folder) or ANIME_STUDIO_INGEST_DIR.
    Checked on the request and again by the job."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise Invalid("That is not a URL", code="bad_url", field="url") from None
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise Invalid("The URL has no host", code="bad_url", field="url")
        return url.strip()
    if parts.scheme != "file":
        raise Invalid("Give an http(s) or file:// URL", code="bad_url", field="url")
    if parts.netloc not in ("", "localhost"):
        raise Invalid("A file:// URL names a file on this machine", code="bad_url", field="url")
    raw = unquote(parts.path)
    if "\x00" in raw or not raw.startswith("/"):
        raise Invalid("A file:// URL needs an absolute path", code="bad_url", field="url")
    path = Path(raw).resolve()
    inside = any(path == root or root in path.parents for root in _allowed_roots(settings))
    if not inside or settings.var_dir == path or settings.var_dir in path.parents:
        raise Invalid("Local files can be ingested only from the studio home or ANIME_STUDIO_INGEST_DIR",
                      code="path_not_allowed", field="url")
    if not path.is_file():
        raise Invalid("There is no file at that path", code="file_not_found", field="url")
    return path.as_uri()


async def start_video_url(conn: asyncpg.Connection, settings: Settings, character: CharacterRow,
                          body: VideoUrlIngest):
    _not_archived(character)
    video_url(settings, body.url)  # refuses before anything is written
    ingestion_id = await _start(conn, character, kind="url", source=body.url.strip(), work=None, settings=settings)
    return await get_ingestion(conn, ingestion_id)


async def enqueue_ingestion(ingestion_id: int) -> None:
    """Defers the ingestion's job unless one is already waiting."""
    await defer_once(RUN_TASK, f"ingestion-{ingestion_id}", ingestion_id=ingestion_id)
