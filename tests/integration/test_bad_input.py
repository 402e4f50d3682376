"""Hostile input across every endpoint that takes files, archives or text (issue 10, item 2): each
refused request is a clear 4xx `{detail, code}`, leaves every table's row count as it was, and
writes nothing outside ANIME_STUDIO_HOME (the process's temp folder is pointed into the test's own
folder, so spooled uploads are watched too). Accepted text with SQL metacharacters is stored
verbatim and breaks nothing. Per-endpoint details live in test_characters_references.py and
test_ingestion.py; this file is the cross-cutting table."""

from __future__ import annotations

import asyncio
import io
import secrets
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.factories import make_character, make_project, make_style
from tests.unit.test_images import image_bytes, png_claiming, truncated_png

SQL = "Mio's '; DROP TABLE projects; -- \" OR 1=1 /* ) \\ $1 %s %% _ LIKE '%'"


@pytest.fixture
def settings(home, database_url):
    from packages.core.settings import Settings

    from tests.conftest import ADMIN_TOKEN

    return Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=database_url, ANIME_STUDIO_ADMIN_TOKEN=ADMIN_TOKEN,
                    _env_file=None)  # the in-process worker runs the ingestion jobs


@pytest.fixture
def systmp(tmp_path, monkeypatch) -> Path:
    """The temp folder Python hands out (uploads spool there), inside the test's own folder."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
async def character(client, systmp) -> dict:
    project = await make_project(client)
    return {**await make_character(client, project), "project_slug": project["slug"]}


async def row_counts(db) -> dict[str, int]:
    """Every table's row count, but the job worker's own bookkeeping (its heartbeats and the status
    changes of jobs queued before the check), which moves on its own."""
    tables = await db.fetch("SELECT schemaname, tablename FROM pg_tables "
                            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
                            "AND tablename NOT IN ('procrastinate_events', 'procrastinate_workers') ORDER BY 1, 2")
    counts = {f"{t['schemaname']}.{t['tablename']}": await db.fetchval(
        f'SELECT count(*) FROM "{t["schemaname"]}"."{t["tablename"]}"') for t in tables}
    counts.pop("public.procrastinate_periodic_defers", None)  # the periodic sweeps queue themselves
    counts["public.procrastinate_jobs"] = await db.fetchval(
        "SELECT count(*) FROM procrastinate_jobs WHERE id NOT IN "
        "(SELECT job_id FROM procrastinate_periodic_defers WHERE job_id IS NOT NULL)")
    return counts


def files(root: Path, *, skip: Path | None = None) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not (skip and p.is_relative_to(skip))}


class Watch:
    """Row counts of all tables and the files outside the home, before and after."""

    def __init__(self, db, tmp_path: Path, home: Path):
        self.db, self.tmp, self.home = db, tmp_path, home

    async def __aenter__(self):
        self.rows, self.outside = await row_counts(self.db), files(self.tmp, skip=self.home)
        self.datasets = files(self.home / "datasets") if (self.home / "datasets").exists() else set()
        return self

    async def __aexit__(self, *exc):
        if exc[0] is None:
            assert await row_counts(self.db) == self.rows, "a refused request changed the database"
            assert files(self.tmp, skip=self.home) == self.outside, "a file was written outside the home"
            now = files(self.home / "datasets") if (self.home / "datasets").exists() else set()
            assert now == self.datasets, "a refused request wrote into the datasets"


def refused(r, status: int | tuple[int, ...], code: str | None = None) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body.get("detail"), str) and body["detail"] and body.get("code"), body
    if code:
        assert body["code"] == code, body
    return body


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


BAD_FILES = [  # (name, bytes, status, code)
    ("notes.png", b"#!/bin/sh\nrm -rf /\n" * 50, 415, "not_an_image"),
    ("empty.png", b"", (415, 422), None),
    ("half.png", truncated_png(), 415, "not_an_image"),
    ("svg.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415, "not_an_image"),
    ("bomb.png", png_claiming(50_000, 50_000), 422, "decompression_bomb"),
    ("wide.png", png_claiming(2**31 - 1, 1), 422, "decompression_bomb"),
]
IMAGE_ENDPOINTS = ["reference-images", "ingest/images"]


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
@pytest.mark.parametrize(("name", "data", "status", "code"), BAD_FILES, ids=[f[0] for f in BAD_FILES])
async def test_bad_images_are_4xx_and_change_nothing(client, db, home, tmp_path, character, endpoint,
                                                     name, data, status, code):
    """Non-images, empty and truncated files, SVG, and a 50k x 50k decompression bomb (a tiny PNG
    whose header claims the size) are refused with {detail, code}, alone or next to a good image."""
    async with Watch(db, tmp_path, home):
        url = f"/characters/{character['id']}/{endpoint}"
        refused(await client.post(url, files=[("files", (name, data, "image/png"))]), status, code)
        good = ("good.png", image_bytes("PNG", (300, 300)), "image/png")
        refused(await client.post(url, files=[("files", good), ("files", (name, data, "image/png"))]), status, code)


HOSTILE_NAMES = ["../../../escaped-{tag}.png", "/tmp/escaped-{tag}.png", "..\\..\\escaped-{tag}.png",
                 "nul\0escaped-{tag}.png", "%2e%2e%2fescaped-{tag}.png", "\u202eescaped-{tag}.png"]


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
async def test_hostile_file_names_never_become_paths(client, db, home, tmp_path, character, endpoint):
    """`../`, absolute, backslash, NUL and encoded names are display text only: the image is stored
    under a generated name inside the character's folder and nothing appears outside the home."""
    tag = secrets.token_hex(6)
    outside = files(tmp_path, skip=home)
    for n, pattern in enumerate(HOSTILE_NAMES):
        data = image_bytes("PNG", (300, 300), colour=(n * 40, 10, 200 - n * 30))
        r = await client.post(f"/characters/{character['id']}/{endpoint}",
                              files=[("files", (pattern.format(tag=tag), data, "image/png"))])
        assert r.status_code == 201, r.text
    assert files(tmp_path, skip=home) == outside
    assert not Path(f"/tmp/escaped-{tag}.png").exists()
    assert not any(tag in p for p in files(home))
    folder = home / "datasets" / character["project_slug"] / character["slug"]
    assert all((home / "datasets" / p).resolve().is_relative_to(folder) for p in files(home / "datasets"))


async def test_zip_bombs_and_non_zips_are_4xx_and_change_nothing(client, db, home, tmp_path, character):
    """A member claiming more than the per-file cap, members claiming more than the total cap, too
    many members, and files that are not zips are refused before any job is queued."""
    url = f"/characters/{character['id']}/ingest/zip"
    one_big = zip_of({"a.png": b"\0" * (26 * 1024 * 1024)}, zipfile.ZIP_DEFLATED)
    many = zip_of({f"{n}.png": b"" for n in range(5001)})
    async with Watch(db, tmp_path, home):
        refused(await client.post(url, files={"file": ("bomb.zip", one_big)}), 422, "zip_bomb")
        refused(await client.post(url, files={"file": ("many.zip", many)}), 422)
        refused(await client.post(url, files={"file": ("x.zip", b"PK\x03\x04 not really")}), 415, "not_a_zip")
        refused(await client.post(url, files={"file": ("x.zip", truncated_png())}), 415, "not_a_zip")
        refused(await client.post(url, files={"file": ("x.zip", one_big[: len(one_big) // 2])}), 415, "not_a_zip")


async def test_a_zip_whose_headers_lie_stores_nothing(client, db, home, tmp_path, character):
    """A deflated member whose headers claim 1 KB but which expands to 30 MB passes the header check
    (202) and then stores nothing: reading is capped, the member is skipped, nothing left on disk."""
    from tests.integration.test_ingestion import wait_done

    data = bytearray(zip_of({"liar.png": b"\0" * (30 * 1024 * 1024)}, zipfile.ZIP_DEFLATED))
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size in both headers
        at = data.index(sig)
        data[at + offset: at + offset + 4] = (1024).to_bytes(4, "little")
    outside = files(tmp_path, skip=home)
    r = await client.post(f"/characters/{character['id']}/ingest/zip", files={"file": ("liar.zip", bytes(data))})
    assert r.status_code == 202, r.text
    done = await wait_done(client, r.json()["id"])
    assert done["images_added"] == 0 and done["status"] in ("succeeded", "failed"), done
    assert await db.fetchval("SELECT count(*) FROM images") == 0
    assert files(tmp_path, skip=home) == outside
    for _ in range(100):  # the job removes its staging folder just after the final status
        if await db.fetchval("SELECT work_dir FROM ingestions WHERE id = $1", done["id"]) is None:
            break
        await asyncio.sleep(0.05)
    assert files(home / "var" / "ingest") == set(), done


async def test_huge_and_malformed_json_is_4xx_and_changes_nothing(client, db, home, tmp_path, character):
    """Bodies over 1 MiB (declared or streamed without a length), invalid UTF-8, truncated JSON and
    JSON nested a hundred thousand deep are refused with {detail, code}; nothing is stored."""
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "slug": "big"}'
    json_type = {"content-type": "application/json"}

    def chunks():
        for n in range(0, len(big), 64 * 1024):
            yield big[n: n + 64 * 1024]

    async def streamed():
        for chunk in chunks():
            yield chunk

    async with Watch(db, tmp_path, home):
        refused(await client.post("/projects", content=big, headers=json_type), 413, "too_large")
        refused(await client.post("/projects", content=streamed(), headers=json_type), 413, "too_large")
        refused(await client.post("/projects", content=b'{"name": "\xff\xfe\xc3", "slug": "bad-utf8"}',
                                  headers=json_type), (400, 422))
        refused(await client.post("/projects", content=b'{"name": "Cut', headers=json_type), (400, 422))
        refused(await client.post("/projects", content=b"[" * 100_000 + b"]" * 100_000, headers=json_type),
                (400, 422))
        refused(await client.post("/projects", content=b'{"name": "x", "slug": "x"}',
                                  headers={"content-type": "text/plain"}), (400, 415, 422))
        refused(await client.post(f"/characters/{character['id']}/ingest/images",
                                  files=[("files", ("a.png", b"x" * (26 * 1024 * 1024)))]), 413, "too_large")
        refused(await client.get("/characters", params={"q": b"\xff\xfe".decode("latin-1"), "limit": "-1"}),
                (400, 422))


async def test_paths_in_json_fields_stay_inside_the_home(client, db, home, tmp_path, character):
    """Fields that name files (a training base model, a local video) refuse `../` and absolute paths."""
    async with Watch(db, tmp_path, home):
        for bad in ("../../etc", "/etc", "models/../../.."):
            r = await client.post("/training/runs", json={"character_id": character["id"], "base_model": bad})
            refused(r, (400, 403, 404, 409, 422))
        for bad in ("file:///etc/passwd", "/etc/passwd", "file://" + str(tmp_path / "x.mp4")):
            r = await client.post(f"/characters/{character['id']}/ingest/video", json={"url": bad})
            refused(r, (400, 403, 422))


async def test_sql_metacharacters_are_stored_verbatim(client, db, character):
    """Quotes, comment markers, placeholders and backslashes in every free-text field of the main
    create endpoints are plain text: stored and returned verbatim, no table lost, nothing else changed."""
    before = await row_counts(db)
    style = await make_style(client, name=SQL, positive_template=SQL + " {prompt}", negative_template=SQL,
                             checkpoint="animagine-xl-3.1.safetensors")
    project = await make_project(client, name=SQL, description=SQL, genre=SQL, premise=SQL)
    made = {"style": style, "project": project}
    made["character"] = await make_character(client, project, name=SQL, design_prompt=SQL)
    bodies = {
        "storylines": {"project_id": project["id"], "title": SQL, "summary": SQL, "theme": SQL, "tone": SQL,
                       "target_audience": SQL},
        "scenes": {"project_id": project["id"], "title": SQL, "description": SQL, "location": SQL, "mood": SQL,
                   "time_of_day": SQL, "weather": SQL},
        "episodes": {"project": project["slug"], "title": SQL, "description": SQL, "story_arc": SQL},
    }
    for path, body in bodies.items():
        r = await client.post(f"/{path}", json=body)
        assert r.status_code == 201, (path, r.text)
        made[path] = r.json()
        for field, value in body.items():
            if value == SQL and field in made[path]:
                assert made[path][field] == SQL, (path, field)
    r = await client.post(f"/scenes/{made['scenes']['id']}/shots", json={
        "prompt": SQL, "motion_prompt": SQL, "negative_prompt": SQL, "dialogue_text": SQL})
    assert r.status_code == 201, r.text
    assert r.json()["prompt"] == SQL and r.json()["dialogue_text"] == SQL
    assert made["project"]["name"] == SQL and made["character"]["name"] == SQL and made["style"]["name"] == SQL
    r = await client.get("/projects", params={"q": SQL})
    assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] in ([project["id"]], [])
    r = await client.post("/projects", json={"name": "x", "slug": SQL})
    refused(r, 422)
    after = await row_counts(db)
    assert set(after) == set(before), "a table appeared or vanished"
    assert all(after[t] >= before[t] for t in before), "rows were lost"
    assert await db.fetchval("SELECT count(*) FROM projects WHERE name = $1", SQL) == 1


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
async def test_multipart_with_invalid_utf8_names_is_not_a_server_error(client, db, home, tmp_path, character,
                                                                      endpoint):
    """A multipart body whose file name is not UTF-8 (and one whose field name is wrong) is either
    stored under a generated name or refused with {detail, code}: never a 5xx, nothing outside the home."""
    boundary = "faults-boundary"
    image = image_bytes("PNG", (300, 300), colour=(3, 140, 77))
    body = (f"--{boundary}\r\n".encode() + b'Content-Disposition: form-data; name="files"; filename="\xff\xfe..\\/x.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + image + f"\r\n--{boundary}--\r\n".encode())
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    outside = files(tmp_path, skip=home)
    r = await client.post(f"/characters/{character['id']}/{endpoint}", content=body, headers=headers)
    assert r.status_code in (201, 400, 415, 422), r.text
    if r.status_code != 201:
        refused(r, r.status_code)
    wrong = body.replace(b'name="files"', b'name="\xc3(\x00"')
    async with Watch(db, tmp_path, home):
        refused(await client.post(f"/characters/{character['id']}/{endpoint}", content=wrong, headers=headers),
                (400, 422))
        refused(await client.post(f"/characters/{character['id']}/{endpoint}", content=body[:-20], headers=headers),
                (400, 422))
    assert files(tmp_path, skip=home) == outside
