"""Reference images over HTTP: sniffed, size- and bomb-checked uploads stored under generated
names in the character's folder, all or nothing, served back byte for byte, and deleted."""

from __future__ import annotations

import re

import httpx

from tests.factories import make_character, make_project
from tests.unit.test_images import image_bytes, png_claiming, truncated_png

GENERATED = re.compile(r"^[0-9a-f]{16}\.(png|jpg|webp)$")


async def _character(client) -> dict:
    project = await make_project(client)
    character = await make_character(client, project)
    return {**character, "project_slug": project["slug"]}


def _folder(home, character):
    return home / "datasets" / character["project_slug"] / character["slug"] / "reference_images"


def _files_under(home) -> list:
    """Every file the app wrote for datasets (var/ holds the server's own lock file)."""
    return sorted(p for p in (home / "datasets").rglob("*") if p.is_file())


async def _upload(client, character, *files):
    return await client.post(f"/characters/{character['id']}/reference-images",
                             files=[("files", f) for f in files])


async def _state(db) -> tuple[int, int]:
    return (await db.fetchval("SELECT count(*) FROM reference_images"),
            await db.fetchval("SELECT count(*) FROM events WHERE type LIKE 'reference_image.%'"))


async def test_upload_stores_files_under_generated_names_and_serves_them_back(client, db, home):
    """Uploaded images land in datasets/<project>/<character>/reference_images/ under generated
    names with a row each, and are served back byte for byte with their sniffed content type."""
    character = await _character(client)
    png, jpeg = image_bytes("PNG"), image_bytes("JPEG", (20, 10))
    r = await _upload(client, character, ("front.png", png, "image/png"),
                      ("side.jpeg", jpeg, "application/octet-stream"))
    assert r.status_code == 201, r.text
    page = r.json()
    assert page["total"] == 2
    first, second = page["items"]
    assert (first["original_name"], first["content_type"], first["width"], first["height"], first["bytes"]) == (
        "front.png", "image/png", 16, 12, len(png))
    assert (second["original_name"], second["content_type"], second["width"]) == ("side.jpeg", "image/jpeg", 20)
    assert first["url"] == f"reference-images/{first['id']}/file" and first["character_id"] == character["id"]

    folder = _folder(home, character)
    rows = await db.fetch("SELECT id, filename, sha256 FROM reference_images ORDER BY id")
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    on_disk = sorted(p.name for p in folder.iterdir())
    assert on_disk == sorted(r["filename"] for r in rows)
    assert all(GENERATED.match(name) for name in on_disk)
    assert (folder / rows[0]["filename"]).read_bytes() == png

    for item, data, ctype in ((first, png, "image/png"), (second, jpeg, "image/jpeg")):
        served = await client.get(item["url"])
        assert served.status_code == 200 and served.content == data
        assert served.headers["content-type"] == ctype
        assert served.headers["x-content-type-options"] == "nosniff"

    listed = (await client.get(f"/characters/{character['id']}/reference-images")).json()
    assert listed == {"items": [first, second], "total": 2}
    got = (await client.get(f"/characters/{character['id']}")).json()
    assert got["reference_count"] == 2 and got["cover_url"] == first["url"]
    events = await db.fetch("SELECT payload FROM events WHERE type = 'reference_image.added' ORDER BY id")
    assert [e["payload"]["reference_image_id"] for e in events] == [first["id"], second["id"]]
    assert events[0]["payload"]["project_id"] == character["project_id"]


async def test_files_are_served_to_a_viewer_and_with_the_session_cookie(client, client_as, anon):
    """Viewers may fetch the file, and a browser's session cookie works for <img src>."""
    character = await _character(client)
    item = (await _upload(client, character, ("a.webp", image_bytes("WEBP"), "image/webp"))).json()["items"][0]
    async with client_as("viewer") as viewer:
        assert (await viewer.get(item["url"])).status_code == 200
    assert (await anon.get(item["url"])).status_code == 401
    assert (await anon.post("/auth/session", json={"token": client.headers["authorization"][7:]})).status_code == 200
    r = await anon.get(item["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"


async def test_the_same_bytes_twice_reuse_the_row_and_file(client, db, home):
    """Uploading bytes the character already has (again, or twice in one request) adds no row
    and no file; the existing image is returned."""
    character = await _character(client)
    png = image_bytes("PNG")
    first = (await _upload(client, character, ("a.png", png, "image/png"))).json()["items"][0]
    r = await _upload(client, character, ("again.png", png, "image/png"), ("same.png", png, "image/png"))
    assert r.status_code == 201 and r.json() == {"items": [first], "total": 1}
    assert await _state(db) == (1, 1)
    assert len(list(_folder(home, character).iterdir())) == 1
    # another character may hold the same bytes
    other = await make_character(client, await make_project(client))
    assert (await _upload(client, other, ("a.png", png, "image/png"))).json()["items"][0]["id"] != first["id"]


async def test_a_non_image_is_415_and_writes_nothing(client, db, home):
    """Bytes that are not PNG/JPEG/WEBP (whatever the name and content type say) are 415."""
    character = await _character(client)
    for name, data in (("notes.png", b"just text"), ("anim.png", image_bytes("GIF")),
                       ("page.jpg", b"%PDF-1.4 " + b"0" * 200)):
        r = await _upload(client, character, (name, data, "image/png"))
        assert r.status_code == 415 and r.json()["code"] == "not_an_image"
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []


async def test_a_truncated_png_is_415_and_writes_nothing(client, db, home):
    """A PNG cut short has a valid header but is refused as not_an_image."""
    character = await _character(client)
    r = await _upload(client, character, ("cut.png", truncated_png(), "image/png"))
    assert r.status_code == 415 and r.json()["code"] == "not_an_image"
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []


async def test_a_decompression_bomb_is_422_and_writes_nothing(client, db, home):
    """A PNG whose header claims 50000x50000 pixels is refused before decoding."""
    character = await _character(client)
    r = await _upload(client, character, ("bomb.png", png_claiming(50_000, 50_000), "image/png"))
    assert r.status_code == 422 and r.json()["code"] == "decompression_bomb"
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []


async def test_the_pixel_limit_follows_settings(client, settings, db):
    """The bomb limit is settings.max_image_pixels (16x12 = 192 pixels is over a 100 limit)."""
    settings.max_image_pixels = 100
    character = await _character(client)
    r = await _upload(client, character, ("a.png", image_bytes("PNG"), "image/png"))
    assert r.status_code == 422 and r.json()["code"] == "decompression_bomb"
    assert await _state(db) == (0, 0)


async def test_a_file_over_the_size_cap_is_413(client, settings, db, home):
    """A file larger than max_upload_bytes is 413 too_large and nothing is written."""
    settings.max_upload_mb = 1
    character = await _character(client)
    big = image_bytes("PNG") + b"\0" * (1024 * 1024)  # trailing bytes after IEND: a valid PNG, too big
    r = await _upload(client, character, ("big.png", big, "image/png"))
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []


async def test_a_hostile_filename_never_becomes_a_path(client, db, home):
    """`../evil.png` is stored under a generated name inside the character folder and kept only
    as display text."""
    character = await _character(client)
    r = await _upload(client, character, ("../evil.png", image_bytes("PNG"), "image/png"),
                      ("..\\..\\x.png", image_bytes("PNG", colour=(1, 2, 3)), "image/png"))
    assert r.status_code == 201, r.text
    assert [i["original_name"] for i in r.json()["items"]] == ["evil.png", "x.png"]
    files = _files_under(home)
    assert len(files) == 2
    assert all(f.parent == _folder(home, character) and GENERATED.match(f.name) for f in files)
    assert not list(home.parent.glob("**/evil.png"))


async def test_one_bad_file_in_a_multi_upload_writes_nothing(client, db, home):
    """An upload is all or nothing: a bad file anywhere refuses the whole request."""
    character = await _character(client)
    r = await _upload(client, character, ("ok1.png", image_bytes("PNG"), "image/png"),
                      ("ok2.jpg", image_bytes("JPEG"), "image/jpeg"),
                      ("bad.png", b"not an image at all", "image/png"))
    assert r.status_code == 415
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []
    r = await _upload(client, character, ("ok.png", image_bytes("PNG"), "image/png"),
                      ("bomb.png", png_claiming(50_000, 50_000), "image/png"))
    assert r.status_code == 422
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []


async def test_a_failed_insert_leaves_no_file_behind(app, client, db, home):
    """When the database refuses a row, the files already moved into place are removed again."""
    character = await _character(client)
    await db.execute("""
        CREATE FUNCTION refuse_second() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.original_name = 'second.png' THEN RAISE EXCEPTION 'disk quota'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse_second BEFORE INSERT ON reference_images FOR EACH ROW EXECUTE FUNCTION refuse_second();
    """)
    # a client that gets the server's 500 instead of the exception raised into the test
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url, headers=client.headers) as c:
        r = await _upload(c, character, ("first.png", image_bytes("PNG"), "image/png"),
                          ("second.png", image_bytes("PNG", colour=(0, 0, 0)), "image/png"))
    assert r.status_code == 500
    assert await _state(db) == (0, 0)
    assert _files_under(home) == []


async def test_delete_removes_the_row_then_the_file(client, db, home):
    """Deleting a reference image removes its row and its file and emits reference_image.deleted;
    an image of another character is 404 and stays."""
    character = await _character(client)
    items = (await _upload(client, character, ("a.png", image_bytes("PNG"), "image/png"),
                           ("b.png", image_bytes("PNG", colour=(9, 9, 9)), "image/png"))).json()["items"]
    other = await _character(client)
    r = await client.delete(f"/characters/{other['id']}/reference-images/{items[0]['id']}")
    assert r.status_code == 404 and r.json()["code"] == "reference_image_not_found"

    r = await client.delete(f"/characters/{character['id']}/reference-images/{items[0]['id']}")
    assert r.status_code == 204
    assert [row["id"] for row in await db.fetch("SELECT id FROM reference_images")] == [items[1]["id"]]
    assert len(list(_folder(home, character).iterdir())) == 1
    assert (await client.get(items[0]["url"])).status_code == 404
    assert (await client.get(items[1]["url"])).status_code == 200
    got = (await client.get(f"/characters/{character['id']}")).json()
    assert got["reference_count"] == 1 and got["cover_url"] == items[1]["url"]
    event = await db.fetchrow("SELECT payload FROM events WHERE type = 'reference_image.deleted'")
    assert event["payload"] == {"project_id": character["project_id"], "character_id": character["id"],
                                "reference_image_id": items[0]["id"]}
    r = await client.delete(f"/characters/{character['id']}/reference-images/{items[0]['id']}")
    assert r.status_code == 404


async def test_a_row_whose_file_is_gone_is_404_not_500(client, home):
    """Serving a reference image whose file was removed by hand is 404 file_missing."""
    character = await _character(client)
    item = (await _upload(client, character, ("a.png", image_bytes("PNG"), "image/png"))).json()["items"][0]
    for path in _folder(home, character).iterdir():
        path.unlink()
    r = await client.get(item["url"])
    assert r.status_code == 404 and r.json()["code"] == "file_missing"


async def test_upload_requires_files(client):
    """A request without the `files` field is a 422, and a missing character a 404."""
    character = await _character(client)
    r = await client.post(f"/characters/{character['id']}/reference-images", data={"other": "x"})
    assert r.status_code == 422 and r.json()["field"] == "files"
    r = await client.post("/characters/999999/reference-images",
                          files=[("files", ("a.png", image_bytes("PNG"), "image/png"))])
    assert r.status_code == 404
