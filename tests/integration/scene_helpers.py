"""Shared set-up of the scene tests: a project with a style, a character and a source image in its
gallery, scenes with shots, the Ollama double's scripted vision scores, and waiting for a scene."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from PIL import Image

from tests.factories import make_character, make_project, make_style

CHECKPOINT = "animagine-xl-3.1.safetensors"


def vision_answer(score10: int) -> dict:
    """A vision review answer whose quality is score10 / 10 (character with no species or gender)."""
    return {"character_match": score10, "solo": True, "completeness": "full", "anatomical_defects": [],
            "common_error_hits": [], "clarity": score10, "training_value": score10, "caption": "a shot",
            "issues": []}


class Scores:
    """The Ollama double's answers, in order (shots run one after another); then `default`."""

    def __init__(self, *scores: int, default: int = 9):
        self.queue, self.default, self.asked = list(scores), default, 0

    def __call__(self, request: dict) -> dict:
        self.asked += 1
        return vision_answer(self.queue.pop(0) if self.queue else self.default)


def textured_png(path: Path, size=(768, 768), seed: int = 1) -> Path:
    """A detailed picture (sharp, mid exposure, contrasted): the metrics review scores it high."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


async def source_output(db, home: Path, project: dict, name: str = "source.png") -> int:
    relative = f"output/{project['slug']}/images/{name}"
    textured_png(home / relative)
    return await db.fetchval(
        "INSERT INTO outputs (project_id, kind, path, width, height, bytes, sha256) "
        "VALUES ($1, 'image', $2, 768, 768, $3, $4) RETURNING id",
        project["id"], relative, (home / relative).stat().st_size, name)


async def studio(client, **style_fields) -> tuple[dict, dict]:
    style = await make_style(client, checkpoint=CHECKPOINT, width=512, height=512, **style_fields)
    project = await make_project(client, default_style_id=style["id"])
    character = await make_character(client, project, name="Mio")
    return project, character


async def make_scene(client, project: dict, shots: list[dict], **fields) -> dict:
    r = await client.post("/scenes", json={"project_id": project["id"], "title": "Rooftop", "mood": "calm", **fields})
    assert r.status_code == 201, r.text
    scene_id = r.json()["id"]
    for shot in shots:
        r = await client.post(f"/scenes/{scene_id}/shots", json=shot)
        assert r.status_code == 201, r.text
    return (await client.get(f"/scenes/{scene_id}")).json()


async def wait_scene(client, scene_id: int, timeout: float = 90) -> dict:
    for _ in range(int(timeout / 0.1)):
        scene = (await client.get(f"/scenes/{scene_id}")).json()
        if scene["status"] in ("done", "failed", "cancelled"):
            return scene
        await asyncio.sleep(0.1)
    raise AssertionError(f"scene {scene_id} did not finish: {scene}")
