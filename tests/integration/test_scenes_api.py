"""Scenes and shots through the API: CRUD, shots ordered by position operations only, references
checked against the project, busy scenes locked, presets, permissions and clear 4xx errors."""

from __future__ import annotations

from tests.factories import make_character, make_project, make_style


async def scene_with_shots(client, n: int = 3, **scene_fields) -> tuple[dict, list[dict]]:
    style = await make_style(client)
    project = await make_project(client, default_style_id=style["id"])
    r = await client.post("/scenes", json={"project_id": project["id"], "title": "Rooftop", **scene_fields})
    assert r.status_code == 201, r.text
    scene = r.json()
    shots = []
    for i in range(n):
        r = await client.post(f"/scenes/{scene['id']}/shots", json={"prompt": f"shot {i + 1}"})
        assert r.status_code == 201, r.text
        shots.append(r.json())
    return scene, shots


async def prompts(client, scene_id: int) -> list[str]:
    detail = (await client.get(f"/scenes/{scene_id}")).json()
    assert [s["position"] for s in detail["shots"]] == list(range(1, len(detail["shots"]) + 1))
    return [s["prompt"] for s in detail["shots"]]


async def test_scene_and_shots_round_trip(client):
    """A scene keeps its fields; shots come back in order with their defaults and file links empty."""
    scene, shots = await scene_with_shots(client, 2, mood="tense", location="rooftop", target_duration_s=12)
    assert scene["status"] == "draft" and scene["position"] == 1 and scene["mood"] == "tense"
    assert [s["position"] for s in shots] == [1, 2]
    assert shots[0]["transition"] == "dissolve" and shots[0]["transition_s"] == 0.3
    assert shots[0]["status"] == "pending" and shots[0]["video_url"] is None and shots[0]["attempts"] == []
    detail = (await client.get(f"/scenes/{scene['id']}")).json()
    assert detail["shot_count"] == 2 and detail["publishable"] is False
    page = (await client.get("/scenes", params={"project_id": scene["project_id"]})).json()
    assert page["total"] == 1 and page["items"][0]["id"] == scene["id"]
    r = await client.patch(f"/scenes/{scene['id']}", json={"weather": "rain", "target_duration_s": None})
    assert r.status_code == 200 and r.json()["weather"] == "rain" and r.json()["target_duration_s"] is None


async def test_shots_move_by_position_and_keep_the_others_in_order(client):
    """Moving one shot shifts only those between; inserting at a position opens a gap; deleting closes it."""
    scene, shots = await scene_with_shots(client, 4)
    sid = scene["id"]
    r = await client.post(f"/scenes/{sid}/shots/{shots[3]['id']}/move", params={"position": 1})
    assert r.status_code == 200, r.text
    assert [s["prompt"] for s in r.json()] == ["shot 4", "shot 1", "shot 2", "shot 3"]
    r = await client.post(f"/scenes/{sid}/shots/{shots[3]['id']}/move", params={"position": 3})
    assert [s["prompt"] for s in r.json()] == ["shot 1", "shot 2", "shot 4", "shot 3"]
    r = await client.post(f"/scenes/{sid}/shots", json={"prompt": "inserted", "position": 2})
    assert r.status_code == 201 and r.json()["position"] == 2
    assert await prompts(client, sid) == ["shot 1", "inserted", "shot 2", "shot 4", "shot 3"]
    assert (await client.delete(f"/scenes/{sid}/shots/{shots[1]['id']}")).status_code == 204
    assert await prompts(client, sid) == ["shot 1", "inserted", "shot 4", "shot 3"]


async def test_bad_positions_and_references_are_refused_and_change_nothing(client):
    """Out-of-range positions, foreign characters and non-image sources are 422 with a code."""
    scene, shots = await scene_with_shots(client, 2)
    sid = scene["id"]
    r = await client.post(f"/scenes/{sid}/shots/{shots[0]['id']}/move", params={"position": 3})
    assert r.status_code == 422 and r.json()["code"] == "bad_position"
    r = await client.post(f"/scenes/{sid}/shots", json={"position": 9})
    assert r.status_code == 422 and r.json()["code"] == "bad_position"
    other = await make_character(client, await make_project(client))
    r = await client.patch(f"/scenes/{sid}/shots/{shots[0]['id']}", json={"character_ids": [other["id"]]})
    assert r.status_code == 422 and r.json()["code"] == "character_not_found"
    r = await client.post(f"/scenes/{sid}/shots", json={"source_output_id": 999})
    assert r.status_code == 422 and r.json()["code"] == "no_source_image"
    r = await client.post(f"/scenes/{sid}/shots", json={"shot_type": "dutch", "duration_s": 30})
    assert r.status_code == 422
    assert await prompts(client, sid) == ["shot 1", "shot 2"]
    r = await client.get(f"/scenes/{sid}/shots/{shots[0]['id'] + 1000}/video")
    assert r.status_code == 404 and r.json()["code"] == "shot_not_found"
    r = await client.get(f"/scenes/{sid}/shots/{shots[0]['id']}/video")
    assert r.status_code == 404 and r.json()["code"] == "no_file"


async def test_a_generating_scene_cannot_be_edited(client, db):
    """While a scene is queued or generating its shots cannot change (409 scene_busy); cancel frees it."""
    scene, shots = await scene_with_shots(client, 2)
    sid = scene["id"]
    await db.execute("UPDATE scenes SET status = 'generating' WHERE id = $1", sid)
    for r in (await client.patch(f"/scenes/{sid}", json={"title": "x"}),
              await client.post(f"/scenes/{sid}/shots/{shots[0]['id']}/move", params={"position": 2}),
              await client.delete(f"/scenes/{sid}/shots/{shots[0]['id']}"),
              await client.post(f"/scenes/{sid}/generate")):
        assert r.status_code == 409 and r.json()["code"] == "scene_busy", r.text
    r = await client.post(f"/scenes/{sid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await client.post(f"/scenes/{sid}/cancel")).json()["code"] == "scene_not_running"
    assert (await client.post(f"/scenes/{sid}/shots/{shots[0]['id']}/move", params={"position": 2})).status_code == 200


async def test_generate_needs_shots_and_a_start(client):
    """No shots: 409 no_shots; a first shot with no source, prompt or character: 422 no_start_image."""
    scene, _ = await scene_with_shots(client, 0)
    r = await client.post(f"/scenes/{scene['id']}/generate")
    assert r.status_code == 409 and r.json()["code"] == "no_shots"
    await client.post(f"/scenes/{scene['id']}/shots", json={})
    r = await client.post(f"/scenes/{scene['id']}/generate")
    assert r.status_code == 422 and r.json()["code"] == "no_start_image"
    assert (await client.get(f"/scenes/{scene['id']}")).json()["status"] == "draft"


async def test_presets_are_the_six_shot_types(client):
    """Six presets, each with curated motion prompts and an animatic camera move."""
    presets = (await client.get("/scenes/presets")).json()
    assert [p["shot_type"] for p in presets] == ["establishing", "wide", "medium", "close-up", "extreme-close-up",
                                                 "action"]
    assert all(len(p["motion_prompts"]) >= 2 for p in presets)
    assert {p["animatic_motion"] for p in presets} == {"push-in", "pan", "tilt", "shake"}


async def test_viewers_read_and_directors_write(client, client_as):
    """A viewer can list scenes but not create or change them."""
    scene, _ = await scene_with_shots(client, 1)
    async with client_as("viewer") as viewer:
        assert (await viewer.get(f"/scenes/{scene['id']}")).status_code == 200
        r = await viewer.post("/scenes", json={"project_id": scene["project_id"], "title": "x"})
        assert r.status_code == 403
        assert (await viewer.post(f"/scenes/{scene['id']}/generate")).status_code == 403
