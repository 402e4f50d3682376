"""Automatic IP-Adapter reference images for replenishment.

Before each batch the character's automatic reference images (reference_images.automatic) are
made copies of its best approved images (packages/approval/replenish_queries.best_approved: solo
when known, highest quality first). Together with the user's uploads they are at most
visual_pipeline.recipe.MAX_REFERENCE_IMAGES (what a generation uses), so uploads always come first
and are never touched. Automatic ones no longer chosen are removed; chosen ones already there are
kept (no churn). Rows and files go together: copies are moved into place inside the transaction
and removed again if it fails; removed rows' files are deleted after the commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import asyncpg

from packages.approval import replenish_queries as queries
from packages.characters import queries as character_queries
from packages.characters.events import ReferenceImageAdded, ReferenceImageDeleted
from packages.core.db import transaction
from packages.core.paths import generated_name, inside_home, reference_images_dir
from packages.core.settings import Settings
from packages.visual_pipeline.recipe import MAX_REFERENCE_IMAGES

log = logging.getLogger(__name__)
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _copy(source: Path, folder: Path) -> tuple[Path, int]:
    """Copies `source` into `folder` under a generated name (temporary name first, then moved)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / generated_name(source.suffix.lower())
    temp = folder / f".auto-{final.name}.part"
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final, final.stat().st_size


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def refresh_references(conn: asyncpg.Connection, settings: Settings, character_id: int) -> int:
    """Makes the character's automatic reference images its best approved ones; returns how many
    automatic ones it has now."""
    character = await character_queries.get_character(conn, character_id)
    if character is None:
        return 0
    folder = reference_images_dir(settings, character["project_slug"], character["slug"])
    best = await queries.best_approved(conn, character_id, MAX_REFERENCE_IMAGES * 2)
    placed: list[Path] = []
    removed: list[Path] = []
    try:
        async with transaction(conn) as tx:
            refs = await queries.lock_references(conn, character_id)
            uploads = {r["sha256"] for r in refs if not r["automatic"]}
            automatic = {r["sha256"]: r for r in refs if r["automatic"]}
            room = max(0, MAX_REFERENCE_IMAGES - len(uploads))
            chosen = []
            for image in best:
                source = inside_home(settings, settings.home / image["path"])
                if (image["sha256"] not in uploads and Path(source).suffix.lower() in CONTENT_TYPES
                        and source.is_file()):
                    chosen.append((image, source))
            chosen = chosen[:room]
            keep = {image["sha256"] for image, _ in chosen}
            stale = [r for r in refs if r["automatic"] and r["sha256"] not in keep]
            if stale:
                await queries.delete_references(conn, [r["id"] for r in stale])
            for row in stale:
                removed.append(folder / row["filename"])
                await tx.emit(ReferenceImageDeleted(project_id=character["project_id"], character_id=character_id,
                                                    reference_image_id=row["id"]))
            for image, source in chosen:
                if image["sha256"] in automatic:
                    continue
                final, size = await asyncio.to_thread(_copy, source, folder)
                placed.append(final)
                ref_id = await queries.insert_automatic_reference(
                    conn, character_id=character_id, filename=final.name, original_name=f"image-{image['id']}",
                    content_type=CONTENT_TYPES[source.suffix.lower()], sha256=image["sha256"], width=image["width"],
                    height=image["height"], size=size)
                if ref_id is None:  # the same bytes arrived meanwhile
                    _remove([final])
                    continue
                await tx.emit(ReferenceImageAdded(project_id=character["project_id"], character_id=character_id,
                                                  reference_image_id=ref_id))
    except BaseException:
        _remove(placed)  # the rows were rolled back: their files go too
        raise
    _remove(removed)
    return len(keep)
