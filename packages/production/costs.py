"""Cost accounting. A generation's GPU-seconds come from ComfyUI's execution timing (recorded by
packages/visual_pipeline/engine.py), a training run's from its trainer's wall time; a DB trigger
(migration 0013) prices a generation at gpu_seconds x the rate of the backend that ran it (0 for
own hardware), and a training run at ANIME_STUDIO_TRAINING_RATE_PER_S (reactions.py). Here: spend
per scope (project, episode, a set of generations), totals per scene, episode and character, and
the estimate a budget admits a job at."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from packages.production import queries

IMAGE_DEFAULT_S = 20.0  # GPU-seconds of an image before any was measured
VIDEO_DEFAULT_S_PER_S = 30.0  # GPU-seconds per second of video before any was measured


@dataclass(frozen=True)
class Estimate:
    gpu_seconds: float
    cost: float

    def amount(self, unit: str) -> float:
        return self.cost if unit == "money" else self.gpu_seconds


@dataclass(frozen=True)
class Spend:
    gpu_seconds: float
    cost: float
    committed_gpu_seconds: float = 0.0  # admitted estimates of generations still in flight
    committed_cost: float = 0.0
    queued_gpu_seconds: float = 0.0  # forecast of queued work not admitted yet (generations, pending shots)
    queued_cost: float = 0.0

    def spent(self, unit: str) -> float:
        return self.cost if unit == "money" else self.gpu_seconds

    def committed(self, unit: str) -> float:
        return self.committed_cost if unit == "money" else self.committed_gpu_seconds

    def queued(self, unit: str) -> float:
        return self.queued_cost if unit == "money" else self.queued_gpu_seconds


@dataclass(frozen=True)
class Rates:
    image_s: float
    video_s_per_s: float
    rate_per_s: float  # the dearest enabled backend's: a job may land on it


async def rates(conn: asyncpg.Connection, project_id: int, engine: str | None = None) -> Rates:
    row = await queries.recent_rates(conn, project_id, engine)
    return Rates(image_s=row["image_s"] or IMAGE_DEFAULT_S, video_s_per_s=row["video_s_per_s"] or VIDEO_DEFAULT_S_PER_S,
                 rate_per_s=row["rate"] or 0.0)


async def estimate_generation(conn: asyncpg.Connection, project_id: int, kind: str, *,
                              duration_s: float | None = None, engine: str | None = None) -> Estimate:
    """What one generation is expected to cost: the project's recent average (else everyone's, else
    a default) priced at the dearest enabled backend. The CPU animatic costs nothing."""
    if engine == "animatic":
        return Estimate(0.0, 0.0)
    r = await rates(conn, project_id, engine if kind == "video" else None)
    seconds = r.image_s if kind == "image" else r.video_s_per_s * (duration_s or 3.0)
    return Estimate(round(seconds, 3), round(seconds * r.rate_per_s, 6))


async def spend(conn: asyncpg.Connection, project_id: int, episode_id: int | None = None) -> Spend:
    """Spent, admitted (committed) and queued work of a project, or of one of its episodes (which
    counts the generations of its scenes; training counts for the project only)."""
    gens = await queries.generation_spend(conn, project_id, episode_id)
    r = await rates(conn, project_id)
    queued_s = (gens["queued_images"] * r.image_s + gens["queued_video_s"] * r.video_s_per_s
                + await queries.pending_shot_seconds(conn, project_id, episode_id) * r.video_s_per_s)
    gpu_seconds, cost = gens["gpu_seconds"], gens["cost"]
    if episode_id is None:
        training = await queries.training_spend(conn, project_id)
        gpu_seconds, cost = gpu_seconds + training["gpu_seconds"], cost + training["cost"]
    return Spend(gpu_seconds=round(gpu_seconds, 3), cost=round(cost, 6),
                 committed_gpu_seconds=round(gens["committed_gpu_seconds"], 3),
                 committed_cost=round(gens["committed_cost"], 6),
                 queued_gpu_seconds=round(queued_s, 3), queued_cost=round(queued_s * r.rate_per_s, 6))


async def spend_of_generations(conn: asyncpg.Connection, generation_ids: list[int]) -> Spend:
    """Spend of a set of generations (a pilot's slice)."""
    row = await queries.generations_spend(conn, list(generation_ids))
    return Spend(gpu_seconds=row["gpu_seconds"], cost=row["cost"], committed_gpu_seconds=row["committed_gpu_seconds"],
                 committed_cost=row["committed_cost"])


async def totals(conn: asyncpg.Connection, project_id: int, by: str | None) -> tuple[Spend, list]:
    """The project's spend, and its rows per scene, episode or character (none when `by` is None)."""
    return await spend(conn, project_id), (await queries.totals(conn, project_id, by) if by else [])
