"""200 image jobs over 4 ComfyUI doubles that take 200 ms a prompt (Generation issue):
makespan against the ideal 200 x 0.2 / 4 = 10 s, goal <= 1.05x; per-job overhead median <= 5 ms,
where a job's overhead is the time its backend sat idle before running it: from the end of the
backend's previous prompt to the start of this one (ComfyUI's own timestamps, from /history).

A real `anime-studio serve` (in-process worker) on the embedded PostgreSQL and four double
processes; the jobs are posted through the API and timed from the generations' own rows (the
first one's created_at to the last one's finished_at)."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from _common import TOKEN, make_character, start_double, start_server, stop, wait_for_memory

JOBS, BACKENDS, LATENCY, GOAL = 200, 4, 0.2, 1.05


def main() -> None:
    doubles = [start_double(LATENCY) for _ in range(BACKENDS)]
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        api_url = server.api
        try:
            with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
                for i, (_, url) in enumerate(doubles):
                    assert api.post("/backends", json={"name": f"gpu-{i}", "url": url}).status_code == 201
                character = make_character(api)
                wait_for_memory(api)
                # warm-up: one job per backend (connections, template cache, first-time imports)
                warm = api.post("/generations", json={"character_id": character["id"], "count": BACKENDS}).json()
                wait_all(api, character["project_id"], [g["id"] for g in warm])
                ids = []
                while len(ids) < JOBS:
                    batch = api.post("/generations", json={"character_id": character["id"],
                                                           "count": min(16, JOBS - len(ids))}).json()
                    ids += [g["id"] for g in batch]
                rows = wait_all(api, character["project_id"], ids)
                # from the first job's creation to the last one's end, by the rows' own timestamps
                makespan = (max(datetime.fromisoformat(r["finished_at"]) for r in rows)
                            - min(datetime.fromisoformat(r["created_at"]) for r in rows)).total_seconds()
            gaps = [gap for _, url in doubles for gap in idle_gaps(url)]
            executions = [t for _, url in doubles for t in execution_times(url)]
        finally:
            server.stop()
            for process, _ in doubles:
                stop(process)
    failed = [r for r in rows if r["status"] != "succeeded"]
    assert not failed, failed[:3]
    ideal = JOBS * LATENCY / BACKENDS
    overheads = gaps
    ratio = makespan / ideal
    print(f"{JOBS} jobs on {BACKENDS} backends at {LATENCY * 1000:.0f} ms: makespan {makespan:.2f} s, "
          f"ideal {ideal:.1f} s, ratio {ratio:.3f} (goal <= {GOAL})")
    print(f"the backends' own time per prompt: median {statistics.median(executions):.0f} ms "
          f"(nominal {LATENCY * 1000:.0f} ms)")
    print(f"per-job overhead (backend idle before each prompt): median {statistics.median(overheads):.1f} ms, "
          f"p90 {statistics.quantiles(overheads, n=10)[8]:.1f} ms (goal median <= 5 ms)")
    median_overhead = statistics.median(overheads)
    print(json.dumps({"bench": "dispatch", "value": round(ratio, 3), "goal": f"<= {GOAL}",
                      "ok": ratio <= GOAL and median_overhead <= 5, "makespan_s": round(makespan, 2),
                      "overhead_median_ms": round(median_overhead, 2)}))


def execution_times(url: str) -> list[float]:
    """Milliseconds each prompt took on the backend, by its own timestamps."""
    history = httpx.get(url + "/history", params={"max_items": 1000}).json()
    return [float(dict((n, d["timestamp"]) for n, d in e["status"]["messages"])["execution_success"]
                  - dict((n, d["timestamp"]) for n, d in e["status"]["messages"])["execution_start"])
            for e in history.values()]


def idle_gaps(url: str) -> list[float]:
    """Milliseconds each backend waited between the end of one prompt and the start of the next."""
    history = httpx.get(url + "/history", params={"max_items": 1000}).json()
    spans = []
    for entry in history.values():
        stamps = dict((name, data["timestamp"]) for name, data in entry["status"]["messages"])
        spans.append((stamps["execution_start"], stamps["execution_success"]))
    spans.sort()
    return [float(nxt[0] - prev[1]) for prev, nxt in zip(spans, spans[1:])][1:]  # skip the warm-up gap


def wait_all(api: httpx.Client, project_id: int, ids: list[int]) -> list[dict]:
    """Waits (cheaply: two counts every half second) until nothing is queued or running."""
    def count(status: str) -> int:
        return api.get("/generations", params={"project_id": project_id, "status": status, "limit": 1}).json()["total"]

    while count("queued") + count("running"):
        time.sleep(0.5)
    wanted, rows, offset = set(ids), [], 0
    while True:
        page = api.get("/generations", params={"project_id": project_id, "limit": 200, "offset": offset}).json()
        rows += [g for g in page["items"] if g["id"] in wanted]
        offset += 200
        if offset >= page["total"]:
            return rows


if __name__ == "__main__":
    main()
