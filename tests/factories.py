"""Small factories per domain, through the public API so the rules apply."""

from __future__ import annotations

import itertools

_n = itertools.count(1)


async def make_style(client, **fields) -> dict:
    n = next(_n)
    body = {"name": f"Style {n}", "checkpoint": "animagine-xl-3.1.safetensors", "cfg": 6.5, "steps": 28,
            "sampler": "euler_ancestral", "scheduler": "normal", "width": 832, "height": 1216,
            "positive_template": "masterpiece, best quality, {prompt}", "negative_template": "lowres, bad anatomy",
            "architecture": "sdxl", **fields}
    r = await client.post("/styles", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def make_project(client, **fields) -> dict:
    n = next(_n)
    body = {"name": f"Project {n}", "slug": f"project-{n}", **fields}
    r = await client.post("/projects", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def make_character(client, project: dict, **fields) -> dict:
    n = next(_n)
    body = {"project_id": project["id"], "name": f"Character {n}", "slug": f"character-{n}",
            "design_prompt": "1girl, silver hair, red eyes, school uniform", **fields}
    r = await client.post("/characters", json=body)
    assert r.status_code == 201, r.text
    return r.json()
