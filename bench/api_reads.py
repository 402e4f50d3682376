"""Pages of projects and characters through the real HTTP API, against the same queries on raw
asyncpg, with 10k characters (Foundation issue: >= 0.5x raw throughput, p99 <= 25 ms).

Throughput: both sides run with the same concurrency (4) on the same embedded PostgreSQL. The raw
side is asyncpg from this process; the API side is a real `anime-studio serve` (uvicorn, auth,
validation, JSON) loaded by `wrk` (Debian's package: `apt-get install wrk`), a C client, so the
figure is the server's and not a Python HTTP client's. The value printed is the worse of the two
throughput ratios (projects, characters). Latency (median, p99) is measured with one httpx client
at a time, so it shows the request's own cost rather than queueing on this 2-core machine."""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from packages.characters import queries as character_queries  # noqa: E402
from packages.core import migrate  # noqa: E402
from packages.core.db import create_pool  # noqa: E402
from packages.core.embedded import EmbeddedPostgres  # noqa: E402
from packages.story import queries as story_queries  # noqa: E402
from _common import TOKEN, start_server  # noqa: E402

CHARACTERS, PROJECTS, PAGE = 10_000, 500, 50
CONCURRENCY, SECONDS = 4, 5.0


async def seed(url: str) -> int:
    conn = await asyncpg.connect(url)
    await conn.execute(
        "INSERT INTO projects (name, slug) SELECT 'Project ' || i, 'project-' || i FROM generate_series(1, $1) i",
        PROJECTS)
    project_id = await conn.fetchval("SELECT id FROM projects WHERE slug = 'project-1'")
    await conn.execute(
        "INSERT INTO characters (project_id, name, slug, design_prompt, appearance_data) "
        "SELECT $1, 'Character ' || i, 'character-' || i, '1girl, silver hair, red eyes', "
        "'{\"species\": \"human\", \"gender\": \"female\", \"key_colors\": [\"silver\"]}' "
        "FROM generate_series(1, $2) i", project_id, CHARACTERS)
    await conn.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps (index-only scans)
    await conn.close()
    return project_id


async def run_for(seconds: float, call, concurrency: int = CONCURRENCY) -> tuple[float, list[float]]:
    """Runs `call()` from `concurrency` loops for `seconds`; returns (calls per second, latencies in ms)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop():
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - t) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - start), latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def measure(url: str, api: str, project_id: int) -> dict:
    rng = random.Random(7)
    pool = await create_pool(url, min_size=CONCURRENCY, max_size=CONCURRENCY)

    async def raw_characters():  # the same page wrk asks for
        async with pool.acquire() as conn:
            await character_queries.list_characters(conn, project_id=project_id, archived=False, q=None,
                                                    limit=PAGE, offset=CHARACTERS // 2)

    async def raw_projects():
        async with pool.acquire() as conn:
            await story_queries.list_projects(conn, q=None, status=None, include_archived=False, limit=PAGE,
                                              offset=PROJECTS // 2)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits) as client:
        def wrk_rps(path: str) -> float:
            out = subprocess.run(["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{SECONDS:g}s", "-H",
                                  f"Authorization: Bearer {TOKEN}", api + path],
                                 capture_output=True, text=True, check=True).stdout
            if "Non-2xx" in out:
                raise SystemExit(f"wrk got errors:\n{out}")
            return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

        async def api_characters():
            r = await client.get("/characters", params={"project_id": project_id, "limit": PAGE,
                                                        "offset": rng.randrange(0, CHARACTERS - PAGE)})
            assert r.status_code == 200 and len(r.json()["items"]) == PAGE, r.text[:200]

        async def api_projects():
            r = await client.get("/projects", params={"limit": PAGE, "offset": rng.randrange(0, PROJECTS - PAGE)})
            assert r.status_code == 200 and len(r.json()["items"]) == PAGE, r.text[:200]

        for warm in (raw_characters, raw_projects, api_characters, api_projects):  # the latency clients: any page
            await run_for(0.5, warm)
        results = {}
        middle = CHARACTERS // 2  # wrk repeats one URL: a page from the middle of the list
        for name, raw, via_api, path in (
                ("characters", raw_characters, api_characters,
                 f"/characters?project_id={project_id}&limit={PAGE}&offset={middle}"),
                ("projects", raw_projects, api_projects, f"/projects?limit={PAGE}&offset={PROJECTS // 2}")):
            raw_rps, _ = await run_for(SECONDS, raw)
            api_rps = await asyncio.to_thread(wrk_rps, path)
            _, latencies = await run_for(SECONDS / 2, via_api, concurrency=1)  # latency without queueing
            results[name] = {"raw_rps": round(raw_rps), "api_rps": round(api_rps),
                             "ratio": round(api_rps / raw_rps, 3), "api_p99_ms": round(p99(latencies), 2),
                             "api_median_ms": round(statistics.median(latencies), 2)}
    await pool.close()
    return results


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api_reads.py loads the API with wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        embedded = EmbeddedPostgres(home / "var")
        url = embedded.start()
        migrate.upgrade(url)
        project_id = asyncio.run(seed(url))
        server = start_server(home / "server", DATABASE_URL=url)
        api = server.api
        try:
            results = asyncio.run(measure(url, api, project_id))
        finally:
            server.stop()
            embedded.stop()
    for name, r in results.items():
        print(f"{name:<11} raw {r['raw_rps']:>6} req/s   api {r['api_rps']:>6} req/s   ratio {r['ratio']:.2f}   "
              f"api median {r['api_median_ms']} ms  p99 {r['api_p99_ms']} ms")
    ratio = min(r["ratio"] for r in results.values())
    worst_p99 = max(r["api_p99_ms"] for r in results.values())
    print(json.dumps({"bench": "api_reads", "value": ratio, "goal": ">= 0.5", "ok": ratio >= 0.5 and worst_p99 <= 25,
                      "p99_ms": worst_p99, "p99_goal_ms": 25, "details": results}))


if __name__ == "__main__":
    main()
