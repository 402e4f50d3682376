"""HTTP for the GPU farm's scene commands: pilots (start, read, cancel, the user's choice) and the
hero pass of a shot or of a whole scene."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from packages.core.auth import current_user, require
from packages.core.db import Conn
from packages.core.errors import NotFound
from packages.core.settings import AppSettings
from packages.scene_generation import farm_queries, hero, pilots
from packages.scene_generation.pilots_schemas import HeroPassRead, PilotChoose, PilotCreate, PilotRead
from packages.scene_generation.router import Scene, Shot

router = APIRouter(dependencies=[Depends(current_user)])
Director = require("director")


async def pilot_from_path(scene: Scene, pilot_id: int, conn: Conn):
    row = await farm_queries.get_pilot(conn, pilot_id)
    if row is None or row["scene_id"] != scene["id"]:
        raise NotFound("No pilot with that id in this scene", code="pilot_not_found")
    return row


Pilot = Annotated[dict, Depends(pilot_from_path)]


async def _read(conn, pilot_id: int) -> PilotRead:
    return PilotRead.from_rows(await farm_queries.get_pilot(conn, pilot_id),
                               await farm_queries.list_strategies(conn, pilot_id))


@router.get("/scenes/{scene_id}/pilots", response_model=list[PilotRead], operation_id="scenes-list_pilots")
async def list_pilots(scene: Scene, conn: Conn):
    return [await _read(conn, p["id"]) for p in await farm_queries.list_pilots(conn, scene["id"])]


@router.post("/scenes/{scene_id}/pilots", response_model=PilotRead, status_code=202, dependencies=[Director],
             operation_id="scenes-start_pilot")
async def start_pilot(scene: Scene, body: PilotCreate, conn: Conn, settings: AppSettings):
    return await _read(conn, await pilots.start(conn, settings, scene, body))


@router.get("/scenes/{scene_id}/pilots/{pilot_id}", response_model=PilotRead, operation_id="scenes-get_pilot")
async def get_pilot(pilot: Pilot, conn: Conn):
    return await _read(conn, pilot["id"])


@router.post("/scenes/{scene_id}/pilots/{pilot_id}/cancel", response_model=PilotRead, dependencies=[Director],
             operation_id="scenes-cancel_pilot")
async def cancel_pilot(scene: Scene, pilot: Pilot, conn: Conn):
    await pilots.cancel(conn, scene, pilot)
    return await _read(conn, pilot["id"])


@router.post("/scenes/{scene_id}/pilots/{pilot_id}/choose", response_model=PilotRead, dependencies=[Director],
             operation_id="scenes-choose_pilot_strategy")
async def choose_strategy(scene: Scene, pilot: Pilot, body: PilotChoose, conn: Conn):
    await pilots.choose(conn, scene, pilot, body.strategy_id)
    return await _read(conn, pilot["id"])


@router.post("/scenes/{scene_id}/hero-pass", response_model=HeroPassRead, status_code=202, dependencies=[Director],
             operation_id="scenes-hero_pass_scene")
async def hero_pass_scene(scene: Scene, conn: Conn):
    return HeroPassRead(scene_id=scene["id"], shot_ids=await hero.start(conn, scene))


@router.post("/scenes/{scene_id}/shots/{shot_id}/hero-pass", response_model=HeroPassRead, status_code=202,
             dependencies=[Director], operation_id="scenes-hero_pass_shot")
async def hero_pass_shot(scene: Scene, shot: Shot, conn: Conn):
    return HeroPassRead(scene_id=scene["id"], shot_ids=await hero.start(conn, scene, shot))
