"""An episode end to end with the in-process worker, real ffmpeg and the Jellyfin double: assemble
(stream copy for matching scenes, one re-encode otherwise), the video served with Range requests,
publish into the library (scan announced with the MediaBrowser header), publish again = the same
files, unpublish removes them, editorial export downloads; nothing is written outside the studio
home and the library."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio
import pytest

from packages.core.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.doubles.jellyfin import JellyfinDouble
from tests.factories import make_project
from tests.integration.episode_helpers import scene_with_video, wait_episode

KEY = "jf-pipeline-key"


@pytest.fixture
def jellyfin():
    with JellyfinDouble(api_key=KEY) as double:
        yield double


@pytest.fixture
def library(tmp_path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path


@pytest.fixture
def settings(home, database_url, jellyfin, library):
    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    JELLYFIN_URL=jellyfin.url, JELLYFIN_API_KEY=KEY, JELLYFIN_LIBRARY_DIR=library,
                    _env_file=None)


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


async def episode_of(client, db, home, videos: list[dict], **fields) -> tuple[dict, dict]:
    project = await make_project(client, name="Sky Pirates", description="Pirates of the sky")
    r = await client.post("/episodes", json={"project": project["slug"], "title": "The Start",
                                             "description": "Where it begins", **fields})
    assert r.status_code == 201, r.text
    episode = r.json()
    for n, video in enumerate(videos):
        scene = await scene_with_video(client, db, home, project, f"Scene {n + 1}", **video)
        assert (await client.post(f"/episodes/{episode['id']}/scenes/{scene['id']}")).status_code == 200
    return project, episode


async def test_assemble_serve_publish_republish_unpublish(client, db, home, library, jellyfin, tmp_path):
    """The whole path for matching scenes: stream copy, Range-seekable video, files where Jellyfin
    expects them with a scan, a second publish leaving the same files, unpublish removing them."""
    project, episode = await episode_of(client, db, home, [{"seconds": 1.0}, {"seconds": 1.0}, {"seconds": 1.0}])
    eid = episode["id"]
    outside_before = {p.name for p in tmp_path.iterdir()}
    r = await client.post(f"/episodes/{eid}/assemble", json={})
    assert r.status_code == 202 and r.json()["status"] == "assembling"
    again = await client.post(f"/episodes/{eid}/assemble", json={})
    assert again.status_code == 409 and again.json()["code"] == "episode_busy"
    done = await wait_episode(client, eid)
    assert done["status"] == "assembled", done
    assert done["step"] == "stream copy" and abs(done["duration_s"] - 3.0) < 0.2
    assert done["output_url"] == f"episodes/{eid}/video" and done["thumbnail_url"]
    kinds = [e["type"] for e in map(dict, await db.fetch(
        "SELECT type FROM events WHERE payload->>'episode_id' = $1 ORDER BY id", str(eid)))]
    assert "episode.assembly_progress" in kinds and kinds[-1] == "episode.assembled"

    full = await client.get(f"/episodes/{eid}/video")
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    part = await client.get(f"/episodes/{eid}/video", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    thumb = await client.get(f"/episodes/{eid}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"

    r = await client.post(f"/episodes/{eid}/publish", json={})
    assert r.status_code == 202 and r.json()["status"] == "publishing"
    published = await wait_episode(client, eid)
    assert published["status"] == "published", published
    year = (await db.fetchval("SELECT created_at FROM projects WHERE id = $1", project["id"])).year
    video = library / f"Sky Pirates ({year})" / "Season 01" / "Sky Pirates S01E01 - The Start.mp4"
    assert published["published_path"] == str(video) and video.read_bytes() == full.content
    assert jellyfin.scans == [("media_updated", [str(video)])]
    nfo = ET.parse(video.with_suffix(".nfo")).getroot()
    assert nfo.findtext("title") == "The Start" and nfo.findtext("episode") == "1"
    assert nfo.findtext("plot") == "Where it begins"
    first = tree(library)
    assert len(first) == 5

    r = await client.post(f"/episodes/{eid}/publish", json={"link_mode": "symlink"})
    assert r.status_code == 202 and (await wait_episode(client, eid))["status"] == "published"
    assert set(tree(library)) == set(first) and video.is_symlink()
    assert len(jellyfin.scans) == 2

    r = await client.delete(f"/episodes/{eid}/publish")
    assert r.status_code == 200 and r.json()["status"] == "assembled" and r.json()["published_path"] is None
    assert list(library.iterdir()) == []
    assert {p.name for p in tmp_path.iterdir()} == outside_before  # nothing beside home and library


async def test_mismatched_scenes_are_re_encoded_with_a_fade(client, db, home):
    """Scenes of another size, rate and without sound: one re-encode (step says so), the length is
    the sum of the scenes."""
    _, episode = await episode_of(client, db, home, [{"seconds": 1.0}, {"seconds": 1.5, "size": "160x120", "fps": 30,
                                                                         "audio_rate": None}])
    r = await client.post(f"/episodes/{episode['id']}/assemble", json={"fade_s": 0.3})
    assert r.status_code == 202
    done = await wait_episode(client, episode["id"])
    assert done["status"] == "assembled" and done["step"] == "re-encoded" and abs(done["duration_s"] - 2.5) < 0.2


async def test_a_failed_assembly_says_why(client, db, home):
    """A scene whose file is unreadable fails the episode with the reason and an episode.failed event."""
    _, episode = await episode_of(client, db, home, [{"seconds": 1.0}])
    path = await db.fetchval("SELECT s.output_path FROM scenes s JOIN episode_scenes x ON x.scene_id = s.id "
                             "WHERE x.episode_id = $1", episode["id"])
    (home / path).write_bytes(b"garbage")
    assert (await client.post(f"/episodes/{episode['id']}/assemble", json={})).status_code == 202
    failed = await wait_episode(client, episode["id"])
    assert failed["status"] == "failed" and "assembly failed" in failed["error"]
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'episode.failed'") == 1


@pytest.mark.parametrize("fmt", ["edl", "fcpxml"])
async def test_export_downloads_a_timeline_editors_read(client, db, home, fmt):
    """The export is a download whose clips and frame durations OpenTimelineIO reads back."""
    _, episode = await episode_of(client, db, home, [{"seconds": 1.0}, {"seconds": 2.0}])
    r = await client.get(f"/episodes/{episode['id']}/export", params={"format": fmt, "paths": "absolute"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    adapter, extra = ("cmx_3600", {"rate": 24}) if fmt == "edl" else ("fcp_xml", {})
    back = otio.adapters.read_from_string(r.text, adapter_name=adapter, **extra)
    clips = list(back.find_clips())
    assert [c.name for c in clips] == ["01 Scene 1", "02 Scene 2"]
    assert [c.duration().rescaled_to(24).value for c in clips] == [24, 48]
    assert all(os.path.isabs(c.media_reference.target_url.removeprefix("file://")) for c in clips)


async def test_delete_removes_published_files_and_jellyfin_health(client, db, home, library):
    """Deleting a published episode removes its library files; health reports the double."""
    _, episode = await episode_of(client, db, home, [{"seconds": 1.0}])
    await client.post(f"/episodes/{episode['id']}/assemble", json={})
    await wait_episode(client, episode["id"])
    await client.post(f"/episodes/{episode['id']}/publish", json={"link_mode": "hardlink"})
    assert (await wait_episode(client, episode["id"]))["status"] == "published"
    assert len(tree(library)) == 5
    assert (await client.delete(f"/episodes/{episode['id']}")).status_code == 204
    assert list(library.iterdir()) == []
    health = (await client.get("/jellyfin/health")).json()
    assert health["configured"] and health["reachable"] and health["server_name"] == "Test Jellyfin"


async def test_the_demo_api_and_a_job_run_again_after_a_crash(client, db, home, library, jellyfin, settings):
    """The plain service API and job bodies the demo awaits: a run after a crash (a half-written
    `.part` left behind) finishes cleanly, and a second run of a finished step changes nothing."""
    from packages.episode_assembly import service, work

    project = await make_project(client, name="Demo Show")
    eid = await service.create_episode(db, project["id"], "Demo", description="The demo episode")
    scene = await scene_with_video(client, db, home, project, "Only scene")
    await service.add_scene(db, eid, scene["id"])
    await service.start_assembly(db, eid, defer=False)
    folder = home / "output" / project["slug"] / "episodes" / f"episode{eid}"
    folder.mkdir(parents=True)
    (folder / "episode.part.mp4").write_bytes(b"half of a video from a killed ffmpeg")
    await work.assemble(eid)
    row = await db.fetchrow("SELECT status, output_path, updated_at FROM episodes WHERE id = $1", eid)
    assert row["status"] == "assembled" and not (folder / "episode.part.mp4").exists()
    await work.assemble(eid)
    assert await db.fetchval("SELECT updated_at FROM episodes WHERE id = $1", eid) == row["updated_at"]
    await service.start_publish(db, settings, eid, defer=False)
    await work.publish(eid)
    files = tree(library)
    await work.publish(eid)
    assert tree(library) == files and len(files) == 5 and len(jellyfin.scans) == 1
    assert await db.fetchval("SELECT status FROM episodes WHERE id = $1", eid) == "published"
