"""`anime-studio generate`: submit generations through the same service as the API and follow
them to the end; with --duration (and no --video), a whole clip: shots planned from the prompt
(packages/scene_generation/clip.py), rendered across the farm as one scene, assembled, and the
output path printed. When no worker is alive (no server running, or it stops), this process
works the jobs."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from packages.core.errors import DomainError
from packages.core.jobs import runtime
from packages.core.settings import Settings
from packages.visual_pipeline import queries, service
from packages.visual_pipeline.schemas import GenerationCreate
from src.cli_jobs import job_runtime, worked_here_if_unattended

TERMINAL = ("succeeded", "failed", "cancelled")
FOLLOWED_EVENTS = frozenset({"generation.submitted", "generation.progress", "generation.retrying",
                             "generation.completed", "generation.failed", "generation.cancelled"})


async def _resolve(conn, project: str | None, character: str | None) -> dict:
    if project:
        project_id = await conn.fetchval("SELECT id FROM projects WHERE slug = $1", project)
        if project_id is None:
            raise DomainError(f"No project with the slug '{project}'")
    else:
        rows = await conn.fetch("SELECT id, slug FROM projects WHERE status <> 'archived' ORDER BY slug")
        if len(rows) != 1:
            raise DomainError("Name the project with --project (one of: "
                              f"{', '.join(r['slug'] for r in rows) or 'none yet'})")
        project_id = rows[0]["id"]
    if not character:
        return {"project_id": project_id}
    character_id = await conn.fetchval("SELECT id FROM characters WHERE project_id = $1 AND slug = $2",
                                       project_id, character)
    if character_id is None:
        raise DomainError(f"The project has no character with the slug '{character}'")
    return {"character_id": character_id}


async def run_generate(url: str, settings: Settings, **options) -> int:
    if options.get("clip_s") is not None:
        return await _with_worker(url, settings, lambda conn: _clip(conn, settings, options))
    return await _with_worker(url, settings, lambda conn: _generations(conn, settings, options))


async def _generations(conn, settings: Settings, options: dict):
    """Creates the generations; returns the follower to run once a worker is sure to work them."""
    subject = await _resolve(conn, options["project"], options["character"])
    body = GenerationCreate(**subject, prompt=options["prompt"], count=options["count"], seed=options["seed"],
                            kind="video" if options["video"] else "image",
                            source_output_id=options["source"], duration_s=options["duration"])
    ids = await service.create_generations(conn, settings, body)
    return lambda: _follow(conn, settings, ids)


async def _clip(conn, settings: Settings, options: dict):
    from packages.scene_generation import clip
    from packages.scene_generation import queries as scene_queries
    from packages.scene_generation.service import start_generation

    if not options["prompt"].strip():
        raise DomainError("Say what the clip shows: anime-studio generate \"warrior in a forest\" --duration 30")
    subject = await _resolve(conn, options["project"], options["character"])
    project_id = subject.get("project_id") or await conn.fetchval(
        "SELECT project_id FROM characters WHERE id = $1", subject["character_id"])
    shots, how = await clip.plan(settings, options["prompt"], options["clip_s"])
    scene_id = await clip.create_scene(conn, project_id, options["prompt"], shots, subject.get("character_id"))
    typer.echo(f"scene {scene_id}: {len(shots)} shots ({', '.join(f'{s.duration_s:g} s' for s in shots)}), {how}")
    await start_generation(conn, await scene_queries.get_scene(conn, scene_id))
    return lambda: _follow_scene(conn, settings, scene_id)


async def _with_worker(url: str, settings: Settings, submit) -> int:
    async with job_runtime(url, settings, pool_size=4) as (pool, job_app), pool.acquire() as conn:
        try:
            follow = await submit(conn)
        except DomainError as exc:
            typer.secho(f"error: {exc.detail}", fg="red", err=True)
            return 2
        except ValidationError as exc:
            typer.secho(f"error: {exc.errors()[0]['loc'][-1]}: {exc.errors()[0]['msg']}", fg="red", err=True)
            return 2
        async with worked_here_if_unattended(pool, job_app, settings, name="cli-generate",
                                             concurrency=settings.worker_concurrency):
            return await follow()


async def _follow(conn, settings: Settings, ids: list[int]) -> int:
    shown: dict[int, tuple] = {}
    while True:
        rows = [await queries.get_generation(conn, i) for i in ids]
        for gen in rows:
            state = (gen["status"], round(gen["progress"] * 100), gen["step"])
            if shown.get(gen["id"]) != state:
                shown[gen["id"]] = state
                typer.echo(f"generation {gen['id']}: {gen['status']:<9} {state[1]:>3}%  {gen['step']}")
        if all(g["status"] in TERMINAL for g in rows):
            break
        await runtime.wait_for_change(FOLLOWED_EVENTS, timeout=1.0)
    failed = 0
    for gen in rows:
        if gen["status"] == "succeeded":
            for output_id in gen["outputs"]:
                path = await conn.fetchval("SELECT path FROM outputs WHERE id = $1", output_id)
                typer.echo(f"output {output_id}: {settings.home / path}")
        else:
            failed += 1
            typer.secho(f"generation {gen['id']} {gen['status']}: {gen['error'] or ''}", fg="red", err=True)
    return 1 if failed else 0


SCENE_EVENTS = frozenset({"scene.progress", "scene.completed", "scene.failed", "scene.cancelled", "shot.progress"})


async def _follow_scene(conn, settings: Settings, scene_id: int) -> int:
    from packages.scene_generation import queries as scene_queries

    shown = None
    while True:
        scene = await scene_queries.get_scene(conn, scene_id)
        state = (scene["status"], round(scene["progress"] * 100), scene["step"])
        if state != shown:
            shown = state
            typer.echo(f"scene {scene_id}: {scene['status']:<10} {state[1]:>3}%  {scene['step']}")
        if scene["status"] in ("done", "failed", "cancelled"):
            break
        await runtime.wait_for_change(SCENE_EVENTS, timeout=1.0)
    if scene["status"] != "done":
        typer.secho(f"scene {scene_id} {scene['status']}: {scene['error'] or ''}", fg="red", err=True)
        return 1
    typer.echo(f"output: {settings.home / scene['output_path']}")
    return 0
