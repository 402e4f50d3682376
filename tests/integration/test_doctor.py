"""`anime-studio doctor` (packages/core/doctor.py): every row that names a file whose file is gone is
reported as missing, every file under datasets/ and output/ that no row names as an orphan; caches
and the scratch files of live shots and training runs are not defects."""

from __future__ import annotations

import io

from PIL import Image

from packages.core.doctor import examine
from tests.factories import make_character, make_project


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (seed, 90, 160)).save(out, "PNG")
    return out.getvalue()


async def _output(db, home, project, relative: str, *, write: bool, thumbnail: str | None = None) -> int:
    if write:
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_bytes(png(1))
    return await db.fetchval(
        "INSERT INTO outputs (project_id, kind, path, thumbnail, width, height, bytes, sha256) "
        "VALUES ($1, 'image', $2, $3, 64, 64, 1, $2) RETURNING id", project["id"], relative, thumbnail)


async def test_a_consistent_home_is_ok(client, db, home, settings):
    """Rows with their files (an output, a reference image uploaded through the API) and caches
    (speech, previews) give no problem."""
    project = await make_project(client)
    character = await make_character(client, project)
    r = await client.post(f"/characters/{character['id']}/reference-images",
                          files=[("files", ("sheet.png", png(7), "image/png"))])
    assert r.status_code == 201, r.text
    await _output(db, home, project, f"output/{project['slug']}/images/a.png", write=True)
    for cache in ("output/audio/speech/abc.wav", "output/previews/gen1.jpg"):
        (home / cache).parent.mkdir(parents=True, exist_ok=True)
        (home / cache).write_bytes(b"cache")
    report = await examine(db, settings)
    assert report.ok, report.problems
    assert report.rows_checked >= 2 and report.files_checked == 2


async def test_rows_without_files_and_files_without_rows_are_reported(client, db, home, settings):
    """A deleted output file, a deleted reference image file and a scene whose video is gone are
    'missing' with their row; a stray file in output/ and one in a dataset's images/ are 'orphans';
    a leftover attempt frame of a shot that no longer exists is an orphan too."""
    project = await make_project(client)
    character = await make_character(client, project)
    r = await client.post(f"/characters/{character['id']}/reference-images",
                          files=[("files", ("sheet.png", png(9), "image/png"))])
    ref = r.json()["items"][0]
    ref_file = home / "datasets" / project["slug"] / character["slug"] / "reference_images"
    [stored] = list(ref_file.iterdir())
    stored.unlink()
    gone = await _output(db, home, project, f"output/{project['slug']}/videos/gen1.mp4", write=False)
    scene_id = await db.fetchval("INSERT INTO scenes (project_id, position, title, output_path, status) "
                                 "VALUES ($1, 1, 'S', $2, 'done') RETURNING id", project["id"],
                                 f"output/{project['slug']}/scenes/scene1/scene.mp4")
    stray = home / "output" / project["slug"] / "images" / "stray.png"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(png(3))
    dataset = home / "datasets" / project["slug"] / character["slug"] / "images"
    dataset.mkdir(parents=True)
    (dataset / "lost.png").write_bytes(png(4))
    (dataset / "lost.txt").write_text("a caption is written from the rows, not listed")
    frame = home / "output" / project["slug"] / "scenes" / "scene1" / "shot999_a1_last.png"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(png(5))

    report = await examine(db, settings)
    missing = {(p.category, p.row_id, p.column) for p in report.problems if p.kind == "missing"}
    assert missing == {("outputs", gone, "path"), ("reference_images", ref["id"], "filename"),
                       ("scenes", scene_id, "output_path")}
    orphans = {p.path for p in report.problems if p.kind == "orphan"}
    assert orphans == {str(stray.relative_to(home)), str((dataset / "lost.png").relative_to(home)),
                       str(frame.relative_to(home))}
    assert not report.ok and report.as_dict()["missing"] == 3 and report.as_dict()["orphans"] == 3


async def test_scratch_of_a_live_shot_is_not_an_orphan(client, db, home, settings):
    """The scoring frame of an attempt not kept belongs to its shot while the shot exists."""
    project = await make_project(client)
    scene_id = await db.fetchval("INSERT INTO scenes (project_id, position, title) VALUES ($1, 1, 'S') RETURNING id",
                                 project["id"])
    shot_id = await db.fetchval("INSERT INTO shots (scene_id, position) VALUES ($1, 1) RETURNING id", scene_id)
    frame = home / "output" / project["slug"] / "scenes" / f"scene{scene_id}" / f"shot{shot_id}_a2_last.png"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(png(6))
    assert (await examine(db, settings)).ok
    await db.execute("DELETE FROM shots WHERE id = $1", shot_id)
    assert [p.path for p in (await examine(db, settings)).problems] == [str(frame.relative_to(home))]
