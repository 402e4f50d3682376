"""Rules for a character's reference images: upload, list, delete, and locating the file to serve.

Files live in `datasets/<project-slug>/<character-slug>/reference_images/` under a name we
generate; the client's file name is kept only as `original_name` for display. A row and its file
go together: the file is written to a temporary name in the same folder and moved into place
(`os.replace`) inside the transaction that inserts the row; if anything fails before the commit
the moved files are removed again. An upload is all or nothing: every file is checked before
anything is written.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import UploadFile

from packages.characters import queries
from packages.characters.events import ReferenceImageAdded, ReferenceImageDeleted
from packages.characters.images import ImageInfo, inspect_image, safe_original_name
from packages.characters.schemas import CharacterRow
from packages.core.db import transaction
from packages.core.errors import Invalid, NotFound, TooLarge
from packages.core.paths import generated_name, inside_home, reference_images_dir
from packages.core.settings import Settings

MAX_FILES_PER_UPLOAD = 50


@dataclass
class _Checked:
    upload: UploadFile
    info: ImageInfo
    original_name: str


def _read_capped(upload: UploadFile, limit: int) -> bytes:
    upload.file.seek(0)
    return upload.file.read(limit + 1)  # one byte more than allowed tells us it is too large


def _check(upload: UploadFile, settings: Settings) -> _Checked:
    """Blocking: size cap, then sniffing and decoding (images.inspect_image)."""
    name = safe_original_name(upload.filename)
    data = _read_capped(upload, settings.max_upload_bytes)
    if len(data) > settings.max_upload_bytes:
        raise TooLarge(f"{name or 'A file'} is larger than {settings.max_upload_mb} MB", code="too_large",
                       field="files")
    info = inspect_image(data, max_pixels=settings.max_image_pixels, name=name)
    return _Checked(upload=upload, info=info, original_name=name)


def _stage(upload: UploadFile, folder: Path) -> Path:
    """Copy the upload to a temporary file in the destination folder (same file system, so the
    later os.replace is atomic)."""
    temp = folder / f".upload-{generated_name('.part')}"
    upload.file.seek(0)
    try:
        with open(temp, "xb") as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def upload_reference_images(conn: asyncpg.Connection, settings: Settings, character: CharacterRow,
                                  uploads: list[UploadFile]) -> list[asyncpg.Record]:
    """Adds the uploaded images to the character; returns their rows in upload order, each once.
    Bytes the character already has reuse the existing row (no second row or file)."""
    if len(uploads) > MAX_FILES_PER_UPLOAD:
        raise Invalid(f"At most {MAX_FILES_PER_UPLOAD} files per upload", code="too_many_files", field="files")
    checked = [await asyncio.to_thread(_check, upload, settings) for upload in uploads]

    folder = reference_images_dir(settings, character.project_slug, character.slug)
    results: dict[int, asyncpg.Record] = {}  # by id, in upload order
    staged: list[Path] = []
    placed: list[Path] = []
    try:
        async with transaction(conn) as tx:
            by_sha: dict[str, asyncpg.Record] = {}
            for item in checked:
                info = item.info
                row = by_sha.get(info.sha256) or await queries.reference_image_by_sha(conn, character.id, info.sha256)
                if row is None:
                    filename = generated_name(info.suffix)
                    row = await queries.insert_reference_image(
                        conn, character_id=character.id, filename=filename, original_name=item.original_name,
                        content_type=info.content_type, sha256=info.sha256, width=info.width, height=info.height,
                        size=info.bytes)
                    if row is None:  # another request stored the same bytes a moment ago
                        row = await queries.reference_image_by_sha(conn, character.id, info.sha256)
                    else:
                        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
                        temp = await asyncio.to_thread(_stage, item.upload, folder)
                        staged.append(temp)
                        final = folder / filename
                        os.replace(temp, final)
                        placed.append(final)
                        await tx.emit(ReferenceImageAdded(project_id=character.project_id, character_id=character.id,
                                                          reference_image_id=row["id"]))
                by_sha[info.sha256] = row
                results.setdefault(row["id"], row)
    except BaseException:
        _remove(placed)  # the rows were rolled back: their files go too
        raise
    finally:
        _remove(staged)  # temporaries left by a failure part-way (moved ones are already gone)
    return list(results.values())


async def list_reference_images(conn: asyncpg.Connection, character: CharacterRow, *, limit: int,
                                offset: int) -> tuple[list[asyncpg.Record], int]:
    return await queries.list_reference_images(conn, character.id, limit=limit, offset=offset)


async def delete_reference_image(conn: asyncpg.Connection, settings: Settings, character: CharacterRow,
                                 image_id: int) -> None:
    """Removes the row (and emits), then the file once the row is gone for good."""
    async with transaction(conn) as tx:
        row = await queries.delete_reference_image(conn, character.id, image_id)
        if row is None:
            raise NotFound(f"Character {character.id} has no reference image {image_id}",
                           code="reference_image_not_found")
        await tx.emit(ReferenceImageDeleted(project_id=character.project_id, character_id=character.id,
                                            reference_image_id=image_id))
    folder = reference_images_dir(settings, character.project_slug, character.slug)
    inside_home(settings, folder / row["filename"]).unlink(missing_ok=True)


async def reference_image_file(conn: asyncpg.Connection, settings: Settings, image_id: int) -> tuple[Path, str]:
    """The file of a reference image and its content type; 404 when the row or the file is missing."""
    row = await queries.reference_image_with_slugs(conn, image_id)
    if row is None:
        raise NotFound(f"No reference image with id {image_id}", code="reference_image_not_found")
    path = inside_home(settings, reference_images_dir(settings, row["project_slug"], row["character_slug"])
                       / row["filename"])
    if not path.is_file():
        raise NotFound(f"The file of reference image {image_id} is missing (run `anime-studio doctor`)",
                       code="file_missing")
    return path, row["content_type"]
