"""Bounded load on loopback (Hardening issue, item 5): a real `anime-studio serve` (its own embedded
PostgreSQL, in-process worker) and 50 concurrent clients for 60 s:
- 25 reviewers, one character each (8,000 pending images seeded through the database): read the
  pending queue a page at a time and approve or reject every image on it (one in four rejected);
- 15 gallery browsers: walk the gallery of 20,000 outputs with its cursor, under rotating filters;
- 10 event-stream clients, connected for the whole run (`GET /events/stream?project_id=`), each
  expected to receive the `image.approved` / `image.rejected` event of every accepted decision.
Afterwards, from the database: every accepted decision has exactly one human row in `reviews`
with the decision sent and the image in that state, and no row exists for a decision that was not
accepted. Prints p50/p99 per endpoint (client side, so it includes the client's own time on the
same cores); `events.connect` is the time to the stream's headers, `events.delivery` the time from
an event's `at` (its transaction's start, so the decision's own time is in it) to its arrival.

value = HTTP errors (non-2xx, timeouts, broken connections) + decisions lost + duplicated + stored
without being accepted + events an open stream never delivered; goal <= 0.
LOAD_BENCH_S shortens the run for a smoke test (e.g. LOAD_BENCH_S=10). Last line: JSON
{"bench", "value", "goal", "ok", "p99_ms"}."""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CHECKPOINT, REPO, TOKEN, start_server  # noqa: E402

sys.path.insert(0, str(REPO))
from packages.core import migrate  # noqa: E402
from packages.core.embedded import EmbeddedPostgres  # noqa: E402

DURATION_S = float(os.environ.get("LOAD_BENCH_S", "60"))
REVIEWERS, GALLERY, STREAMS = 25, 15, 10  # 50 clients
PER_CHARACTER, OUTPUTS, QUEUE_PAGE, GALLERY_PAGE = 320, 20_000, 20, 50
CATCH_UP_S = 15  # after the run, how long the streams get to deliver the last events
DECISION_EVENTS = {"image.approved": "approved", "image.rejected": "rejected"}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def setup_api(api: httpx.Client) -> tuple[dict, list[dict]]:
    style = api.post("/styles", json={"name": "Load", "checkpoint": CHECKPOINT, "width": 256, "height": 256}).json()
    project = api.post("/projects", json={"name": "Load", "slug": "load", "default_style_id": style["id"]}).json()
    characters = [api.post("/characters", json={"project_id": project["id"], "name": f"Reviewer {i}", "slug": f"r{i}",
                                                "design_prompt": "1girl, silver hair"}).json()
                  for i in range(REVIEWERS)]
    return project, characters


async def seed(url: str, home: Path, project: dict, characters: list[dict]) -> list[int]:
    """20k gallery outputs, the newest 8,000 of them also pending dataset images (files on disk,
    so approvals write their caption files as they would for real)."""
    png = _png()
    conn = await asyncpg.connect(url)
    char_ids, paths = [], []
    for character in characters:
        folder = home / "datasets" / project["slug"] / character["slug"] / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(PER_CHARACTER):
            (folder / f"load{n:04d}.png").write_bytes(png)
            char_ids.append(character["id"])
            paths.append(str((folder / f"load{n:04d}.png").relative_to(home)))
    await conn.execute(
        """INSERT INTO outputs (project_id, character_id, kind, path, thumbnail, width, height, bytes, sha256, created_at)
           SELECT $1, ($2::bigint[])[1 + i % array_length($2::bigint[], 1)], CASE WHEN i % 10 = 0 THEN 'video' ELSE 'image' END,
                  'output/load/' || i || '.png', 'output/thumbnails/' || i || '.webp', 832, 1216, 500000,
                  md5(i::text), now() - (i || ' seconds')::interval
           FROM generate_series(1, $3) i""", project["id"], [c["id"] for c in characters], OUTPUTS)
    ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO images (character_id, output_id, path, sha256, width, height, source)
           SELECT t.c, (SELECT min(id) FROM outputs) + t.n - 1, t.p, md5(t.p), 64, 64, 'generated'
           FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS t(c, p, n) RETURNING id""", char_ids, paths)]
    await conn.execute("ANALYZE")
    await conn.close()
    return ids


class Load:
    def __init__(self, api: str, project_id: int):
        self.api, self.project_id = api, project_id
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.decisions: dict[int, tuple[str, int]] = {}  # image id -> (decision, status code)
        self.seen: list[dict[int, str]] = [{} for _ in range(STREAMS)]
        self.connected = 0
        self.deadline = 0.0

    def client(self, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)

    async def call(self, client: httpx.AsyncClient, name: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            r = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.errors[f"{name}: {type(exc).__name__}"] += 1
            return None
        self.timings[name].append((time.perf_counter() - start) * 1000)
        if r.status_code >= 300:
            self.errors[f"{name}: {r.status_code} {r.text[:120]}"] += 1
        return r

    async def reviewer(self, character_id: int) -> None:
        async with self.client() as client:
            while time.monotonic() < self.deadline:
                r = await self.call(client, "review.queue", "GET", "/images", params={
                    "character_id": character_id, "status": "pending", "limit": QUEUE_PAGE})
                items = r.json()["items"] if r is not None and r.status_code == 200 else []
                if not items:
                    return  # this character's queue is done
                for item in items:
                    if time.monotonic() >= self.deadline:
                        return
                    image_id = item["id"]
                    if image_id % 4 == 0:
                        decision, name, path, body = "rejected", "review.reject", f"/images/{image_id}/reject", {"reason": "blur"}
                    else:
                        decision, name, path, body = "approved", "review.approve", f"/images/{image_id}/approve", None
                    self.decisions[image_id] = (decision, 0)  # sent; 0 until answered
                    r = await self.call(client, name, "POST", path, json=body)
                    self.decisions[image_id] = (decision, r.status_code if r is not None else 0)

    async def browser(self, n: int) -> None:
        filters = [{}, {"kind": "video"}, {"status": "approved"}, {"status": "pending"}, {"kind": "image"}]
        async with self.client() as client:
            round_ = n
            while time.monotonic() < self.deadline:
                params = {"project_id": self.project_id, "limit": GALLERY_PAGE, **filters[round_ % len(filters)]}
                for _ in range(5):  # five pages deep, then start over with the next filter
                    r = await self.call(client, "gallery", "GET", "/gallery", params=params)
                    if r is None or r.status_code != 200 or not r.json()["next_cursor"]:
                        break
                    params["before"] = r.json()["next_cursor"]
                    if time.monotonic() >= self.deadline:
                        break
                round_ += 1

    async def stream(self, n: int, stop: asyncio.Event) -> None:
        seen = self.seen[n]
        async with self.client(timeout=httpx.Timeout(30, read=None)) as client:
            start = time.perf_counter()
            try:
                async with client.stream("GET", "/events/stream", params={"project_id": self.project_id}) as r:
                    self.timings["events.connect"].append((time.perf_counter() - start) * 1000)
                    if r.status_code != 200:
                        self.errors[f"events.stream: {r.status_code}"] += 1
                        return
                    self.connected += 1
                    reader = asyncio.ensure_future(self._read(r, seen))
                    await stop.wait()
                    reader.cancel()
            except httpx.HTTPError as exc:
                self.errors[f"events.stream: {type(exc).__name__}"] += 1

    async def _read(self, response: httpx.Response, seen: dict[int, str]) -> None:
        event_type = None
        try:
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event_type = line.partition(":")[2].strip()
                elif line.startswith("data:") and event_type in DECISION_EVENTS:
                    event = json.loads(line.partition(":")[2])
                    seen[event["payload"]["image_id"]] = DECISION_EVENTS[event_type]
                    at = datetime.fromisoformat(event["at"]).timestamp()
                    self.timings["events.delivery"].append((time.time() - at) * 1000)
                elif not line:
                    event_type = None
        except httpx.HTTPError as exc:
            self.errors[f"events.stream read: {type(exc).__name__}"] += 1

    def accepted(self) -> dict[int, str]:
        return {i: d for i, (d, code) in self.decisions.items() if code == 200}

    async def run(self, character_ids: list[int]) -> float:
        stop = asyncio.Event()
        streams = [asyncio.ensure_future(self.stream(n, stop)) for n in range(STREAMS)]
        for _ in range(300):  # every stream open before the first decision
            if self.connected == STREAMS:
                break
            await asyncio.sleep(0.1)
        started = time.monotonic()
        self.deadline = started + DURATION_S
        await asyncio.gather(*(self.reviewer(c) for c in character_ids), *(self.browser(n) for n in range(GALLERY)))
        elapsed = time.monotonic() - started
        want = self.accepted()
        catch_up = time.monotonic() + CATCH_UP_S
        while time.monotonic() < catch_up and any(not want.keys() <= s.keys() for s in self.seen):
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*streams)
        return elapsed


async def audit(url: str, image_ids: list[int], load: Load) -> dict:
    conn = await asyncpg.connect(url)
    rows = await conn.fetch(
        "SELECT r.image_id, r.decision, count(*) AS n, min(i.status) AS status FROM reviews r "
        "JOIN images i ON i.id = r.image_id WHERE r.reviewer = 'human' AND r.image_id = ANY($1::bigint[]) "
        "GROUP BY 1, 2", image_ids)
    await conn.close()
    stored: dict[int, list] = defaultdict(list)
    for r in rows:
        stored[r["image_id"]].append(r)
    accepted = load.accepted()
    lost = sum(1 for i, d in accepted.items() if not any(r["decision"] == d for r in stored.get(i, [])))
    duplicated = sum(1 for i in accepted if len(stored.get(i, [])) != 1 or stored[i][0]["n"] != 1
                     or stored[i][0]["status"] != accepted[i])
    unaccepted = sum(1 for i in stored if i not in accepted)
    missed = [len(accepted.keys() - s.keys()) + sum(1 for i, d in s.items() if accepted.get(i) not in (None, d))
              for s in load.seen]
    return {"accepted": len(accepted), "lost": lost, "duplicated": duplicated, "unaccepted": unaccepted,
            "missed_events": sum(missed), "missed_per_stream": missed}


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        embedded = EmbeddedPostgres(home / "var")
        url = embedded.start()
        server = None
        try:
            migrate.upgrade(url)
            server = start_server(home / "server", DATABASE_URL=url)
            with httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
                project, characters = setup_api(api)
            image_ids = asyncio.run(seed(url, home / "server", project, characters))
            load = Load(server.api, project["id"])
            elapsed = asyncio.run(load.run([c["id"] for c in characters]))
            report = asyncio.run(audit(url, image_ids, load))
        finally:
            if server is not None:
                server.stop()
            embedded.stop()
    requests = sum(len(v) for k, v in load.timings.items() if k != "events.delivery")
    print(f"{REVIEWERS} reviewers + {GALLERY} gallery browsers + {STREAMS} event streams for {elapsed:.0f} s: "
          f"{requests} requests ({requests / elapsed:.0f}/s), {len(image_ids)} pending images seeded")
    p99 = {}
    for name in sorted(load.timings):
        values = load.timings[name]
        p99[name] = round(pct(values, 99), 1)
        print(f"  {name:16} n={len(values):6}  p50 {pct(values, 50):7.1f} ms  p99 {p99[name]:7.1f} ms")
    errors = sum(load.errors.values())
    for what, n in load.errors.most_common(10):
        print(f"  error x{n}: {what}")
    print(f"decisions accepted {report['accepted']}: lost {report['lost']}, duplicated or wrong {report['duplicated']}, "
          f"stored without being accepted {report['unaccepted']}; events never delivered per stream "
          f"{report['missed_per_stream']}")
    value = errors + report["lost"] + report["duplicated"] + report["unaccepted"] + report["missed_events"]
    print(json.dumps({"bench": "load", "value": value, "goal": "<= 0", "ok": value <= 0, "p99_ms": p99,
                      "errors": errors, "decisions": report["accepted"], "missed_events": report["missed_events"],
                      "duration_s": round(elapsed, 1)}))


if __name__ == "__main__":
    main()
