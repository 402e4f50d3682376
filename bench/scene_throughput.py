"""3 scenes x 6 shots on ONE ComfyUI double that takes 2 s per shot, with about 0.5 s of review and
frame extraction per shot (Scene Builder issue): makespan against the GPU-bound ideal 18 x 2 s,
goal <= 1.1x. Shots of one scene are serial (each chains from the last frame of the one before),
so the goal is only reachable when one scene's review, extraction and bookkeeping overlap another
scene's rendering and nothing is lost polling.

A real `anime-studio serve` (in-process worker) on the embedded PostgreSQL, one ComfyUI double
process (latency 1 s: a FramePack prompt spans its sampler and its video save node, 2 s) and the
Ollama double answering each vision review in 0.4 s (plus the real ffmpeg extraction of the last
frame). The ideal is 18 x 2 s, or the backend's own busy time (its /history timestamps) when the
double ran slower than its nominal 2 s a prompt; both ratios are printed. The makespan runs from the first generate request to the last shot marked done (the shots'
own timestamps); assembly, another part, is not timed here."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from _common import TOKEN, make_character, start_double, start_server, stop
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import vision_answer

SCENES, SHOTS, SHOT_S, REVIEW_S, GOAL = 3, 6, 2.0, 0.4, 1.1


def spans(url: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of each prompt the backend ran, by its own timestamps."""
    history = httpx.get(url + "/history", params={"max_items": 1000}).json()
    out = []
    for entry in history.values():
        stamps = dict((name, data["timestamp"]) for name, data in entry["status"]["messages"])
        out.append((stamps["execution_start"] / 1000, stamps["execution_success"] / 1000))
    return sorted(out)


def main() -> None:
    double, url = start_double(SHOT_S / 2)
    with OllamaDouble(latency=REVIEW_S) as ollama, tempfile.TemporaryDirectory() as tmp:
        ollama.answer = lambda request: vision_answer(9)
        server = start_server(Path(tmp), OLLAMA_HOST=ollama.url)
        try:
            with httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
                assert api.post("/backends", json={"name": "gpu", "url": url}).status_code == 201
                character = make_character(api)
                [warm] = api.post("/generations", json={"character_id": character["id"]}).json()
                while (gen := api.get(f"/generations/{warm['id']}").json())["status"] not in ("succeeded", "failed"):
                    time.sleep(0.2)
                assert gen["status"] == "succeeded", gen
                source = gen["outputs"][0]
                scene_ids = []
                for n in range(SCENES):
                    scene = api.post("/scenes", json={"project_id": character["project_id"], "title": f"Scene {n}"}).json()
                    for k in range(SHOTS):
                        body = {"prompt": f"shot {k}", "duration_s": 1, "character_ids": [character["id"]]}
                        if k == 0:
                            body["source_output_id"] = source
                        assert api.post(f"/scenes/{scene['id']}/shots", json=body).status_code == 201
                    scene_ids.append(scene["id"])
                warm_prompts = len(spans(url))
                started = datetime.now(timezone.utc)
                for scene_id in scene_ids:
                    assert api.post(f"/scenes/{scene_id}/generate").status_code == 202
                while any(api.get(f"/scenes/{i}").json()["status"] in ("queued", "generating") for i in scene_ids):
                    time.sleep(0.5)
                shots = [s for i in scene_ids for s in api.get(f"/scenes/{i}").json()["shots"]]
                last = max(shots, key=lambda s: s["updated_at"])
                last_gen = api.get(f"/generations/{last['generation_id']}").json()
            runs = spans(url)[warm_prompts:]
        finally:
            server.stop()
            stop(double)
    failed = [s for s in shots if s["status"] != "done"]
    assert not failed, failed[:2]
    assert all(len(s["attempts"]) == 1 for s in shots), "a shot was retried: the bench expects one attempt each"
    finished = max(datetime.fromisoformat(s["updated_at"]) for s in shots)
    makespan = (finished - started).total_seconds()
    nominal = SCENES * SHOTS * SHOT_S
    busy = sum(end - start for start, end in runs)
    # the GPU-bound ideal: 18 x 2 s, or the backend's own busy time when the double itself ran slower
    # than its nominal 2 s a prompt (its video save node encodes real frames; a loaded machine shows it)
    ideal = max(nominal, busy)
    ratio = makespan / ideal
    print(f"{SCENES} scenes x {SHOTS} shots on one backend: makespan {makespan:.2f} s, ideal {ideal:.2f} s "
          f"(max of {SCENES * SHOTS} x {SHOT_S:g} s and the backend's busy time), ratio {ratio:.3f} "
          f"(goal <= {GOAL}); against {nominal:.0f} s: {makespan / nominal:.3f}")
    print(f"the backend's own time: {len(runs)} prompts, {busy:.2f} s busy "
          f"({busy / max(len(runs), 1):.2f} s each), idle {makespan - busy:.2f} s of the makespan")
    gaps = [nxt[0] - prev[1] for prev, nxt in zip(runs, runs[1:])]
    print(f"backend idle: {runs[0][0] - started.timestamp():.2f} s before the first prompt, "
          f"{sum(gaps):.2f} s between prompts (largest {max(gaps, default=0):.2f} s), "
          f"{finished.timestamp() - runs[-1][1]:.2f} s after the last one (its review and extraction)")
    saved = datetime.fromisoformat(last_gen["finished_at"])
    print(f"the last shot: outputs saved {saved.timestamp() - runs[-1][1]:.2f} s after its prompt ended, "
          f"then reviewed and kept in {(finished - saved).total_seconds():.2f} s")
    print(json.dumps({"bench": "scene_throughput", "value": round(ratio, 3), "goal": f"<= {GOAL}",
                      "ok": ratio <= GOAL, "makespan_s": round(makespan, 2), "backend_busy_s": round(busy, 2),
                      "vs_nominal": round(makespan / nominal, 3)}))


if __name__ == "__main__":
    main()
