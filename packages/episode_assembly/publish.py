"""Placing an episode where Jellyfin expects it (its TV layout and .nfo metadata):

    <library>/<Show Name (Year)>/tvshow.nfo, poster.jpg
    <library>/<Show Name (Year)>/Season 01/<Show Name> S01E01 - <Title>.mp4, .nfo, -thumb.jpg

Names come from the project's name and the episode's title with `< > : " / \\ | ? *` and control
characters removed (and no leading/trailing dots or spaces), so no title can name another folder.
The video is copied, hard-linked or symlinked (`link_mode`); every other file is written. Each
file is written beside its place and renamed over it, so publishing again replaces cleanly and
leaves the same files. `place` returns every file it placed (stored on the episode row);
`remove` deletes exactly those (never a path outside the library, never a file another published
episode of the show also lists) and then the folders it leaves empty. Blocking: run in a thread."""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from packages.core.errors import Invalid

SEASON = 1
FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
MAX_NAME = 120  # characters of a show or title part (file names stay under 255 bytes)


@dataclass
class EpisodeInfo:
    show: str  # the project's name
    year: int
    show_plot: str
    number: int
    title: str
    plot: str
    aired: date


@dataclass
class Placed:
    video: Path  # the episode's file in the library
    files: list[str]  # every file placed (absolute paths)


def sanitise(name: str, fallback: str = "Untitled") -> str:
    cleaned = " ".join(FORBIDDEN.sub("", name).split())[:MAX_NAME].strip(" .")
    return cleaned or fallback


def layout(library: Path, info: EpisodeInfo) -> dict[str, Path]:
    """Where each file of the episode goes (keys: show_dir, season_dir, tvshow, poster, video, nfo, thumb)."""
    show = sanitise(info.show, "Show")
    show_dir = library / f"{show} ({info.year})"
    season_dir = show_dir / f"Season {SEASON:02d}"
    base = f"{show} S{SEASON:02d}E{info.number:02d} - {sanitise(info.title)}"
    return {"show_dir": show_dir, "season_dir": season_dir, "tvshow": show_dir / "tvshow.nfo",
            "poster": show_dir / "poster.jpg", "video": season_dir / f"{base}.mp4",
            "nfo": season_dir / f"{base}.nfo", "thumb": season_dir / f"{base}-thumb.jpg"}


def _inside(library: Path, path: Path) -> Path:
    root = library.resolve()
    resolved = path.parent.resolve() / path.name  # the link itself, not what a symlink points at
    if root not in resolved.parents:
        raise Invalid("A published file would land outside the Jellyfin library", code="unsafe_path")
    return resolved


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def tvshow_nfo(info: EpisodeInfo) -> bytes:
    root = ET.Element("tvshow")
    for tag, value in (("title", info.show), ("plot", info.show_plot), ("year", str(info.year))):
        ET.SubElement(root, tag).text = value
    return _xml(root)


def episode_nfo(info: EpisodeInfo) -> bytes:
    root = ET.Element("episodedetails")
    for tag, value in (("title", info.title), ("season", str(SEASON)), ("episode", str(info.number)),
                       ("plot", info.plot), ("aired", info.aired.isoformat())):
        ET.SubElement(root, tag).text = value
    return _xml(root)


def _replace(dest: Path, write) -> None:
    """`write(partial)` creates the new file beside `dest`; it then replaces `dest` in one rename."""
    partial = dest.with_name(f".{dest.name}.part")
    partial.unlink(missing_ok=True)
    try:
        write(partial)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _put_video(source: Path, dest: Path, link_mode: str) -> None:
    if link_mode == "copy":
        _replace(dest, lambda p: shutil.copyfile(source, p))
    elif link_mode == "hardlink":
        try:
            _replace(dest, lambda p: os.link(source, p))
        except OSError as exc:
            raise Invalid(f"Cannot hard-link into the library ({exc.strerror}); it must be on the same filesystem "
                          "as the studio home, or use copy", code="hardlink_failed") from exc
    elif link_mode == "symlink":
        _replace(dest, lambda p: os.symlink(source.resolve(), p))
    else:
        raise Invalid("link_mode is copy, hardlink or symlink", code="bad_link_mode", field="link_mode")


def place(library: Path, info: EpisodeInfo, video: Path, thumb: Path | None, link_mode: str) -> Placed:
    """Writes the episode's files into the library (see the module doc)."""
    where = {k: _inside(library, v) for k, v in layout(library, info).items()}
    where["season_dir"].mkdir(parents=True, exist_ok=True)
    _put_video(video, where["video"], link_mode)
    files = [where["video"]]
    for key, content in (("tvshow", tvshow_nfo(info)), ("nfo", episode_nfo(info))):
        _replace(where[key], lambda p, c=content: p.write_bytes(c))
        files.append(where[key])
    if thumb is not None and thumb.is_file():
        for key in ("poster", "thumb"):
            _replace(where[key], lambda p: shutil.copyfile(thumb, p))
            files.append(where[key])
    return Placed(where["video"], [str(f) for f in files])


def remove(library: Path, files: list[str], keep: set[str] = frozenset()) -> None:
    """Deletes `files` except those in `keep` (files another published episode also placed), then
    the folders that leaves empty, up to the library itself."""
    root = library.resolve()
    folders = set()
    for name in files:
        if name in keep:
            continue
        path = Path(name)
        if root not in path.parents or ".." in path.parts:
            continue  # never touch anything outside the library
        path.unlink(missing_ok=True)
        folders.update(p for p in path.parents if root in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
