"""HTTP for the Scene Builder: /scenes, their shots (position operations), presets, story-to-scenes,
the generate and cancel commands, and the shots' and scenes' files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.paths import inside_home
from packages.core.schemas import Page, PageParams, page_params
from packages.core.settings import AppSettings
from packages.scene_generation import queries, service, story
from packages.scene_generation.presets import PRESETS
from packages.scene_generation.schemas import (
    MotionPreset, SceneCreate, SceneDetail, SceneRead, SceneUpdate, ShotCreate, ShotRead, ShotUpdate, StoryRequest,
)

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")
Paging = Annotated[PageParams, Depends(page_params)]
MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}


async def scene_from_path(scene_id: int, conn: Conn):
    row = await queries.get_scene(conn, scene_id)
    if row is None:
        raise NotFound("No scene with that id", code="scene_not_found")
    return row


async def shot_from_path(scene: Annotated[dict, Depends(scene_from_path)], shot_id: int, conn: Conn):
    row = await queries.get_shot(conn, shot_id)
    if row is None or row["scene_id"] != scene["id"]:
        raise NotFound("No shot with that id in this scene", code="shot_not_found")
    return row


Scene = Annotated[dict, Depends(scene_from_path)]
Shot = Annotated[dict, Depends(shot_from_path)]


async def _detail(conn, scene_id: int) -> SceneDetail:
    scene = await queries.get_scene(conn, scene_id)
    shots = [ShotRead.from_row(s) for s in await queries.list_shots(conn, scene_id)]
    return SceneDetail(**SceneRead.from_row(scene).model_dump(), shots=shots)


@router.get("/scenes/presets", response_model=list[MotionPreset], operation_id="scenes-list_presets")
async def list_presets():
    return [MotionPreset(shot_type=p.shot_type, label=p.label, camera_angle=p.camera_angle,
                         default_duration_s=p.default_duration_s, animatic_motion=p.animatic_motion,
                         motion_prompts=list(p.motion_prompts)) for p in PRESETS.values()]


@router.post("/scenes/generate-from-story", response_model=list[SceneDetail], status_code=201,
             dependencies=[Director], operation_id="scenes-generate_from_story")
async def generate_from_story(body: StoryRequest, conn: Conn, settings: AppSettings):
    ids = await story.scenes_from_story(conn, settings, body.project_id, body.storyline_id)
    return [await _detail(conn, i) for i in ids]


@router.get("/scenes", response_model=Page[SceneRead], operation_id="scenes-list_scenes")
async def list_scenes(conn: Conn, page: Paging, project_id: Annotated[int, Query(ge=1)]):
    rows, total = await queries.list_scenes(conn, project_id, page.limit, page.offset)
    return Page(items=[SceneRead.from_row(r) for r in rows], total=total)


@router.post("/scenes", response_model=SceneRead, status_code=201, dependencies=[Director],
             operation_id="scenes-create_scene")
async def create_scene(body: SceneCreate, conn: Conn):
    scene_id = await service.create_scene(conn, body)
    return SceneRead.from_row(await queries.get_scene(conn, scene_id))


@router.get("/scenes/{scene_id}", response_model=SceneDetail, operation_id="scenes-get_scene")
async def get_scene(scene: Scene, conn: Conn):
    return await _detail(conn, scene["id"])


@router.patch("/scenes/{scene_id}", response_model=SceneRead, dependencies=[Director],
              operation_id="scenes-update_scene")
async def update_scene(scene: Scene, body: SceneUpdate, conn: Conn):
    await service.update_scene(conn, scene, body)
    return SceneRead.from_row(await queries.get_scene(conn, scene["id"]))


@router.delete("/scenes/{scene_id}", status_code=204, dependencies=[Director], operation_id="scenes-delete_scene")
async def delete_scene(scene: Scene, conn: Conn):
    await service.delete_scene(conn, scene)


@router.post("/scenes/{scene_id}/generate", response_model=SceneRead, status_code=202, dependencies=[Director],
             operation_id="scenes-generate_scene")
async def generate_scene(scene: Scene, conn: Conn):
    await service.start_generation(conn, scene)
    return SceneRead.from_row(await queries.get_scene(conn, scene["id"]))


@router.post("/scenes/{scene_id}/cancel", response_model=SceneRead, dependencies=[Director],
             operation_id="scenes-cancel_scene")
async def cancel_scene(scene: Scene, conn: Conn):
    await service.cancel_generation(conn, scene)
    return SceneRead.from_row(await queries.get_scene(conn, scene["id"]))


@router.get("/scenes/{scene_id}/output", response_class=FileResponse, operation_id="scenes-scene_output",
            responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Partial content"}})
async def scene_output(scene: Scene, settings: AppSettings):
    return _file(settings, scene["output_path"])


# -- shots ------------------------------------------------------------------------------------

@router.post("/scenes/{scene_id}/shots", response_model=ShotRead, status_code=201, dependencies=[Director],
             operation_id="scenes-create_shot")
async def create_shot(scene: Scene, body: ShotCreate, conn: Conn):
    shot_id = await service.create_shot(conn, scene, body)
    return ShotRead.from_row(await queries.get_shot(conn, shot_id))


@router.patch("/scenes/{scene_id}/shots/{shot_id}", response_model=ShotRead, dependencies=[Director],
              operation_id="scenes-update_shot")
async def update_shot(scene: Scene, shot: Shot, body: ShotUpdate, conn: Conn):
    await service.update_shot(conn, scene, shot, body)
    return ShotRead.from_row(await queries.get_shot(conn, shot["id"]))


@router.delete("/scenes/{scene_id}/shots/{shot_id}", status_code=204, dependencies=[Director],
               operation_id="scenes-delete_shot")
async def delete_shot(scene: Scene, shot: Shot, conn: Conn):
    await service.delete_shot(conn, scene, shot)


@router.post("/scenes/{scene_id}/shots/{shot_id}/move", response_model=list[ShotRead], dependencies=[Director],
             operation_id="scenes-move_shot")
async def move_shot(scene: Scene, shot: Shot, conn: Conn, position: Annotated[int, Query()]):
    await service.move_shot(conn, scene, shot, position)
    return [ShotRead.from_row(s) for s in await queries.list_shots(conn, scene["id"])]


@router.post("/scenes/{scene_id}/shots/{shot_id}/reset", response_model=ShotRead, dependencies=[Director],
             operation_id="scenes-reset_shot")
async def reset_shot(scene: Scene, shot: Shot, conn: Conn):
    await service.reset_shot(conn, scene, shot)
    return ShotRead.from_row(await queries.get_shot(conn, shot["id"]))


def _file(settings, relative: str | None) -> FileResponse:
    if not relative:
        raise NotFound("Nothing to show here yet", code="no_file")
    path = inside_home(settings, settings.home / relative)
    if not path.is_file():
        raise NotFound("The file is missing (run `anime-studio doctor`)", code="file_missing")
    return FileResponse(path, headers=MEDIA_HEADERS)  # answers Range requests, so players can seek


async def _shot_file(conn, settings, output_id: int | None) -> FileResponse:
    return _file(settings, await queries.output_path(conn, output_id) if output_id else None)


@router.get("/scenes/{scene_id}/shots/{shot_id}/video", response_class=FileResponse, operation_id="scenes-shot_video",
            responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Partial content"}})
async def shot_video(shot: Shot, conn: Conn, settings: AppSettings):
    return await _shot_file(conn, settings, shot["video_output_id"])


@router.get("/scenes/{scene_id}/shots/{shot_id}/first-frame", response_class=FileResponse,
            operation_id="scenes-shot_first_frame", responses={200: {"content": {"image/png": {}}}})
async def shot_first_frame(shot: Shot, conn: Conn, settings: AppSettings):
    return await _shot_file(conn, settings, shot["start_output_id"])


@router.get("/scenes/{scene_id}/shots/{shot_id}/last-frame", response_class=FileResponse,
            operation_id="scenes-shot_last_frame", responses={200: {"content": {"image/png": {}}}})
async def shot_last_frame(shot: Shot, conn: Conn, settings: AppSettings):
    return await _shot_file(conn, settings, shot["last_frame_output_id"])
