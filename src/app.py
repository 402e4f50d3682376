"""The app factory: router registry, lifespan (database, migrations, jobs, events) and the UI."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from packages.approval import reactions
from packages.approval.review_router import router as review_router
from packages.approval.router import router as approval_router
from packages.approval.ingest_router import router as ingestion_router
from packages.approval.learning_router import corrections_router
from packages.approval.learning_router import router as learning_router
from packages.approval.replenish_router import router as replenish_router
from packages.characters.router import router as characters_router
from packages.echo_integration import indexer as echo_indexer
from packages.echo_integration.router import router as echo_router
from packages.echo_integration.team_router import router as team_router
from packages.core.auth import create_token
from packages.core.db import create_pool
from packages.core.errors import DomainError
from packages.core.event_stream import EventHub
from packages.core.events import bus
from packages.core.jobs import DB_LOST, database_up, lost_database, open_job_app, run_worker, runtime
from packages.core.router import VERSION, public as core_public
from packages.core.router import router as core_router
from packages.core.settings import Settings, get_settings
from packages.core.startup import Prepared, prepare
from packages.story.router import router as story_router
from packages.lora_training.router import router as training_router
from packages.scene_generation.farm_router import router as farm_router
from packages.scene_generation.router import router as scenes_router
from packages.episode_assembly.router import router as episodes_router
from packages.visual_pipeline import pool as backend_pool
from packages.visual_pipeline.farm_router import router as farm_jobs_router
from packages.visual_pipeline.router import router as generation_router
from packages.production import reactions as production_reactions
from packages.production.router import router as production_router

log = logging.getLogger("anime_studio")

API_PREFIX = "/api/lora"  # the prefix existing users' scripts call; keep it here only
FRONTEND_DIST = Path(__file__).resolve().parents[1] / "frontend" / "dist"

# Ordered router registry: (router, tag). Order matters only where paths overlap; core first so
# /health and /auth/session stay reachable whatever a domain declares.
ROUTERS = [
    (core_public, "core"),
    (core_router, "core"),
    (story_router, "story"),
    (characters_router, "characters"),
    (generation_router, "generation"),
    (farm_jobs_router, "generation"),  # GET /farm/jobs: what each backend runs now
    (ingestion_router, "ingestion"),
    (approval_router, "approval"),
    (review_router, "approval"),
    (learning_router, "learning"),
    (corrections_router, "corrections"),
    (replenish_router, "replenishment"),
    (training_router, "training"),
    (scenes_router, "scenes"),
    (farm_router, "scenes"),  # pilots and hero passes under /scenes/{id}
    (episodes_router, "episodes"),
    (echo_router, "echo"),
    (production_router, "production"),
    (team_router, "team"),
]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"
    ),
}


async def first_start_token(pool, settings: Settings) -> str | None:
    """On a loopback server with no tokens at all and no admin token configured, make one admin
    token and return it so `serve` can print a URL carrying it (like Jupyter)."""
    if settings.admin_token or not settings.is_loopback:
        return None
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_tokens)"):
            return None
        _, token = await create_token(conn, user_name="owner", role="admin", token_name="first start")
    return token


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    prepared: Prepared | None = app.state.prepared
    owned = prepared is None  # `anime-studio serve` prepares before uvicorn starts, tests do not
    if owned:
        prepared = await asyncio.to_thread(prepare, settings)
    pool = hub = worker = None
    try:
        pool = await create_pool(prepared.url)
        runtime.pool, runtime.settings = pool, settings
        reactions.register(bus)  # once per bus: reviews after generations and ingestions, replenishment, ...
        production_reactions.register(bus)  # webhook deliveries of every event, training costs
        echo_indexer.register(bus)  # project memory: changed rows defer a re-embedding job
        hub = EventHub(pool, prepared.url)
        await hub.start()
        runtime.hub = hub
        app.state.pool, app.state.event_hub, app.state.database_url = pool, hub, prepared.url
        app.state.first_start_token = await first_start_token(pool, settings)
        async with pool.acquire() as conn:
            await backend_pool.seed_from_settings(conn, settings.comfyui_urls)
        refresh = asyncio.create_task(backend_pool.refresh_all(pool))  # first health check, in the background
        app.state.first_refresh = refresh
        if app.state.on_ready:
            app.state.on_ready(app)
        async with open_job_app(prepared.url) as job_app:
            app.state.job_app = job_app
            if settings.inprocess_worker:
                worker = asyncio.create_task(
                    run_worker(job_app, concurrency=settings.worker_concurrency,
                               stalled_after=settings.stalled_job_s, name="in-process"))
            yield
            refresh.cancel()
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
    finally:
        await backend_pool.clients.close()
        if hub is not None:
            await hub.stop()
        if pool is not None:
            await pool.close()
            runtime.pool = runtime.hub = None
        if owned:
            prepared.close()


def _error(status: int, detail: str, code: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError):
        extra = {"field": exc.field} if exc.field else {}
        return _error(exc.status, exc.detail, exc.code, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "Invalid request"}
        field = str(first["loc"][-1]) if first["loc"] and first["loc"][0] in ("body", "query", "path") else None
        detail = f"{field}: {first['msg']}" if field else first["msg"]
        return _error(422, detail, "validation_error", field=field, errors=errors)

    @app.exception_handler(asyncpg.exceptions.DataError)
    async def data_error(request: Request, exc: asyncpg.exceptions.DataError):
        # A value PostgreSQL cannot hold (an id past int64, a NUL byte in text, a bad date): the
        # request's transaction is rolled back, so nothing changed; the caller's input is at fault.
        log.warning("refused a value PostgreSQL cannot store on %s %s: %s", request.method, request.url.path, exc)
        return _error(422, f"A value is out of range or not storable: {str(exc)[:200]}", "invalid_value")

    async def database_gone(request: Request, exc: Exception):
        # The database restarting or failing over under a request: 503 and a retry hint, nothing
        # half-written (the request's transaction was rolled back with the connection).
        if lost_database(exc) or not await database_up():
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
            return _error(503, "The database is unavailable for a moment; try again", "database_unavailable",
                          headers={"Retry-After": "2"})
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "Internal error", "internal")

    for lost in (*DB_LOST, asyncpg.InterfaceError, OSError):
        app.add_exception_handler(lost, database_gone)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, str(exc.detail), code)


VALIDATION_ERROR_BODY = {  # what validation_error() sends; FastAPI would declare {detail: [..]}
    "title": "HTTPValidationError", "type": "object", "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string"}, "code": {"type": "string"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"}, "type": {"type": "string"}}}},
    },
}


def declare_error_bodies(app: FastAPI) -> None:
    """The schema's 422 answers declare the body the validation handler really sends."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schemas = generate().get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = VALIDATION_ERROR_BODY
                schemas.pop("ValidationError", None)
        return app.openapi_schema

    app.openapi = openapi


def mount_frontend(app: FastAPI) -> None:
    """Serves the built Vue app. index.html gets a <base href> for the path it is served under,
    so the same build works at / and under a sub-path such as /anime-studio/."""

    def index(request: Request) -> HTMLResponse:
        page = (FRONTEND_DIST / "index.html").read_text()
        base = html.escape(request.scope.get("root_path", "").rstrip("/") + "/", quote=True)
        page = page.replace("<head>", f'<head><base href="{base}">', 1)
        return HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @app.get("/{path:path}", include_in_schema=False)
    async def ui(path: str, request: Request):
        if path.startswith(API_PREFIX.strip("/") + "/") or path == API_PREFIX.strip("/"):
            return _error(404, "No such API route", "not_found")
        if not (FRONTEND_DIST / "index.html").exists():
            return HTMLResponse("The UI is not built: run `make run` (or `npm run build`).", status_code=503)
        candidate = (FRONTEND_DIST / path).resolve()
        if path and FRONTEND_DIST in candidate.parents and candidate.is_file():
            cache = "public, max-age=31536000, immutable" if "/assets/" in f"/{path}" else "no-cache"
            return FileResponse(candidate, headers={**SECURITY_HEADERS, "Cache-Control": cache})
        return index(request)


JSON_BODY_LIMIT = 1024 * 1024  # any non-multipart request body


class BodyLimit:
    """Caps request bodies before they are read or spooled to disk: 1 MiB for JSON and other
    bodies, ANIME_STUDIO_MAX_REQUEST_MB for multipart uploads. Over the cap: 413 `too_large`."""

    def __init__(self, app, upload_limit: int):
        self.app = app
        self.limits = {False: (JSON_BODY_LIMIT, RequestBodyLimitMiddleware(app, max_body_size=JSON_BODY_LIMIT)),
                       True: (upload_limit, RequestBodyLimitMiddleware(app, max_body_size=upload_limit))}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        limit, limited = self.limits[headers.get(b"content-type", b"").startswith(b"multipart/form-data")]
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:  # declared too large: refuse before reading
            response = _error(413, f"The request body is over the {limit // 1024} KiB limit", "too_large")
            return await response(scope, receive, send)
        await limited(scope, receive, send)  # counts what arrives (chunked or understated bodies)


class SecurityHeaders:
    """Every answer is `nosniff` (uploaded files are served as what they claim to be); UI pages and
    assets also get the CSP, framing and referrer headers. The Swagger page (/docs) keeps its CDN."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        api = scope["path"] == API_PREFIX or scope["path"].startswith(API_PREFIX + "/")
        extra = {"X-Content-Type-Options": "nosniff"} if api else SECURITY_HEADERS

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(k.lower().encode(), v.encode()) for k, v in extra.items() if k.lower().encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SubPath:
    """Serves the app under `root_path` whether or not the proxy in front strips that prefix."""

    def __init__(self, app, root_path: str):
        self.app, self.root_path = app, root_path.rstrip("/")

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self.root_path:
            path = scope["path"]
            if path == self.root_path or path.startswith(self.root_path + "/"):
                path = path[len(self.root_path):] or "/"
            scope = {**scope, "path": path, "raw_path": path.encode(), "root_path": self.root_path}
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, prepared: Prepared | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Anime Studio",
        version=VERSION,
        lifespan=lifespan,
        docs_url=f"{API_PREFIX}/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.state.settings, app.state.prepared, app.state.on_ready = settings, prepared, None
    install_error_handlers(app)
    declare_error_bodies(app)
    for router, tag in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, tags=[tag])
    mount_frontend(app)
    app.add_middleware(BodyLimit, upload_limit=settings.max_request_mb * 1024 * 1024)
    app.add_middleware(SecurityHeaders)  # outside BodyLimit: its 413s get the headers too
    if settings.root_path:
        app.add_middleware(SubPath, root_path=settings.root_path)
    return app
