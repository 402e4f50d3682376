"""The `anime-studio` command."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from packages.core.errors import StartupError
from packages.core.settings import get_settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Anime Studio: run, migrate and inspect the studio.")
token_cli = typer.Typer(no_args_is_help=True, help="API tokens.")
cli.add_typer(token_cli, name="token")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)


def _prepare(server: bool):
    from packages.core.startup import prepare

    try:
        return prepare(get_settings(), server=server)
    except StartupError as exc:
        _fail(str(exc))


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides ANIME_STUDIO_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides ANIME_STUDIO_PORT")] = None,
    root_path: Annotated[str | None, typer.Option(help="Sub-path to serve under, e.g. /anime-studio "
                                                        "(overrides ANIME_STUDIO_ROOT_PATH)")] = None,
) -> None:
    """Run the API, the UI and an in-process job worker."""
    import os

    import uvicorn

    if host:
        os.environ["ANIME_STUDIO_HOST"] = host
    if port:
        os.environ["ANIME_STUDIO_PORT"] = str(port)
    if root_path is not None:
        os.environ["ANIME_STUDIO_ROOT_PATH"] = root_path.rstrip("/")
    get_settings.cache_clear()
    settings = get_settings()
    prepared = _prepare(server=True)
    from src.app import create_app

    app = create_app(settings, prepared)

    def announce(app) -> None:  # called by the lifespan once the pool and first token exist
        base = f"http://{settings.host}:{settings.port}{settings.root_path}/"
        token = app.state.first_start_token
        if token:
            typer.secho(f"\nAnime Studio is ready. Open this URL (it signs you in as admin):\n\n    {base}?token={token}\n",
                        fg="green")
        else:
            typer.secho(f"\nAnime Studio is ready at {base}  (sign in with your token; "
                        "`anime-studio token create --role admin` makes a new one)\n", fg="green")

    app.state.on_ready = announce

    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, proxy_headers=True)
    finally:
        prepared.close()


@cli.command()
def worker(
    queue: Annotated[list[str] | None, typer.Option("--queue", "-q", help="Queues to take jobs from (default: all)")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once (default ANIME_STUDIO_WORKER_CONCURRENCY)")] = None,
) -> None:
    """Run a job worker in this process (against the same database as the server)."""
    from packages.core.db import create_pool
    from packages.approval.reactions import register as register_reactions
    from packages.production.reactions import register as register_production
    from packages.core.event_stream import EventHub
    from packages.core.events import bus
    from packages.core.jobs import open_job_app, run_worker, runtime

    prepared = _prepare(server=False)

    async def run() -> None:
        settings = get_settings()
        register_reactions(bus)  # reactions to events this worker's jobs emit (e.g. review new images)
        register_production(bus)  # webhook deliveries of the events it emits, training costs
        runtime.pool, runtime.settings = await create_pool(prepared.url), settings
        runtime.hub = EventHub(runtime.pool, prepared.url)
        await runtime.hub.start()
        try:
            async with open_job_app(prepared.url) as job_app:
                await run_worker(job_app, concurrency=concurrency or settings.worker_concurrency,
                                 stalled_after=settings.stalled_job_s,
                                 queues=queue or None, name="cli")
        finally:
            await runtime.hub.stop()
            await runtime.pool.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        prepared.close()


@cli.command()
def migrate() -> None:
    """Apply database migrations (the server also does this at start)."""
    prepared = _prepare(server=False)
    prepared.close()
    typer.echo("database is up to date")


@token_cli.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, director, reviewer or viewer")],
    name: Annotated[str | None, typer.Option(help="User name the token belongs to (default: the role)")] = None,
) -> None:
    """Create an API token and print it (it is shown only once)."""
    from packages.core.auth import ROLES, create_token
    from packages.core.db import create_pool

    if role not in ROLES:
        _fail(f"--role must be one of {', '.join(ROLES)}")
    prepared = _prepare(server=False)

    async def run() -> str:
        pool = await create_pool(prepared.url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                return (await create_token(conn, user_name=name or role, role=role, token_name=name or role))[1]
        finally:
            await pool.close()

    try:
        token = asyncio.run(run())
    finally:
        prepared.close()
    settings = get_settings()
    typer.echo(token)
    typer.echo(f"Sign in: http://{settings.host}:{settings.port}/?token={token}", err=True)


@cli.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Database, job queues, workers, generations and ComfyUI backends."""
    from packages.core.db import create_pool
    from packages.core.jobs import live_workers, queue_counts
    from packages.visual_pipeline import queries as backend_queries
    from packages.visual_pipeline.farm import current_jobs

    prepared = _prepare(server=False)

    async def run() -> dict:
        pool = await create_pool(prepared.url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                version = await conn.fetchval("SHOW server_version")
                backends = await backend_queries.list_backends(conn)
                jobs = [j.model_dump() for j in await current_jobs(conn)]  # what each backend runs now
                return {"database": {"status": "ok", "server_version": version},
                        "queues": await queue_counts(conn),
                        "workers": [{"id": w["id"], "last_heartbeat": w["last_heartbeat"].isoformat()}
                                    for w in await live_workers(conn, get_settings().stalled_job_s)],
                        "generations": await backend_queries.active_counts(conn),
                        "backends": [{"name": b["name"], "url": b["url"], "health": b["health"], "roles": b["roles"],
                                      "enabled": b["enabled"], "running": b["running"],
                                      "max_in_flight": b["max_in_flight"], "queue_remaining": b["queue_remaining"],
                                      "vram_free": b["vram_free"], "vram_total": b["vram_total"],
                                      "last_error": b["last_error"],
                                      "current": [j for j in jobs if j["backend_id"] == b["id"]]} for b in backends]}
        finally:
            await pool.close()

    try:
        report = asyncio.run(run())
    finally:
        prepared.close()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"database   ok (PostgreSQL {report['database']['server_version']})")
    if report["queues"]:
        for q in report["queues"]:
            typer.echo(f"queue      {q['queue_name']:<16} {q['status']:<6} {q['jobs']}")
    else:
        typer.echo("queues     empty")
    typer.echo(f"workers    {len(report['workers'])} alive")
    gens = report["generations"]
    typer.echo(f"generations {gens.get('running', 0)} running, {gens.get('queued', 0)} queued")
    for b in report["backends"] or [{"name": "(none: add one in Settings > Backends or COMFYUI_URLS)"}]:
        if "url" not in b:
            typer.echo(f"backends   {b['name']}")
            continue
        vram = (f"{(b['vram_total'] - b['vram_free']) / 2**30:.1f}/{b['vram_total'] / 2**30:.1f} GiB"
                if b["vram_total"] else "vram ?")
        state = b["health"] if b["enabled"] else "disabled"
        typer.echo(f"backend    {b['name']:<20} {state:<11} {','.join(b['roles']):<20} "
                   f"running {b['running']}/{b['max_in_flight']}  queue {b['queue_remaining']}  {vram}  {b['url']}"
                   + (f"  ({b['last_error']})" if b["last_error"] and b["health"] != "ok" else ""))
        for job in b["current"]:
            origin = f" scene {job['scene_id']} shot {job['shot_id']}" if job["scene_id"] else ""
            typer.echo(f"  now      generation {job['generation_id']} {job['kind']} ({job['engine']},"
                       f" role {job['role'] or 'any'}){origin} {round(job['progress'] * 100)}%  {job['step']}")


@cli.command()
def generate(
    prompt: Annotated[str, typer.Argument(help="Scene text after the character's design (or the whole design)")] = "",
    character: Annotated[str | None, typer.Option(help="Character slug")] = None,
    project: Annotated[str | None, typer.Option(help="Project slug (default: the only project)")] = None,
    count: Annotated[int, typer.Option(min=1, max=16)] = 1,
    seed: Annotated[int | None, typer.Option()] = None,
    video: Annotated[bool, typer.Option("--video", help="Image-to-video from --source")] = False,
    source: Annotated[int | None, typer.Option(help="Gallery output id a video starts from")] = None,
    duration: Annotated[float | None, typer.Option(
        min=1, max=600, help="With --video: its seconds (default 3). Without: a clip of this length, "
                             "planned into shots, rendered across the farm and assembled")] = None,
) -> None:
    """Generate images (or a video, or with --duration a whole clip) and wait, printing progress and the outputs."""
    from src.cli_generate import run_generate

    prepared = _prepare(server=False)
    try:
        code = asyncio.run(run_generate(prepared.url, get_settings(), prompt=prompt, character=character,
                                        project=project, count=count, seed=seed, video=video, source=source,
                                        duration=(duration or 3.0) if video else 3.0,
                                        clip_s=None if video else duration))
    finally:
        prepared.close()
    raise typer.Exit(code)


@cli.command()
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Rows whose files are gone and files under the home that no row names; exit 1 if any."""
    from src.cli_doctor import run_doctor

    prepared = _prepare(server=False)
    try:
        code = asyncio.run(run_doctor(prepared.url, get_settings(), as_json=as_json))
    finally:
        prepared.close()
    raise typer.Exit(code)


@cli.command()
def demo(slug: Annotated[str | None, typer.Option(help="Project slug (default: demo, then demo-2, ... "
                                                       "on each run)")] = None) -> None:
    """Make a sample project offline and take it through the whole pipeline, printing each step."""
    import os

    from src.cli_demo import run_demo

    note = None
    if get_settings().jellyfin_library_dir is None:  # publish somewhere a newcomer can look
        library = get_settings().home / "library"
        os.environ["JELLYFIN_LIBRARY_DIR"] = str(library)
        get_settings.cache_clear()
        note = f"JELLYFIN_LIBRARY_DIR is unset: publishing to {library}"
    prepared = _prepare(server=False)
    try:
        code = asyncio.run(run_demo(prepared.url, get_settings(), slug=slug, library_note=note))
    finally:
        prepared.close()
    raise typer.Exit(code)


def main() -> None:
    try:
        cli()
    except StartupError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
