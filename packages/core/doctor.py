"""`anime-studio doctor`: rows whose file is gone, and files under the home that no row names.

PostgreSQL is the source of truth and files are derived from rows (DESIGN.md section 1), so both
directions are defects:

- missing: a row names a file that does not exist: images (and their thumbnails), reference
  images, outputs (images, shot videos, last frames, thumbnails), scenes (video, dialogue, music),
  training runs' and loras' exported files, episodes (video, thumbnail, every file placed in the
  library).
- orphan: a file under `datasets/<project>/<character>/images|reference_images/` or `output/` that
  no row names.

Not checked, because they are caches or working folders that rows do not name file by file:
`output/audio/` (speech and music, cached by their content), `output/previews/` (live previews),
`output/training/<run id>/` while its run exists (checkpoints, samples, logs), and a scene's
scoring frames `shot<id>_a<n>_last.png` while their shot exists (the attempts not kept). Caption
`.txt` files and `approval_status.json` in a dataset are written from the rows and not listed."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg

from packages.core.settings import Settings

CACHE_DIRS = ("audio", "previews")
DATASET_MEDIA = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
ATTEMPT_FRAME = re.compile(r"^shot(\d+)_a\d+_last\.png$")

# (category, row label, SQL giving id and path columns). Paths are relative to the home unless absolute.
ROW_FILES = [
    ("images", "SELECT id, path, thumbnail FROM images"),
    ("outputs", "SELECT id, path, thumbnail FROM outputs"),
    ("scenes", "SELECT id, output_path, dialogue_path, music_path FROM scenes"),
    ("training_runs", "SELECT id, output_path FROM training_runs WHERE status = 'succeeded'"),
    ("loras", "SELECT id, path FROM loras"),
    ("episodes", "SELECT id, output_path, thumbnail_path FROM episodes"),
]
REFERENCE_IMAGES = """
SELECT r.id, p.slug AS project_slug, c.slug AS character_slug, r.filename
FROM reference_images r JOIN characters c ON c.id = r.character_id JOIN projects p ON p.id = c.project_id
"""
PUBLISHED = "SELECT id, published_files FROM episodes WHERE jsonb_array_length(published_files) > 0"


@dataclass(frozen=True)
class Problem:
    kind: str  # "missing" (a row without its file) | "orphan" (a file without a row)
    category: str  # the table, or the folder for an orphan
    path: str  # relative to the home when inside it
    row_id: int | None = None
    column: str | None = None


@dataclass
class Report:
    home: str
    rows_checked: int = 0
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"home": self.home, "ok": self.ok, "rows_checked": self.rows_checked,
                "files_checked": self.files_checked, "missing": sum(p.kind == "missing" for p in self.problems),
                "orphans": sum(p.kind == "orphan" for p in self.problems),
                "problems": [asdict(p) for p in self.problems]}


def _absolute(settings: Settings, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else settings.home / path


def _shown(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.home))
    except ValueError:
        return str(path)


async def _referenced(conn: asyncpg.Connection, settings: Settings, report: Report) -> set[Path]:
    """Every file a row names; rows whose file is missing go into the report."""
    named: set[Path] = set()

    def check(category: str, row_id: int, column: str, stored: str | None) -> None:
        if not stored:
            return
        path = _absolute(settings, stored)
        named.add(path.resolve())
        if not path.is_file():
            report.problems.append(Problem("missing", category, _shown(settings, path), row_id, column))

    for category, sql in ROW_FILES:
        for row in await conn.fetch(sql):
            report.rows_checked += 1
            for column, value in list(row.items())[1:]:
                check(category, row["id"], column, value)
    for row in await conn.fetch(REFERENCE_IMAGES):
        report.rows_checked += 1
        check("reference_images", row["id"], "filename", str(Path("datasets") / row["project_slug"]
                                                                / row["character_slug"] / "reference_images"
                                                                / row["filename"]))
    for row in await conn.fetch(PUBLISHED):
        files = row["published_files"]
        for stored in json.loads(files) if isinstance(files, str) else files:
            check("episodes", row["id"], "published_files", stored)
    return named


def _dataset_files(settings: Settings) -> list[Path]:
    root = settings.datasets_dir
    if not root.is_dir():
        return []
    found = []
    for folder in ("images", "reference_images"):
        found += [p for p in root.glob(f"*/*/{folder}/*") if p.is_file() and (
            folder == "reference_images" or p.suffix.lower() in DATASET_MEDIA)]
    return found


async def _scratch_owners(conn: asyncpg.Connection) -> tuple[set[int], set[int]]:
    shots = {r["id"] for r in await conn.fetch("SELECT id FROM shots")}
    runs = {r["id"] for r in await conn.fetch("SELECT id FROM training_runs")}
    return shots, runs


def _is_scratch(settings: Settings, path: Path, shots: set[int], runs: set[int]) -> bool:
    parts = path.relative_to(settings.output_dir).parts
    if parts[0] in CACHE_DIRS:
        return True
    if parts[0] == "training" and len(parts) > 1 and parts[1].isdigit():
        return int(parts[1]) in runs
    frame = ATTEMPT_FRAME.match(path.name)
    return bool(frame and len(parts) >= 3 and parts[1] == "scenes" and int(frame.group(1)) in shots)


async def examine(conn: asyncpg.Connection, settings: Settings) -> Report:
    """The report for the home of `settings` against the database of `conn` (reads only)."""
    report = Report(home=str(settings.home))
    named = await _referenced(conn, settings, report)
    shots, runs = await _scratch_owners(conn)
    files = _dataset_files(settings)
    if settings.output_dir.is_dir():
        files += [p for p in settings.output_dir.rglob("*")
                  if p.is_file() and not _is_scratch(settings, p, shots, runs)]
    for path in sorted(files):
        report.files_checked += 1
        if path.resolve() not in named:
            relative = path.relative_to(settings.home)
            report.problems.append(Problem("orphan", relative.parts[0], str(relative)))
    return report
