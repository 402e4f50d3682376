"""Publishing into a Jellyfin library: the TV layout and sanitised names, the .nfo files as XML,
copy / hard link / symlink, publishing twice leaving the same files, and removing exactly what
was placed (never a file outside the library, never one another episode still uses)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from packages.core.errors import Invalid
from packages.episode_assembly import publish


def info(**fields) -> publish.EpisodeInfo:
    base = {"show": "Sky Pirates", "year": 2026, "show_plot": "Pirates & <skies>", "number": 1,
            "title": "The Start", "plot": 'She said "hi" & left <fast>', "aired": date(2026, 11, 2)}
    return publish.EpisodeInfo(**{**base, **fields})


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (os.readlink(p).encode() if p.is_symlink() else p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


@pytest.fixture
def media(tmp_path) -> tuple[Path, Path]:
    video, thumb = tmp_path / "home" / "episode.mp4", tmp_path / "home" / "thumb.jpg"
    video.parent.mkdir()
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 video bytes")
    thumb.write_bytes(b"\xff\xd8\xff jpeg")
    return video, thumb


def test_names_are_sanitised_of_path_and_reserved_characters():
    """`< > : " / \\ | ? *` and control characters never reach a file name; nothing is left empty."""
    assert publish.sanitise('A<b>:c"d/e\\f|g?h*i\x01') == "Abcdefghi"
    assert publish.sanitise("../..") == "Untitled" and publish.sanitise("  . ") == "Untitled"
    where = publish.layout(Path("/lib"), info(show="Sky: Pirates?", title="../../etc/passwd", number=3))
    assert where["video"] == Path("/lib/Sky Pirates (2026)/Season 01/Sky Pirates S01E03 - etcpasswd.mp4")
    assert where["thumb"].name == "Sky Pirates S01E03 - etcpasswd-thumb.jpg"


def test_layout_and_nfo_files_parse_back(tmp_path, media):
    """Jellyfin's layout; tvshow.nfo and <episodedetails> with title, season, episode, plot, aired,
    escaped (they parse back as XML with the exact text)."""
    library = tmp_path / "library"
    placed = publish.place(library, info(), *media, "copy")
    show = library / "Sky Pirates (2026)"
    season = show / "Season 01"
    assert placed.video == season / "Sky Pirates S01E01 - The Start.mp4"
    assert set(files_of(library)) == {"Sky Pirates (2026)/tvshow.nfo", "Sky Pirates (2026)/poster.jpg",
                                      "Sky Pirates (2026)/Season 01/Sky Pirates S01E01 - The Start.mp4",
                                      "Sky Pirates (2026)/Season 01/Sky Pirates S01E01 - The Start.nfo",
                                      "Sky Pirates (2026)/Season 01/Sky Pirates S01E01 - The Start-thumb.jpg"}
    episode = ET.parse(season / "Sky Pirates S01E01 - The Start.nfo").getroot()
    assert episode.tag == "episodedetails"
    assert {c.tag: c.text for c in episode} == {"title": "The Start", "season": "1", "episode": "1",
                                                "plot": 'She said "hi" & left <fast>', "aired": "2026-11-02"}
    show_nfo = ET.parse(show / "tvshow.nfo").getroot()
    assert show_nfo.tag == "tvshow" and show_nfo.findtext("title") == "Sky Pirates"
    assert show_nfo.findtext("plot") == "Pirates & <skies>" and show_nfo.findtext("year") == "2026"
    assert placed.video.read_bytes() == media[0].read_bytes() and not placed.video.is_symlink()
    assert sorted(placed.files) == sorted(str(library / f) for f in files_of(library))


def test_publishing_twice_leaves_the_same_files(tmp_path, media):
    """Publishing again replaces each file in place: same names, same bytes, no leftovers."""
    library = tmp_path / "library"
    first = publish.place(library, info(), *media, "copy")
    before = files_of(library)
    second = publish.place(library, info(), *media, "copy")
    assert files_of(library) == before and second.files == first.files


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_link_modes(tmp_path, media, mode):
    """hardlink shares the inode of the studio's file; symlink points at it (absolute)."""
    placed = publish.place(tmp_path / "library", info(), *media, mode)
    if mode == "hardlink":
        assert placed.video.stat().st_ino == media[0].stat().st_ino and not placed.video.is_symlink()
    else:
        assert placed.video.is_symlink() and Path(os.readlink(placed.video)) == media[0].resolve()


def test_unknown_link_mode_is_refused(tmp_path, media):
    """A link mode other than copy, hardlink or symlink is refused before anything is written."""
    with pytest.raises(Invalid):
        publish.place(tmp_path / "library", info(), *media, "move")
    assert not list((tmp_path / "library").rglob("*.mp4"))


def test_remove_takes_exactly_what_was_placed(tmp_path, media):
    """Unpublishing removes the files placed and the folders left empty; a file the user put there,
    a file outside the library and a shared show file another episode uses are kept."""
    library = tmp_path / "library"
    one = publish.place(library, info(), *media, "copy")
    two = publish.place(library, info(number=2, title="Next"), *media, "copy")
    mine = library / "Sky Pirates (2026)" / "Season 01" / "notes.txt"
    mine.write_text("mine")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    publish.remove(library, one.files + [str(outside), str(library / ".." / "outside.txt")], keep=set(two.files))
    assert outside.exists() and mine.exists()
    assert set(files_of(library)) == {str(Path(f).relative_to(library)) for f in two.files} | {
        "Sky Pirates (2026)/Season 01/notes.txt"}
    mine.unlink()
    publish.remove(library, two.files)
    assert list(library.iterdir()) == []


def test_nothing_is_written_outside_the_library(tmp_path, media):
    """Whatever the show and title, every placed file is inside the library folder."""
    library = tmp_path / "library"
    placed = publish.place(library, info(show="../../../x", title="/etc/passwd"), *media, "copy")
    for name in placed.files:
        assert library.resolve() in Path(name).parents
    assert {p.name for p in tmp_path.iterdir()} == {"library", "home"}
