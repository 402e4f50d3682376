"""Where files live under ANIME_STUDIO_HOME, and the only way request data becomes a path."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from packages.core.errors import Invalid
from packages.core.settings import Settings

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def validate_slug(slug: str, field: str = "slug") -> str:
    if not SLUG_RE.match(slug):
        raise Invalid(
            "A slug is 1-63 characters of lowercase letters, digits and '-', starting with a letter or digit",
            code="invalid_slug",
            field=field,
        )
    return slug


def inside_home(settings: Settings, path: Path) -> Path:
    """Resolve `path` and refuse anything that escapes ANIME_STUDIO_HOME."""
    resolved = path.resolve()
    root = settings.home
    if resolved != root and root not in resolved.parents:
        raise Invalid("Path escapes the studio home", code="unsafe_path")
    return resolved


def character_dir(settings: Settings, project_slug: str, character_slug: str) -> Path:
    validate_slug(project_slug)
    validate_slug(character_slug)
    return inside_home(settings, settings.datasets_dir / project_slug / character_slug)


def reference_images_dir(settings: Settings, project_slug: str, character_slug: str) -> Path:
    return character_dir(settings, project_slug, character_slug) / "reference_images"


def generated_name(suffix: str) -> str:
    """A fresh file name we choose ourselves; user-supplied names never reach the disk."""
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        raise Invalid("Unsupported file extension", code="unsafe_path")
    return f"{secrets.token_hex(8)}{suffix}"
