"""A gallery page of 100 out of 100k outputs, server side (Generation issue: p99 <= 25 ms).

The app runs in this process on the embedded PostgreSQL and is called through ASGI (no network),
so the time is the server's: auth, validation, the keyset query, JSON. Pages are walked with the
cursor deep into the collection, with and without filters. Prints p99 / 25 ms as the value."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packages.core import migrate  # noqa: E402
from packages.core.embedded import EmbeddedPostgres  # noqa: E402
from packages.core.settings import Settings  # noqa: E402

OUTPUTS, CHARACTERS, PAGE, LIMIT_MS = 100_000, 20, 100, 25.0
TOKEN = "bench-admin-token-0123456789"


async def seed(url: str) -> int:
    conn = await asyncpg.connect(url)
    project_id = await conn.fetchval("INSERT INTO projects (name, slug) VALUES ('Bench', 'bench') RETURNING id")
    await conn.execute("INSERT INTO characters (project_id, name, slug) "
                       "SELECT $1, 'Character ' || i, 'character-' || i FROM generate_series(1, $2) i",
                       project_id, CHARACTERS)
    await conn.execute(
        """INSERT INTO outputs (project_id, character_id, kind, path, thumbnail, width, height, bytes, sha256, created_at)
           SELECT $1, (SELECT min(id) FROM characters) + i % $3, CASE WHEN i % 10 = 0 THEN 'video' ELSE 'image' END,
                  'output/bench/' || i || '.png', 'output/thumbnails/' || i || '.webp', 832, 1216, 500000, md5(i::text),
                  now() - (i || ' seconds')::interval
           FROM generate_series(1, $2) i""", project_id, OUTPUTS, CHARACTERS)
    await conn.execute("INSERT INTO images (character_id, output_id, path, sha256, width, height, source, status) "
                       "SELECT character_id, id, path, sha256, width, height, 'generated', "
                       "(ARRAY['pending','approved','rejected'])[1 + id % 3] FROM outputs WHERE kind = 'image'")
    await conn.execute("ANALYZE")
    first_character = await conn.fetchval("SELECT min(id) FROM characters")
    await conn.close()
    return project_id, first_character


async def measure(app, project_id: int, character_id: int) -> list[float]:
    timings: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench/api/lora",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        filters = [{}, {"character_id": character_id}, {"kind": "video"}, {"status": "approved"}]
        for round_ in range(3):
            for extra in filters:
                params, pages = {"project_id": project_id, "limit": PAGE, **extra}, 0
                while pages < 60:
                    start = time.perf_counter()
                    r = await client.get("/gallery", params=params)
                    elapsed = (time.perf_counter() - start) * 1000
                    assert r.status_code == 200, r.text
                    body = r.json()
                    if round_:  # the first round warms caches
                        timings.append(elapsed)
                    if not body["next_cursor"]:
                        break
                    params["before"], pages = body["next_cursor"], pages + 1
    return timings


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        embedded = EmbeddedPostgres(Path(tmp) / "var")
        url = embedded.start()
        try:
            migrate.upgrade(url)
            project_id, character_id = asyncio.run(seed(url))
            from src.app import create_app

            home = Path(tmp) / "home"
            home.mkdir()
            app = create_app(Settings(ANIME_STUDIO_HOME=home, DATABASE_URL=url, ANIME_STUDIO_ADMIN_TOKEN=TOKEN,
                                      ANIME_STUDIO_INPROCESS_WORKER=False, _env_file=None))

            async def run():
                async with app.router.lifespan_context(app):
                    return await measure(app, project_id, character_id)

            timings = asyncio.run(run())
        finally:
            embedded.stop()
    p99 = statistics.quantiles(timings, n=100)[98]
    print(f"{len(timings)} gallery pages of {PAGE} out of {OUTPUTS:,}: median {statistics.median(timings):.2f} ms, "
          f"p99 {p99:.2f} ms (limit {LIMIT_MS:.0f} ms)")
    ratio = p99 / LIMIT_MS
    print(json.dumps({"bench": "gallery", "value": round(ratio, 3), "goal": "<= 1.0", "ok": ratio <= 1.0,
                      "p99_ms": round(p99, 2), "median_ms": round(statistics.median(timings), 2)}))


if __name__ == "__main__":
    main()
