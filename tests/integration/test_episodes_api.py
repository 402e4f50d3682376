"""Episodes through the API: CRUD with numbers unique per project, scenes as an ordered collection
(add at a position, remove, move, reorder of exactly the current set), concurrent edits never
losing one, roles, and bad input refused with a clear 4xx that changes nothing."""

from __future__ import annotations

import asyncio

from tests.factories import make_project


async def episode_with_scenes(client, n: int = 3) -> tuple[dict, dict, list[dict]]:
    project = await make_project(client)
    r = await client.post("/episodes", json={"project": project["slug"], "title": "Pilot"})
    assert r.status_code == 201, r.text
    scenes = []
    for i in range(n):
        r = await client.post("/scenes", json={"project_id": project["id"], "title": f"scene {i + 1}"})
        assert r.status_code == 201, r.text
        scenes.append(r.json())
    episode = await first_episode(client, project)
    for scene in scenes:
        r = await client.post(f"/episodes/{episode['id']}/scenes/{scene['id']}")
        assert r.status_code == 200, r.text
    return project, episode, scenes


async def first_episode(client, project: dict) -> dict:
    return (await client.get("/episodes", params={"project": project["slug"]})).json()["items"][0]


async def titles(client, episode_id: int) -> list[str]:
    detail = (await client.get(f"/episodes/{episode_id}")).json()
    assert [s["position"] for s in detail["scenes"]] == list(range(1, len(detail["scenes"]) + 1))
    return [s["title"] for s in detail["scenes"]]


async def test_episode_round_trip_and_numbering(client):
    """Numbers default to the project's highest + 1, are unique per project (409) and editable."""
    project = await make_project(client)
    r = await client.post("/episodes", json={"project": project["slug"], "title": "Pilot", "story_arc": "Arc 1"})
    assert r.status_code == 201 and r.json()["number"] == 1 and r.json()["status"] == "draft"
    first = r.json()
    assert first["output_url"] is None and first["scene_count"] == 0 and first["story_arc"] == "Arc 1"
    r = await client.post("/episodes", json={"project": project["slug"], "title": "Two", "number": 5})
    assert r.status_code == 201 and r.json()["number"] == 5
    r = await client.post("/episodes", json={"project": project["slug"], "title": "Next"})
    assert r.json()["number"] == 6
    r = await client.post("/episodes", json={"project": project["slug"], "title": "Dup", "number": 5})
    assert r.status_code == 409 and r.json()["code"] == "episode_number_taken"
    r = await client.patch(f"/episodes/{first['id']}", json={"number": 6})
    assert r.status_code == 409 and r.json()["code"] == "episode_number_taken"
    r = await client.patch(f"/episodes/{first['id']}", json={"title": "The Pilot", "description": "It begins"})
    assert r.status_code == 200 and r.json()["title"] == "The Pilot" and r.json()["number"] == 1
    other = await make_project(client)
    r = await client.post("/episodes", json={"project": other["slug"], "title": "Elsewhere", "number": 5})
    assert r.status_code == 201
    page = (await client.get("/episodes", params={"project": project["slug"]})).json()
    assert page["total"] == 3 and [e["number"] for e in page["items"]] == [1, 5, 6]
    assert (await client.delete(f"/episodes/{first['id']}")).status_code == 204
    assert (await client.get(f"/episodes/{first['id']}")).json()["code"] == "episode_not_found"


async def test_scenes_are_added_moved_removed_and_reordered_by_position(client):
    """Insert at a position opens a gap, removing closes it, a move shifts only those between, a
    reorder must name exactly the current scenes (else 409 stale_order)."""
    project, episode, scenes = await episode_with_scenes(client, 3)
    eid = episode["id"]
    assert await titles(client, eid) == ["scene 1", "scene 2", "scene 3"]
    r = await client.post("/scenes", json={"project_id": project["id"], "title": "inserted"})
    r = await client.post(f"/episodes/{eid}/scenes/{r.json()['id']}", params={"position": 2})
    assert r.status_code == 200 and [s["title"] for s in r.json()["scenes"]][:2] == ["scene 1", "inserted"]
    r = await client.post(f"/episodes/{eid}/scenes/{scenes[2]['id']}/move", params={"position": 1})
    assert r.status_code == 200
    assert await titles(client, eid) == ["scene 3", "scene 1", "inserted", "scene 2"]
    r = await client.delete(f"/episodes/{eid}/scenes/{scenes[0]['id']}")
    assert r.status_code == 200 and r.json()["scene_count"] == 3
    assert await titles(client, eid) == ["scene 3", "inserted", "scene 2"]
    ids = [s["scene_id"] for s in (await client.get(f"/episodes/{eid}")).json()["scenes"]]
    r = await client.put(f"/episodes/{eid}/reorder", json={"scene_ids": ids[::-1]})
    assert r.status_code == 200 and await titles(client, eid) == ["scene 2", "inserted", "scene 3"]
    r = await client.put(f"/episodes/{eid}/reorder", json={"scene_ids": ids[:2]})
    assert r.status_code == 409 and r.json()["code"] == "stale_order"
    r = await client.put(f"/episodes/{eid}/reorder", json={"scene_ids": [ids[0], ids[0], ids[1]]})
    assert r.status_code == 409 and r.json()["code"] == "stale_order"
    assert await titles(client, eid) == ["scene 2", "inserted", "scene 3"]


async def test_a_deleted_scene_leaves_no_gap(client):
    """Deleting a scene drops it from the episode; the next edit sees positions 1..n again."""
    project, episode, scenes = await episode_with_scenes(client, 3)
    assert (await client.delete(f"/scenes/{scenes[1]['id']}")).status_code == 204
    r = await client.post(f"/episodes/{episode['id']}/scenes/{scenes[2]['id']}/move", params={"position": 1})
    assert r.status_code == 200, r.text
    assert await titles(client, episode["id"]) == ["scene 3", "scene 1"]


async def test_bad_input_is_refused_and_changes_nothing(client):
    """Foreign scenes 422, duplicates 409, unknown ids 404, bad positions 422, bad bodies 422."""
    project, episode, scenes = await episode_with_scenes(client, 2)
    eid = episode["id"]
    other = await make_project(client)
    foreign = (await client.post("/scenes", json={"project_id": other["id"], "title": "foreign"})).json()
    r = await client.post(f"/episodes/{eid}/scenes/{foreign['id']}")
    assert r.status_code == 422 and r.json()["code"] == "scene_other_project"
    r = await client.post(f"/episodes/{eid}/scenes/{scenes[0]['id']}")
    assert r.status_code == 409 and r.json()["code"] == "scene_in_episode"
    r = await client.post(f"/episodes/{eid}/scenes/999999")
    assert r.status_code == 404 and r.json()["code"] == "scene_not_found"
    loose = (await client.post("/scenes", json={"project_id": project["id"], "title": "loose"})).json()
    r = await client.post(f"/episodes/{eid}/scenes/{loose['id']}", params={"position": 9})
    assert r.status_code == 422 and r.json()["code"] == "bad_position"
    r = await client.post(f"/episodes/{eid}/scenes/{scenes[0]['id']}/move", params={"position": 3})
    assert r.status_code == 422 and r.json()["code"] == "bad_position"
    r = await client.delete(f"/episodes/{eid}/scenes/{loose['id']}")
    assert r.status_code == 404 and r.json()["code"] == "scene_not_in_episode"
    for body in ({"project": project["slug"], "title": ""}, {"project": "Bad Slug!", "title": "x"},
                 {"project": project["slug"], "title": "x", "number": 0}, {"project": project["slug"], "title": "x",
                                                                          "extra": 1}):
        r = await client.post("/episodes", json=body)
        assert r.status_code == 422 and r.json()["code"], body
    r = await client.post("/episodes", json={"project": "no-such-project", "title": "x"})
    assert r.status_code == 404 and r.json()["code"] == "project_not_found"
    r = await client.patch(f"/episodes/{eid}", json={"status": "published"})
    assert r.status_code == 422
    r = await client.patch(f"/episodes/{eid}", json={"status": "assembled"})
    assert r.status_code == 409 and r.json()["code"] == "not_assembled"
    r = await client.patch(f"/episodes/{eid}", json={"title": None})
    assert r.status_code == 422
    r = await client.post(f"/episodes/{eid}/assemble", json={"fade_s": 5})
    assert r.status_code == 422
    r = await client.post(f"/episodes/{eid}/assemble", json={})
    assert r.status_code == 409 and r.json()["code"] == "scene_not_assembled"
    r = await client.get(f"/episodes/{eid}/video")
    assert r.status_code == 404 and r.json()["code"] == "not_assembled"
    r = await client.get(f"/episodes/{eid}/export", params={"format": "avi"})
    assert r.status_code == 422
    r = await client.post(f"/episodes/{eid}/publish", json={"link_mode": "move"})
    assert r.status_code == 422
    r = await client.post(f"/episodes/{eid}/publish", json={})
    assert r.status_code == 409 and r.json()["code"] == "no_library"
    assert (await client.get("/episodes", params={"project": project["slug"]})).json()["total"] == 1
    after = (await client.get(f"/episodes/{eid}")).json()
    assert after["status"] == "draft" and after["title"] == "Pilot" and await titles(client, eid) == ["scene 1", "scene 2"]


async def test_concurrent_edits_keep_one_consistent_order(client):
    """Many adds, moves, removes and reorders at once: each is applied whole, positions stay 1..n
    with no duplicates, and every add that succeeded is there unless a later remove took it."""
    project, episode, scenes = await episode_with_scenes(client, 4)
    eid = episode["id"]
    extra = [(await client.post("/scenes", json={"project_id": project["id"], "title": f"extra {i}"})).json()
             for i in range(8)]
    ids = [s["id"] for s in scenes]

    async def reorder():
        return await client.put(f"/episodes/{eid}/reorder", json={"scene_ids": ids[::-1]})

    calls = [client.post(f"/episodes/{eid}/scenes/{s['id']}", params={"position": 1}) for s in extra]
    calls += [client.post(f"/episodes/{eid}/scenes/{ids[i % 3]}/move", params={"position": 1 + i % 3})
              for i in range(8)]
    calls += [client.delete(f"/episodes/{eid}/scenes/{ids[3]}")]
    calls += [reorder() for _ in range(4)]
    results = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 409) for r in results), [r.text for r in results if r.status_code >= 400]
    assert all(r.status_code == 200 for r in results[:8])  # every add landed
    assert all(r.status_code == 409 and r.json()["code"] == "stale_order" for r in results[-4:] if r.status_code != 200)
    detail = (await client.get(f"/episodes/{eid}")).json()
    got = [s["scene_id"] for s in detail["scenes"]]
    assert [s["position"] for s in detail["scenes"]] == list(range(1, len(got) + 1))
    assert sorted(got) == sorted(ids[:3] + [s["id"] for s in extra]) and detail["scene_count"] == 11


async def test_roles(client_as, client):
    """A viewer reads episodes but cannot create, edit, assemble or publish them (403)."""
    project, episode, _ = await episode_with_scenes(client, 1)
    async with client_as("viewer") as viewer:
        assert (await viewer.get(f"/episodes/{episode['id']}")).status_code == 200
        assert (await viewer.get("/jellyfin/health")).status_code == 200
        r = await viewer.post("/episodes", json={"project": project["slug"], "title": "x"})
        assert r.status_code == 403
        for call in (viewer.patch(f"/episodes/{episode['id']}", json={"title": "y"}),
                     viewer.post(f"/episodes/{episode['id']}/assemble", json={}),
                     viewer.post(f"/episodes/{episode['id']}/publish", json={}),
                     viewer.delete(f"/episodes/{episode['id']}")):
            assert (await call).status_code == 403
    assert (await client.get(f"/episodes/{episode['id']}")).json()["title"] == "Pilot"
