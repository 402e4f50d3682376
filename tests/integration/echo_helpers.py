"""Shared arrangements of the Echo Brain tests: a project with distinct characters, SSE parsing."""

from __future__ import annotations

import json

from tests.factories import make_character, make_project

CHAT_MODEL = "llama3.1:latest"
MIO = "fox girl with orange fur, amber eyes and a long blue scarf; she can call the wind"
REN = "tall swordsman in black lacquered armour with a scar over his left eye; carries a katana"
AIKO = "small pastry-chef robot with a pink frosting-coloured chassis who bakes strawberry cakes"


async def cast(client, **project_fields) -> tuple[dict, dict[str, dict]]:
    project = await make_project(client, premise="A wind spirit's journey across the sky islands", **project_fields)
    people = {}
    for name, slug, design in (("Mio", "mio", MIO), ("Ren", "ren", REN), ("Aiko", "aiko", AIKO)):
        people[slug] = await make_character(client, project, name=name, slug=slug, design_prompt=design)
    r = await client.post("/storylines", json={"project_id": project["id"], "title": "Sky Islands",
                                               "summary": "Mio follows the wind to find her lost sister."})
    assert r.status_code == 201, r.text
    return project, people


def sse_events(text: str) -> list[tuple[str, object]]:
    """(event, parsed data) of each SSE message in a complete body (pings skipped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events
