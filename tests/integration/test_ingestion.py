"""Ingestion through the real API, the in-process job worker, real ffmpeg and real yt-dlp (on local
files): uploads, zips, video files and video URLs become pending dataset images, with
near-duplicates and too-small images dropped, limits enforced and unsafe input refused."""

from __future__ import annotations

import asyncio
import io
import subprocess
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from packages.core.media import ffmpeg_binary
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_character, make_project


@pytest.fixture
def settings(home, database_url):
    from packages.core.settings import Settings

    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    _env_file=None)  # the in-process worker runs the jobs


@pytest.fixture
async def character(client) -> dict:
    return await make_character(client, await make_project(client))


def picture(seed: int, size=(512, 512), fmt="PNG") -> bytes:
    """A noise picture: different seeds give perceptually unrelated images."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.NEAREST)
    out = io.BytesIO()
    img.save(out, fmt, quality=90)
    return out.getvalue()


def make_video(path: Path, *, seconds_each: float = 2.0, audio: bool = True, size: str = "512x384") -> Path:
    """Three visually different segments (so scene changes exist), the last a static one long enough
    to give a second, identical frame, with a sine track: 6 x `seconds_each` seconds."""
    sources = [(f"testsrc2=size={size}:rate=10", seconds_each), (f"smptebars=size={size}:rate=10", seconds_each),
               (f"color=c=red:size={size}:rate=10", seconds_each * 4)]
    args = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y"]
    for src, seconds in sources:
        args += ["-f", "lavfi", "-t", str(seconds), "-i", src]
    if audio:
        args += ["-f", "lavfi", "-t", str(seconds_each * 6), "-i", "sine=frequency=440"]
    args += ["-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]", "-map", "[v]"]
    if audio:
        args += ["-map", "3:a", "-c:a", "aac"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", str(path)]
    subprocess.run(args, check=True)
    return path


async def wait_done(client, ingestion_id: int, timeout: float = 30) -> dict:
    for _ in range(int(timeout / 0.1)):
        row = (await client.get(f"/ingestions/{ingestion_id}")).json()
        if row["status"] in ("succeeded", "failed"):
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"ingestion {ingestion_id} did not finish: {row}")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def staging_removed(home: Path, timeout: float = 10) -> list[Path]:
    """The job removes its staging folder just after writing the final status: wait for it."""
    for _ in range(int(timeout / 0.05)):
        if not (left := files_under(home / "var" / "ingest")):
            return left
        await asyncio.sleep(0.05)
    return left


async def test_video_upload_gives_scene_frames_and_a_voice_sample(client, character, db, home, tmp_path):
    """A video file becomes pending frames at its scene changes (static stretches still give a frame
    every few seconds, repeats dropped as duplicates), its audio a mono 22.05 kHz voice sample; the
    row shows progress and the events tell the story; the staging folder is gone afterwards."""
    video = make_video(tmp_path / "clip.mp4")
    with video.open("rb") as fh:
        r = await client.post(f"/characters/{character['id']}/ingest/video-upload", files={"file": ("my clip.mp4", fh)})
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "video" and r.json()["status"] == "queued" and r.json()["source"] == "my clip.mp4"
    done = await wait_done(client, r.json()["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0 and done["step"] == "done"
    assert done["frames_found"] >= 4 and done["images_added"] >= 2 and done["duplicates_dropped"] >= 1, done
    assert done["images_added"] + done["duplicates_dropped"] + done["too_small_dropped"] == done["frames_found"]
    images = await db.fetch("SELECT path, source, status, phash, width, height, thumbnail FROM images "
                            "WHERE character_id = $1", character["id"])
    assert len(images) == done["images_added"]
    assert all(i["source"] == "video" and i["status"] == "pending" and i["phash"] for i in images)
    assert all((home / i["path"]).is_file() and (home / i["thumbnail"]).is_file() for i in images)
    assert all(i["path"].startswith("datasets/") and f"/{character['slug']}/images/" in i["path"] for i in images)
    assert all((i["width"], i["height"]) == (512, 384) for i in images)
    voice = home / done["voice_sample"]
    assert done["voice_sample"].endswith(".wav") and "/voice/" in done["voice_sample"] and voice.is_file()
    with wave.open(str(voice)) as wav:
        assert wav.getnchannels() == 1 and wav.getframerate() == 22050 and wav.getnframes() > 22050 * 5
    types = [r["type"] for r in await db.fetch("SELECT type FROM events WHERE type LIKE 'ingestion.%' ORDER BY id")]
    assert "ingestion.progress" in types and types[-1] == "ingestion.completed"
    assert await staging_removed(home) == []


async def test_file_url_is_downloaded_with_yt_dlp_from_the_ingest_folder(client, character, db, settings, tmp_path):
    """A file:// URL inside ANIME_STUDIO_INGEST_DIR goes through yt-dlp's generic extractor; its frames
    are stored as source 'url'. A video without audio gives no voice sample."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings.ingest_dir = inbox
    video = make_video(inbox / "a clip.mp4", audio=False)
    r = await client.post(f"/characters/{character['id']}/ingest/video", json={"url": video.as_uri()})
    assert r.status_code == 202, r.text
    done = await wait_done(client, r.json()["id"])
    assert done["status"] == "succeeded" and done["kind"] == "url", done
    assert done["images_added"] >= 3 and done["voice_sample"] is None
    sources = {r["source"] for r in await db.fetch("SELECT source FROM images WHERE character_id = $1", character["id"])}
    assert sources == {"url"}
    listed = (await client.get("/ingestions", params={"character_id": character["id"]})).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == done["id"]


@pytest.mark.parametrize("where", ["outside", "traversal", "var", "scheme"])
async def test_local_paths_outside_the_home_are_refused(client, character, db, home, tmp_path, where):
    """A file:// URL outside the home (directly, through '..', or into the home's var/ folder where the
    database lives) and other schemes are a 422; no ingestion row and no file is written."""
    outside = make_video(tmp_path / "outside.mp4", seconds_each=0.5, audio=False)
    (home / "var").mkdir(exist_ok=True)
    inside_var = home / "var" / "db.mp4"
    inside_var.write_bytes(outside.read_bytes())
    url = {"outside": outside.as_uri(), "traversal": f"file://{home}/../outside.mp4",
           "var": inside_var.as_uri(), "scheme": "ftp://example.com/a.mp4"}[where]
    r = await client.post(f"/characters/{character['id']}/ingest/video", json={"url": url})
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("path_not_allowed", "bad_url") and r.json()["field"] == "url"
    assert await db.fetchval("SELECT count(*) FROM ingestions") == 0
    assert files_under(home / "datasets") == [] and files_under(home / "var" / "ingest") == []


async def test_a_video_over_the_duration_cap_fails_clearly(client, character, db, settings, home, tmp_path):
    """ANIME_STUDIO_MAX_VIDEO_S is measured with ffmpeg (yt-dlp knows no duration for local files):
    a longer video fails with a message naming the limit, and adds nothing."""
    settings.max_video_s = 3
    (home / "in").mkdir()
    video = make_video(home / "in" / "long.mp4", seconds_each=1.0)
    r = await client.post(f"/characters/{character['id']}/ingest/video", json={"url": video.as_uri()})
    assert r.status_code == 202, r.text
    done = await wait_done(client, r.json()["id"])
    assert done["status"] == "failed" and done["error_code"] == "video_too_long", done
    assert "6.0 s" in done["error"] and "limit is 3 s" in done["error"]
    assert await db.fetchval("SELECT count(*) FROM images") == 0
    assert (await db.fetchval("SELECT type FROM events WHERE type LIKE 'ingestion.%' ORDER BY id DESC LIMIT 1")
            == "ingestion.failed")


async def test_image_upload_drops_near_duplicates_and_small_images(client, character, db, home):
    """Uploaded images are stored under generated names as pending 'upload' images; a re-encoded copy
    (same picture, other bytes) and an image under 256 px are dropped and counted, also against the
    images the character already has."""
    files = [("files", ("a.png", picture(1))), ("files", ("b.png", picture(2))), ("files", ("c.webp", picture(3, fmt="WEBP"))),
             ("files", ("a-again.jpg", picture(1, fmt="JPEG"))), ("files", ("tiny.png", picture(4, size=(300, 200))))]
    r = await client.post(f"/characters/{character['id']}/ingest/images", files=files)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["status"], body["images_added"], body["duplicates_dropped"],
            body["too_small_dropped"]) == ("upload", "succeeded", 3, 1, 1), body
    rows = await db.fetch("SELECT path, source, status FROM images WHERE character_id = $1", character["id"])
    assert len(rows) == 3 and all(r["source"] == "upload" and r["status"] == "pending" for r in rows)
    assert all("/images/" in r["path"] and (home / r["path"]).is_file() for r in rows)
    assert not any(Path(r["path"]).stem in ("a", "b", "c") for r in rows)

    again = await client.post(f"/characters/{character['id']}/ingest/images",
                              files=[("files", ("b2.jpg", picture(2, fmt="JPEG"))), ("files", ("d.png", picture(5)))])
    assert (again.json()["images_added"], again.json()["duplicates_dropped"]) == (1, 1), again.json()
    assert await db.fetchval("SELECT count(*) FROM images") == 4


async def test_a_non_image_refuses_the_whole_upload(client, character, db, home, client_as):
    """One file that is not an image makes the request a 415 and nothing is written; viewers cannot ingest."""
    files = [("files", ("ok.png", picture(1))), ("files", ("evil.png", b"#!/bin/sh\necho pwned\n" * 20))]
    r = await client.post(f"/characters/{character['id']}/ingest/images", files=files)
    assert r.status_code == 415 and r.json()["code"] == "not_an_image", r.text
    assert await db.fetchval("SELECT count(*) FROM images") == 0
    assert await db.fetchval("SELECT count(*) FROM ingestions") == 0
    assert files_under(home / "datasets") == []
    async with client_as("viewer") as viewer:
        r = await viewer.post(f"/characters/{character['id']}/ingest/images", files=[("files", ("a.png", picture(1)))])
        assert r.status_code == 403
    async with client_as("reviewer") as reviewer:
        r = await reviewer.post(f"/characters/{character['id']}/ingest/images", files=[("files", ("a.png", picture(1)))])
        assert r.status_code == 201, r.text


async def test_zip_members_never_become_paths(client, character, db, home, tmp_path):
    """A zip's member names (`../evil.png`, absolute paths) never reach the disk: images are stored
    under generated names inside the dataset folder, and members that are not images are skipped and counted."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../evil.png", picture(1))
        z.writestr("/abs/evil2.png", picture(2))
        z.writestr("nested/ok.jpg", picture(3, fmt="JPEG"))
        z.writestr("notes.txt", b"not an image")
        z.writestr("folder/", b"")
    r = await client.post(f"/characters/{character['id']}/ingest/zip",
                          files={"file": ("set.zip", archive.getvalue(), "application/zip")})
    assert r.status_code == 202, r.text
    done = await wait_done(client, r.json()["id"])
    assert done["status"] == "succeeded", done
    assert (done["images_added"], done["files_skipped"]) == (3, 1), done
    rows = await db.fetch("SELECT path, source FROM images WHERE character_id = $1", character["id"])
    assert all(r["source"] == "upload" and "/images/" in r["path"] and "evil" not in r["path"] for r in rows)
    everything = [p.name for p in tmp_path.rglob("*")]
    assert not any("evil" in name for name in everything)
    assert await staging_removed(home) == []


async def test_zip_bombs_are_refused(client, character, db, home):
    """A member that claims (and would expand to) more than the per-file cap refuses the zip at once
    with 422 `zip_bomb`, before any job runs; a file that is not a zip is a 415. Nothing is written."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.png", picture(1))
        z.writestr("huge.png", b"\0" * (26 * 1024 * 1024))  # 26 MB of zeros: about 26 KB compressed
    assert len(archive.getvalue()) < 200_000
    r = await client.post(f"/characters/{character['id']}/ingest/zip",
                          files={"file": ("bomb.zip", archive.getvalue(), "application/zip")})
    assert r.status_code == 422 and r.json()["code"] == "zip_bomb", r.text
    r = await client.post(f"/characters/{character['id']}/ingest/zip", files={"file": ("x.zip", b"PK nope")})
    assert r.status_code == 415 and r.json()["code"] == "not_a_zip", r.text
    assert await db.fetchval("SELECT count(*) FROM ingestions") == 0
    assert files_under(home / "var" / "ingest") == [] and files_under(home / "datasets") == []


async def test_a_rerun_after_a_crash_continues_without_doubling(client, character, db, home, settings):
    """A job rerun on an ingestion left 'running' by a crash goes through the input again: images it
    stored before the crash count as added (not as duplicates), missing ones are added, none twice."""
    from packages.approval import ingest_jobs

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for n in range(3):
            z.writestr(f"{n}.png", picture(10 + n))
    r = await client.post(f"/characters/{character['id']}/ingest/zip", files={"file": ("set.zip", archive.getvalue())})
    first = await wait_done(client, r.json()["id"])
    assert first["images_added"] == 3, first
    lost = await db.fetchrow("DELETE FROM images WHERE id = (SELECT max(id) FROM images) RETURNING path")
    (home / lost["path"]).unlink()
    work = home / "var" / "ingest" / "crashed"  # the staged input the crashed job was reading
    work.mkdir(parents=True)
    (work / "input.zip").write_bytes(archive.getvalue())
    await db.execute("UPDATE ingestions SET status = 'running', images_added = 0, work_dir = 'var/ingest/crashed' "
                     "WHERE id = $1", first["id"])
    await ingest_jobs.execute(first["id"])
    again = (await client.get(f"/ingestions/{first['id']}")).json()
    assert (again["status"], again["images_added"], again["duplicates_dropped"]) == ("succeeded", 3, 0), again
    assert await db.fetchval("SELECT count(*) FROM images WHERE ingestion_id = $1", first["id"]) == 3
    assert (home / lost["path"]).is_file() and not work.exists()
    await ingest_jobs.execute(first["id"])  # a second run of a finished ingestion does nothing
    assert (await client.get(f"/ingestions/{first['id']}")).json()["updated_at"] == again["updated_at"]


@pytest.fixture
def web_folder(tmp_path):
    """A plain HTTP server on loopback serving a folder (what a video host's direct link looks like)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "web"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_http_video_is_downloaded_and_the_size_cap_enforced(client, character, db, settings, web_folder):
    """An http URL is downloaded with yt-dlp and its frames stored as source 'url'; a video over
    ANIME_STUDIO_MAX_VIDEO_MB fails with a message naming the limit (yt-dlp alone would skip it silently)."""
    folder, base = web_folder
    make_video(folder / "small.mp4", seconds_each=1.0)
    r = await client.post(f"/characters/{character['id']}/ingest/video", json={"url": f"{base}/small.mp4"})
    done = await wait_done(client, r.json()["id"])
    assert done["status"] == "succeeded" and done["images_added"] >= 2 and done["voice_sample"], done

    big = folder / "big.mp4"
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-t", "3", "-i",
                    "testsrc2=size=640x480:rate=25", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M",
                    "-pix_fmt", "yuv420p", str(big)], check=True)
    assert big.stat().st_size > 1024 * 1024
    settings.max_video_mb = 1
    r = await client.post(f"/characters/{character['id']}/ingest/video", json={"url": f"{base}/big.mp4"})
    failed = await wait_done(client, r.json()["id"])
    assert failed["status"] == "failed" and failed["error_code"] == "video_too_large", failed
    assert "1 MB" in failed["error"]
    assert await db.fetchval("SELECT count(*) FROM images WHERE ingestion_id = $1", failed["id"]) == 0
