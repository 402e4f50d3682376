"""What each backend of the farm is doing now: the generations holding its slots (SQL and shape),
for `anime-studio status` and the Backends page."""

from __future__ import annotations

from pydantic import BaseModel


class BackendJob(BaseModel):
    backend_id: int
    generation_id: int
    project_id: int
    kind: str
    engine: str
    role: str | None  # the role it asked for (keyframe, worker, hero), None for any
    step: str
    progress: float
    scene_id: int | None
    shot_id: int | None


async def current_jobs(conn) -> list[BackendJob]:
    rows = await conn.fetch(
        """SELECT backend_id, id AS generation_id, project_id, kind, engine, params->>'role' AS role, step, progress,
                  (params->>'scene_id')::bigint AS scene_id, (params->>'shot_id')::bigint AS shot_id
           FROM generations WHERE holds_slot AND backend_id IS NOT NULL ORDER BY backend_id, id""")
    return [BackendJob.model_validate(dict(r)) for r in rows]
