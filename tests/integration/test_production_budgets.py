"""Cost accounting and budgets: costs per scope, concurrent admission, refused jobs, partial scenes."""

from __future__ import annotations

import asyncio

from packages.production import budgets, costs
from packages.visual_pipeline.jobs import run_generation
from tests.factories import make_character, make_project


async def _generation(db, project, *, character=None, status="queued", kind="image", scene_id=None,
                      gpu_seconds=None, backend_id=None) -> int:
    params = {"prompt": "x", **({"scene_id": scene_id} if scene_id else {}), **({"duration_s": 3} if kind == "video" else {})}
    return await db.fetchval(
        "INSERT INTO generations (project_id, character_id, kind, engine, params, status, gpu_seconds, backend_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        project["id"], character["id"] if character else None, kind, "txt2img" if kind == "image" else "ltx", params,
        status, gpu_seconds, backend_id)


async def _scene(db, project, title="S") -> int:
    return await db.fetchval("INSERT INTO scenes (project_id, position, title) VALUES ($1, 1, $2) RETURNING id",
                             project["id"], title)


async def _episode(db, project, scene_ids) -> int:
    episode_id = await db.fetchval("INSERT INTO episodes (project_id, number, title) VALUES ($1, 1, 'Ep') RETURNING id",
                                   project["id"])
    for position, scene_id in enumerate(scene_ids, start=1):
        await db.execute("INSERT INTO episode_scenes (episode_id, scene_id, position) VALUES ($1, $2, $3)",
                         episode_id, scene_id, position)
    return episode_id


async def test_costs_per_project_episode_scene_and_character(client, db):
    """A generation costs its GPU-seconds x its backend's rate (0 on own hardware); a training run
    its trainer's seconds; totals add up per project, episode, scene and character."""
    project = await make_project(client)
    mio = await make_character(client, project, name="Mio")
    rented = await db.fetchval("INSERT INTO backends (name, url, rate_per_s) VALUES ('r', 'http://r', 0.5) RETURNING id")
    own = await db.fetchval("INSERT INTO backends (name, url) VALUES ('o', 'http://o') RETURNING id")
    in_episode, outside = await _scene(db, project, "A"), await _scene(db, project, "B")
    episode_id = await _episode(db, project, [in_episode])
    await _generation(db, project, character=mio, status="succeeded", scene_id=in_episode, gpu_seconds=10,
                      backend_id=rented)
    await _generation(db, project, status="succeeded", scene_id=outside, gpu_seconds=4, backend_id=own)
    await db.execute("INSERT INTO training_runs (character_id, base_model, params, status, started_at, finished_at) "
                     "VALUES ($1, 'm', '{}', 'succeeded', now() - interval '100 seconds', now())", mio["id"])
    assert await db.fetchval("SELECT gpu_seconds FROM training_runs") == 100
    total = await costs.spend(db, project["id"])
    assert (round(total.gpu_seconds), total.cost) == (114, 5.0)
    episode = await costs.spend(db, project["id"], episode_id)
    assert (episode.gpu_seconds, episode.cost) == (10, 5.0)
    r = await client.get(f"/projects/{project['id']}/costs", params={"by": "scene"})
    assert {row["name"]: (row["gpu_seconds"], row["cost"]) for row in r.json()["rows"]} == {"A": (10, 5.0), "B": (4, 0)}
    r = await client.get(f"/projects/{project['id']}/costs", params={"by": "character"})
    [row] = r.json()["rows"]
    assert (round(row["gpu_seconds"]), row["cost"], row["training_runs"]) == (110, 5.0, 1)
    r = await client.get(f"/projects/{project['id']}/costs", params={"by": "episode"})
    assert [(x["key_id"], x["gpu_seconds"]) for x in r.json()["rows"]] == [(episode_id, 10)]
    assert (await client.get(f"/projects/{project['id']}/costs", params={"by": "nope"})).status_code == 422


async def test_concurrent_jobs_never_overspend_by_more_than_one_estimate(client, app, db):
    """Many generation jobs checking one budget at once are admitted one at a time: what is spent
    plus what is admitted never passes the limit (so real use can exceed it by at most the error of
    one job's estimate), and the budget is used up to within one estimate."""
    project = await make_project(client)
    await _generation(db, project, status="succeeded", gpu_seconds=7)  # history: images take 7 s
    r = await client.put(f"/projects/{project['id']}/budget", json={"unit": "gpu_seconds", "limit": 60})
    assert r.status_code == 200, r.text
    ids = [await _generation(db, project) for _ in range(16)]

    async def admit(gen_id):
        async with app.state.pool.acquire() as conn:
            return await budgets.admit_generation(conn, gen_id)

    verdicts = await asyncio.gather(*(admit(i) for i in ids))
    admitted = sum(v.allowed for v in verdicts)
    reserved = await db.fetchval("SELECT coalesce(sum(estimated_gpu_seconds), 0) FROM generations")
    assert admitted == 7 and reserved == 49  # 7 + 7 x 7 <= 60; an eighth would pass it
    status = (await client.get(f"/projects/{project['id']}/budget")).json()
    assert (status["spent"], status["committed"], status["remaining"]) == (7, 49, 4)
    assert status["forecast"] == 7 + 49 + 9 * 7  # the refused ones are still queued rows here
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'budget.exceeded'") == 9
    assert await db.fetchval("SELECT count(*) FROM events WHERE type = 'budget.warning'") == 1


async def test_a_generation_over_budget_fails_before_it_is_submitted(client, db):
    """The generation job checks the budget first: refused, the generation fails with
    budget_exceeded and nothing reaches a backend."""
    project = await make_project(client)
    await client.put(f"/projects/{project['id']}/budget", json={"unit": "money", "limit": 1})
    await db.execute("INSERT INTO backends (name, url, rate_per_s) VALUES ('r', 'http://127.0.0.1:9', 1)")
    gen_id = await _generation(db, project)  # about 20 s x 1 per s = 20 > 1
    await run_generation(generation_id=gen_id)
    row = await db.fetchrow("SELECT status, error_code, backend_id, attempts FROM generations WHERE id = $1", gen_id)
    assert (row["status"], row["error_code"], row["backend_id"], row["attempts"]) == ("failed", "budget_exceeded", None, 0)


async def test_scene_stops_at_the_last_finished_shot_when_the_next_would_exceed(client, db):
    """A scene whose next shot would pass the episode's budget stops there, marked partial, with the
    finished shots kept and the step saying why."""
    from packages.scene_generation.progressive import run_scene

    project = await make_project(client)
    scene_id = await _scene(db, project)
    await db.execute("UPDATE scenes SET status = 'queued' WHERE id = $1", scene_id)
    await db.execute("INSERT INTO shots (scene_id, position, status) VALUES ($1, 1, 'done'), ($1, 2, 'pending')",
                     scene_id)
    episode_id = await _episode(db, project, [scene_id])
    r = await client.put(f"/episodes/{episode_id}/budget", json={"unit": "gpu_seconds", "limit": 10})
    assert r.status_code == 200, r.text
    await run_scene(scene_id)  # a 3 s shot is about 90 GPU-s
    scene = await db.fetchrow("SELECT status, step FROM scenes WHERE id = $1", scene_id)
    assert scene["status"] == "partial" and "after 1 of 2 shots" in scene["step"] and "budget" in scene["step"]
    assert await db.fetchval("SELECT count(*) FROM generations") == 0
    assert (await client.get(f"/scenes/{scene_id}")).json()["status"] == "partial"


async def test_budget_routes_check_input_and_roles(client, client_as):
    """Setting a budget needs a director; a bad unit or limit is a 422 that changes nothing."""
    project = await make_project(client)
    for body in ({"unit": "coins", "limit": 5}, {"unit": "money", "limit": 0}, {"unit": "money"}):
        r = await client.put(f"/projects/{project['id']}/budget", json=body)
        assert r.status_code == 422, body
    assert (await client.get(f"/projects/{project['id']}/budget")).json()["budget"] is None
    async with client_as("viewer") as viewer:
        r = await viewer.put(f"/projects/{project['id']}/budget", json={"unit": "money", "limit": 5})
        assert r.status_code == 403
        assert (await viewer.get(f"/projects/{project['id']}/budget")).status_code == 200
    assert (await client.put("/projects/999999/budget", json={"unit": "money", "limit": 5})).status_code == 404
    assert (await client.delete(f"/projects/{project['id']}/budget")).json()["code"] == "budget_not_found"


async def test_backend_rate_is_set_through_the_api_and_prices_generations(client, db):
    """A backend's rate per GPU-second is set by PATCH (never negative) and prices what it runs."""
    project = await make_project(client)
    backend_id = await db.fetchval("INSERT INTO backends (name, url) VALUES ('r', 'http://r') RETURNING id")
    r = await client.patch(f"/backends/{backend_id}", json={"rate_per_s": 0.25})
    assert r.status_code == 200 and r.json()["rate_per_s"] == 0.25
    assert (await client.patch(f"/backends/{backend_id}", json={"rate_per_s": -1})).status_code == 422
    gen_id = await _generation(db, project, status="running", backend_id=backend_id)
    await db.execute("UPDATE generations SET gpu_seconds = 8, status = 'succeeded' WHERE id = $1", gen_id)
    assert await db.fetchval("SELECT cost FROM generations WHERE id = $1", gen_id) == 2


async def test_a_finished_training_run_is_priced_at_the_training_rate(client, db, settings):
    """A training run's GPU-seconds are its trainer's wall time, priced at
    ANIME_STUDIO_TRAINING_RATE_PER_S once it ends."""
    from packages.core.db import transaction
    from packages.lora_training.events import TrainingFailed
    from packages.production import webhooks

    settings.training_rate_per_s = 0.01
    project = await make_project(client)
    mio = await make_character(client, project)
    run_id = await db.fetchval(
        "INSERT INTO training_runs (character_id, base_model, params, status, started_at) "
        "VALUES ($1, 'm', '{}', 'running', now() - interval '50 seconds') RETURNING id", mio["id"])
    assert 49 < (await costs.spend(db, project["id"])).gpu_seconds < 60  # running: its seconds so far
    await db.execute("UPDATE training_runs SET status = 'failed', finished_at = started_at + interval '50 seconds' "
                     "WHERE id = $1", run_id)
    async with transaction(db) as tx:
        await tx.emit(TrainingFailed(project_id=project["id"], character_id=mio["id"], run_id=run_id, error="x"))
    await webhooks.drain()
    row = await db.fetchrow("SELECT gpu_seconds, cost FROM training_runs WHERE id = $1", run_id)
    assert (row["gpu_seconds"], float(row["cost"])) == (50, 0.5)
