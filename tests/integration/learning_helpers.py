"""Rows for the learning and auto-correction tests: generations with the workflow a real build
submits, their images, and decisions recorded the way the reviewers record them."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta, timezone

from packages.characters.prompt import build_prompt
from packages.visual_pipeline import builder

_n = itertools.count(1)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


async def make_generation(db, style: dict, character: dict, *, seed: int = 42, cfg: float | None = None,
                          steps: int | None = None, extra: str = "", loras=(), status: str = "succeeded",
                          params: dict | None = None, references=()) -> int:
    """A generation row with the workflow the builder makes for the character and these values."""
    prompt = build_prompt(style, character)
    changes = {k: v for k, v in {"cfg": cfg, "steps": steps}.items() if v is not None}
    if extra:
        changes["positive"] = f"{prompt.positive}, {extra}"
    prompt = dataclasses.replace(prompt, **changes)
    built = builder.build_image_workflow(prompt, seed=seed, loras=loras, reference_images=list(references),
                                         filename_prefix="anime-studio/test")
    row_params = {"prompt": extra, "role": None, "ip_adapter": True, "width": style["width"],
                  "height": style["height"], "seed": seed, **(params or {})}
    return await db.fetchval(
        "INSERT INTO generations (project_id, character_id, kind, engine, params, workflow, status) "
        "VALUES ($1, $2, 'image', 'txt2img', $3, $4, $5) RETURNING id",
        character["project_id"], character["id"], row_params, built.workflow, status)


async def make_image(db, character: dict, *, generation_id: int | None = None, source: str | None = None) -> int:
    n = next(_n)
    project_slug = await db.fetchval("SELECT slug FROM projects WHERE id = $1", character["project_id"])
    return await db.fetchval(
        "INSERT INTO images (character_id, generation_id, path, sha256, width, height, source) "
        "VALUES ($1, $2, $3, $4, 832, 1216, $5) RETURNING id", character["id"], generation_id,
        f"datasets/{project_slug}/{character['slug']}/images/l{n:05d}.png", f"{n + 50_000:064x}",
        source or ("generated" if generation_id else "upload"))


async def decide(db, image_id: int, decision: str, *, reason: str | None = None, reviewer: str = "human",
                 at: int | None = None) -> None:
    """Sets the image's status and records the review (at = minutes after T0, for the order)."""
    previous = await db.fetchval("SELECT status FROM images WHERE id = $1", image_id)
    await db.execute("UPDATE images SET status = $2 WHERE id = $1", image_id, decision)
    created = T0 + timedelta(minutes=at if at is not None else next(_n))
    await db.execute(
        "INSERT INTO reviews (image_id, reviewer, decision, reason, previous_status, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)", image_id, reviewer, decision, reason, previous, created)


async def generated(db, style: dict, character: dict, decision: str | None, *, reason: str | None = None,
                    at: int | None = None, **gen) -> int:
    """A generated image (with its generation), decided when `decision` is given; returns the image id."""
    image_id = await make_image(db, character, generation_id=await make_generation(db, style, character, **gen))
    if decision:
        await decide(db, image_id, decision, reason=reason, at=at)
    return image_id
