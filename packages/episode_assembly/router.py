"""HTTP for episodes: /episodes (CRUD), their scenes (position operations), the assemble, publish
and unpublish commands, the episode's video (Range-seekable) and thumbnail, editorial export,
and /jellyfin/health. Contract: /work/briefs/episodes_api.md."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import FileResponse

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import Conflict, NotFound
from packages.core.paths import inside_home
from packages.core.schemas import Page, PageParams, changes, page_params
from packages.core.settings import AppSettings
from packages.episode_assembly import assembly, export, jellyfin, queries, service
from packages.episode_assembly.schemas import (
    AssembleRequest, EpisodeCreate, EpisodeDetail, EpisodeRead, EpisodeScene, EpisodeUpdate, JellyfinHealth,
    PublishRequest, ReorderRequest,
)

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")
Paging = Annotated[PageParams, Depends(page_params)]
MAX_ID = 2**63 - 1
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}


async def episode_from_path(episode_id: Annotated[int, Path(ge=1, le=MAX_ID)], conn: Conn):
    row = await queries.get_episode(conn, episode_id)
    if row is None:
        raise NotFound("No episode with that id", code="episode_not_found")
    return row


Episode = Annotated[dict, Depends(episode_from_path)]
SceneId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def _project_id(conn, slug: str) -> int:
    project_id = await queries.project_id_by_slug(conn, slug)
    if project_id is None:
        raise NotFound("No project with that slug", code="project_not_found")
    return project_id


async def _read(conn, episode_id: int) -> EpisodeRead:
    return EpisodeRead.from_row(await queries.get_episode(conn, episode_id))


async def _detail(conn, episode_id: int) -> EpisodeDetail:
    episode = await queries.get_episode(conn, episode_id)
    scenes = [EpisodeScene.from_row(r) for r in await queries.list_scenes(conn, episode_id)]
    return EpisodeDetail(**EpisodeRead.from_row(episode).model_dump(), scenes=scenes)


@router.get("/episodes", response_model=Page[EpisodeRead], operation_id="episodes-list_episodes")
async def list_episodes(conn: Conn, page: Paging, project: Annotated[str, Query(max_length=63)]):
    rows, total = await queries.list_episodes(conn, await _project_id(conn, project), page.limit, page.offset)
    return Page(items=[EpisodeRead.from_row(r) for r in rows], total=total)


@router.post("/episodes", response_model=EpisodeRead, status_code=201, dependencies=[Director],
             operation_id="episodes-create_episode")
async def create_episode(body: EpisodeCreate, conn: Conn):
    episode_id = await service.create_episode(conn, await _project_id(conn, body.project), body.title,
                                              number=body.number, description=body.description,
                                              story_arc=body.story_arc)
    return await _read(conn, episode_id)


@router.get("/episodes/{episode_id}", response_model=EpisodeDetail, operation_id="episodes-get_episode")
async def get_episode(episode: Episode, conn: Conn):
    return await _detail(conn, episode["id"])


@router.patch("/episodes/{episode_id}", response_model=EpisodeRead, dependencies=[Director],
              operation_id="episodes-update_episode")
async def update_episode(episode: Episode, body: EpisodeUpdate, conn: Conn):
    await service.update_episode(conn, episode["id"], changes(body, EpisodeUpdate.NULLABLE))
    return await _read(conn, episode["id"])


@router.delete("/episodes/{episode_id}", status_code=204, dependencies=[Director],
               operation_id="episodes-delete_episode")
async def delete_episode(episode: Episode, conn: Conn, settings: AppSettings):
    await service.delete_episode(conn, settings, episode["id"])


# -- scenes (position operations) -------------------------------------------------------------

@router.post("/episodes/{episode_id}/scenes/{scene_id}", response_model=EpisodeDetail, dependencies=[Director],
             operation_id="episodes-add_scene")
async def add_scene(episode: Episode, scene_id: SceneId, conn: Conn,
                    position: Annotated[int | None, Query(ge=1, le=100_000)] = None):
    await service.add_scene(conn, episode["id"], scene_id, position)
    return await _detail(conn, episode["id"])


@router.delete("/episodes/{episode_id}/scenes/{scene_id}", response_model=EpisodeDetail, dependencies=[Director],
               operation_id="episodes-remove_scene")
async def remove_scene(episode: Episode, scene_id: SceneId, conn: Conn):
    await service.remove_scene(conn, episode["id"], scene_id)
    return await _detail(conn, episode["id"])


@router.post("/episodes/{episode_id}/scenes/{scene_id}/move", response_model=EpisodeDetail, dependencies=[Director],
             operation_id="episodes-move_scene")
async def move_scene(episode: Episode, scene_id: SceneId, conn: Conn,
                     position: Annotated[int, Query(ge=1, le=100_000)]):
    await service.move_scene(conn, episode["id"], scene_id, position)
    return await _detail(conn, episode["id"])


@router.put("/episodes/{episode_id}/reorder", response_model=EpisodeDetail, dependencies=[Director],
            operation_id="episodes-reorder")
async def reorder(episode: Episode, body: ReorderRequest, conn: Conn):
    await service.reorder(conn, episode["id"], body.scene_ids)
    return await _detail(conn, episode["id"])


# -- commands -------------------------------------------------------------------------------------

@router.post("/episodes/{episode_id}/assemble", response_model=EpisodeRead, status_code=202, dependencies=[Director],
             operation_id="episodes-assemble")
async def assemble(episode: Episode, conn: Conn, body: AssembleRequest | None = None):
    await service.start_assembly(conn, episode["id"], fade_s=(body or AssembleRequest()).fade_s)
    return await _read(conn, episode["id"])


@router.post("/episodes/{episode_id}/publish", response_model=EpisodeRead, status_code=202, dependencies=[Director],
             operation_id="episodes-publish")
async def publish(episode: Episode, conn: Conn, settings: AppSettings, body: PublishRequest | None = None):
    await service.start_publish(conn, settings, episode["id"], link_mode=(body or PublishRequest()).link_mode)
    return await _read(conn, episode["id"])


@router.delete("/episodes/{episode_id}/publish", response_model=EpisodeRead, dependencies=[Director],
               operation_id="episodes-unpublish")
async def unpublish(episode: Episode, conn: Conn, settings: AppSettings):
    await service.unpublish(conn, settings, episode["id"])
    return await _read(conn, episode["id"])


# -- files --------------------------------------------------------------------------------------

def _file(settings, relative: str | None, missing_code: str) -> FileResponse:
    if not relative:
        raise NotFound("The episode has not been assembled yet", code=missing_code)
    path = inside_home(settings, settings.home / relative)
    if not path.is_file():
        raise NotFound("The file is missing (run `anime-studio doctor`)", code="file_missing")
    return FileResponse(path, headers=MEDIA_HEADERS)  # answers Range requests, so players can seek


@router.get("/episodes/{episode_id}/video", response_class=FileResponse, operation_id="episodes-video",
            responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Partial content"}})
async def video(episode: Episode, settings: AppSettings):
    return _file(settings, episode["output_path"], "not_assembled")


@router.get("/episodes/{episode_id}/thumbnail", response_class=FileResponse, operation_id="episodes-thumbnail",
            responses={200: {"content": {"image/jpeg": {}}}})
async def thumbnail(episode: Episode, settings: AppSettings):
    return _file(settings, episode["thumbnail_path"], "not_assembled")


@router.get("/episodes/{episode_id}/export", response_class=Response, operation_id="episodes-export",
            responses={200: {"content": {"text/plain": {}, "application/xml": {}, "application/json": {}}}})
async def export_timeline(episode: Episode, conn: Conn, settings: AppSettings,
                          fmt: Annotated[Literal["edl", "fcpxml", "otio"], Query(alias="format")] = "edl",
                          paths: Literal["relative", "absolute"] = "relative"):
    scenes = await queries.assembly_inputs(conn, episode["id"])
    if not scenes:
        raise Conflict("The episode has no scenes yet", code="no_scenes")
    missing = [s["title"] for s in scenes if not s["output_path"]]
    if missing:
        raise Conflict("These scenes have no video yet: " + ", ".join(missing), code="scene_not_assembled")
    files = [inside_home(settings, settings.home / s["output_path"]) for s in scenes]
    if not all(f.is_file() for f in files):
        raise NotFound("A scene's video file is missing (run `anime-studio doctor`)", code="file_missing")
    probes = await assembly.probe_many(files, settings.ffmpeg_binary)
    clips = [export.TimelineClip(f"{s['position']:02d} {s['title']}", f, p.duration_s)
             for s, f, p in zip(scenes, files, probes)]
    timeline = export.build(f"{episode['project_name']} E{episode['number']:02d} - {episode['title']}", clips,
                            probes[0].params.fps or 24.0, settings.home, paths)
    _, media_type, extension = export.FORMATS[fmt]
    name = f"episode-{episode['number']:02d}.{extension}"
    return Response(export.render(timeline, fmt), media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/jellyfin/health", response_model=JellyfinHealth, operation_id="episodes-jellyfin_health")
async def jellyfin_health(settings: AppSettings):
    return JellyfinHealth(**await jellyfin.health(settings))
