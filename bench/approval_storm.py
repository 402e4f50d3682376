"""Bench of decisions under an approval storm with replenishment on: a real `anime-studio serve`
(its own embedded PostgreSQL, in-process worker), a ComfyUI double, replenishment enabled with a
target above what exists, 5 characters with 180 pending images each, then 1,000 approve requests
fired at once (concurrent httpx; 100 of them hit an image a second time). Then a reviewer
approves what replenishment generates until every character has reached its daily limit, so the
loop runs batch after batch. Once it settles (no generation or replenishment/review job left),
from the database:
- decisions lost: an image with an accepted (200) approval and no human `approved` reviews row;
- decisions duplicated: an image with more than one such row, or two accepted approvals;
- guard violations: a character's batches over the daily limit in a day; a batch decided while
  max_concurrent batches were in flight (from the generations' lifetimes); a batch that took the
  character's pending + generating images past the pending buffer (as decided, and recounted from
  images, reviews and generations at the batch's instant).
value = lost + duplicated + violations; goal <= 0. Last line: JSON {"bench", "value", "goal", "ok"}.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHECKPOINT, REPO, TOKEN, start_double, start_server, stop  # noqa: E402

sys.path.insert(0, str(REPO))
from packages.core import migrate  # noqa: E402
from packages.core.embedded import EmbeddedPostgres  # noqa: E402

CHARACTERS, PER_CHARACTER, REQUESTS = 5, 180, 1000
GUARDS = {"enabled": True, "default_target": 1000, "cooldown_s": 0, "daily_limit": 10, "pending_buffer": 3,
          "max_concurrent": 2, "batch_size": 3, "max_consecutive_rejects": 5}
SETTLE_S = 60
REVIEW_S = 150


def _png(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (n % 256, (n // 256) % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def setup_api(api: httpx.Client, comfy_url: str) -> list[dict]:
    assert api.post("/backends", json={"name": "gpu", "url": comfy_url}).status_code == 201
    style = api.post("/styles", json={"name": "Bench", "checkpoint": CHECKPOINT, "width": 256, "height": 256}).json()
    project = api.post("/projects", json={"name": "Storm", "slug": "storm", "default_style_id": style["id"]}).json()
    characters = []
    for i in range(CHARACTERS):
        character = api.post("/characters", json={"project_id": project["id"], "name": f"C{i}", "slug": f"c{i}",
                                                  "design_prompt": "1girl, silver hair"}).json()
        characters.append({**character, "project_slug": project["slug"]})
    return characters


async def seed(url: str, home: Path, characters: list[dict]) -> list[int]:
    conn = await asyncpg.connect(url)
    ids = []
    n = 0
    for character in characters:
        folder = home / "datasets" / character["project_slug"] / character["slug"] / "images"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for _ in range(PER_CHARACTER):
            n += 1
            (folder / f"seed{n:05d}.png").write_bytes(_png(n))
            rows.append((character["id"], str((folder / f"seed{n:05d}.png").relative_to(home)), f"{n:064x}"))
        ids += [r["id"] for r in await conn.fetch(
            "INSERT INTO images (character_id, path, sha256, width, height, source) "
            "SELECT c, p, s, 64, 64, 'upload' FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(c, p, s) "
            "RETURNING id", [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])]
    await conn.close()
    return ids


async def storm(api: str, image_ids: list[int]) -> tuple[list[tuple[int, int]], float]:
    rng = random.Random(7)
    targets = image_ids[:REQUESTS - 100] + rng.sample(image_ids[:REQUESTS - 100], 100)
    rng.shuffle(targets)
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits,
                                 timeout=120) as client:
        started: list[float] = []

        async def approve(image_id: int) -> tuple[int, int]:
            started.append(time.perf_counter())
            r = await client.post(f"/images/{image_id}/approve")
            return image_id, r.status_code

        results = await asyncio.gather(*(approve(i) for i in targets))
    return results, max(started) - min(started)


async def review_generated(api: str) -> float:
    """Approves generated pending images as they arrive until every character is stopped by its daily limit."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        while time.monotonic() - start < REVIEW_S:
            status = (await client.get("/replenishment/status")).json()
            if all(c["stopped_reason"] == "daily_limit" and c["in_flight"] == 0 for c in status["characters"]):
                break
            for character in status["characters"]:
                page = (await client.get("/images", params={"character_id": character["character_id"],
                                                            "status": "pending", "source": "generated"})).json()
                await asyncio.gather(*(client.post(f"/images/{i['id']}/approve") for i in page["items"]))
            await asyncio.sleep(0.5)
    return time.monotonic() - start


async def settle(url: str) -> float:
    """Waits until no generation is active and no replenishment or review job waits or runs."""
    conn = await asyncpg.connect(url)
    start = time.monotonic()
    quiet = 0
    while time.monotonic() - start < SETTLE_S and quiet < 4:
        busy = await conn.fetchval(
            "SELECT (SELECT count(*) FROM generations WHERE status IN ('queued', 'running')) + "
            "(SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') AND queue_name IN "
            "('replenish', 'review', 'generation') AND (scheduled_at IS NULL OR scheduled_at < now() + interval '5 s'))")
        quiet = quiet + 1 if busy == 0 else 0
        await asyncio.sleep(0.5)
    await conn.close()
    return time.monotonic() - start


async def audit(url: str, results: list[tuple[int, int]]) -> dict:
    conn = await asyncpg.connect(url)
    accepted: dict[int, int] = {}
    for image_id, status in results:
        if status == 200:
            accepted[image_id] = accepted.get(image_id, 0) + 1
    rows = dict(await conn.fetch(
        "SELECT image_id, count(*) FROM reviews WHERE reviewer = 'human' AND decision = 'approved' "
        "AND image_id = ANY($1::bigint[]) GROUP BY 1", list(accepted)))
    lost = sum(1 for i in accepted if rows.get(i, 0) == 0)
    duplicated = sum(1 for i, times in accepted.items() if rows.get(i, 0) > 1 or times > 1)
    violations = []
    for row in await conn.fetch("SELECT character_id, (created_at AT TIME ZONE 'utc')::date AS day, sum(size) AS n "
                                "FROM replenishment_batches GROUP BY 1, 2"):
        if row["n"] > GUARDS["daily_limit"]:
            violations.append(f"daily limit: character {row['character_id']} got {row['n']}")
    batches = await conn.fetch(
        "SELECT b.id, b.character_id, b.size, b.created_at, b.pending_before, "
        "  CASE WHEN bool_and(g.finished_at IS NOT NULL) THEN max(g.finished_at) END AS ended "
        "FROM replenishment_batches b JOIN generations g ON g.replenishment_batch_id = b.id GROUP BY b.id "
        "ORDER BY b.created_at")
    for b in batches:
        overlapping = [o for o in batches if o["created_at"] < b["created_at"]
                       and (o["ended"] is None or o["ended"] > b["created_at"])]
        if len(overlapping) >= GUARDS["max_concurrent"]:
            violations.append(f"concurrency: batch {b['id']} began with {len(overlapping)} in flight")
        if b["pending_before"] + b["size"] > GUARDS["pending_buffer"]:
            violations.append(f"pending buffer: batch {b['id']} decided at {b['pending_before']} + {b['size']}")
        recount = await conn.fetchval(
            "SELECT (SELECT count(*) FROM images i WHERE i.character_id = $1 AND i.created_at <= $2 "
            "        AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.image_id = i.id AND r.created_at <= $2)) "
            "     + (SELECT count(*) FROM generations g JOIN replenishment_batches o ON o.id = g.replenishment_batch_id "
            "        WHERE g.character_id = $1 AND o.created_at <= $2 AND (g.finished_at IS NULL OR g.finished_at > $2) "
            "        AND NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = g.id AND i.created_at <= $2))",
            b["character_id"], b["created_at"])
        if recount > GUARDS["pending_buffer"]:
            violations.append(f"pending buffer: {recount} pending or generating after batch {b['id']}")
    generations = await conn.fetchval("SELECT count(*) FROM generations WHERE replenishment_batch_id IS NOT NULL")
    await conn.close()
    return {"accepted": sum(accepted.values()), "images_accepted": len(accepted), "lost": lost,
            "duplicated": duplicated, "violations": violations, "batches": len(batches), "generations": generations}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        embedded = EmbeddedPostgres(home / "var")
        url = embedded.start()
        migrate.upgrade(url)
        double, comfy_url = start_double(latency=0.2)
        server = start_server(home / "server", DATABASE_URL=url, ANIME_STUDIO_RETRY_BACKOFF_S="0.05")
        try:
            with httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
                characters = setup_api(api, comfy_url)
                image_ids = asyncio.run(seed(url, home / "server", characters))
                assert api.put("/replenishment/settings", json=GUARDS).status_code == 200
            results, fired_s = asyncio.run(storm(server.api, image_ids))
            reviewed_s = asyncio.run(review_generated(server.api))
            settled_s = asyncio.run(settle(url))
            report = asyncio.run(audit(url, results))
        finally:
            server.stop()
            stop(double)
            embedded.stop()
    codes = {code: sum(1 for _, c in results if c == code) for code in sorted({c for _, c in results})}
    print(f"{REQUESTS} approvals fired in {fired_s:.2f} s: {codes}; generated images reviewed for {reviewed_s:.0f} s, "
          f"settled {settled_s:.0f} s later")
    print(f"images accepted {report['images_accepted']}, lost {report['lost']}, duplicated {report['duplicated']}; "
          f"{report['batches']} batches, {report['generations']} generations")
    for line in report["violations"]:
        print("violation:", line)
    value = report["lost"] + report["duplicated"] + len(report["violations"])
    print(json.dumps({"bench": "approval_storm", "value": value, "goal": "<= 0", "ok": value <= 0}))


if __name__ == "__main__":
    main()
