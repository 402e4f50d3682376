"""The character's dataset folder as other trainers read it (kohya layout): a caption `<name>.txt`
beside each approved image, and `approval_status.json`, a view of the table rewritten after each
decision and never read back. Files are written only under the character's dataset folder."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from packages.core.paths import character_dir, inside_home
from packages.core.settings import Settings

log = logging.getLogger(__name__)
STATUS_FILE = "approval_status.json"


def dataset_folder(settings: Settings, project_slug: str, character_slug: str) -> Path:
    return character_dir(settings, project_slug, character_slug)


def caption_path(settings: Settings, folder: Path, image_path: str) -> Path | None:
    """Where the caption of the image at `image_path` (relative to the home) goes: beside it, when
    the image is inside the dataset folder; None otherwise (nothing is written outside it)."""
    path = inside_home(settings, settings.home / image_path).with_suffix(".txt")
    if folder not in path.parents:
        log.warning("image %s is outside its dataset folder %s; no caption file written", image_path, folder)
        return None
    return path


def caption_text(given: str | None, image_caption: str | None, design_prompt: str | None) -> str:
    """The given caption, else the image's caption, else the character's design prompt."""
    for text in (given, image_caption, design_prompt):
        if text and text.strip():
            return text.strip()
    return ""


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_caption(path: Path, text: str) -> None:
    _atomic_write(path, text + "\n")


def remove_caption(path: Path) -> None:
    path.unlink(missing_ok=True)


def write_status(settings: Settings, folder: Path, document: str) -> None:
    """Rewrites approval_status.json with the document queries.dataset_status built from the table."""
    _atomic_write(inside_home(settings, folder / STATUS_FILE), document + "\n")
