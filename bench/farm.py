"""6 scenes x 3 shots over 4 ComfyUI doubles with roles (GPU farm issue): 1 keyframe backend (a
shot 1's start image, 0.5 s), 2 worker backends (every shot's video, 3 s) and 1 hero backend (a
hero pass of each scene's shot 1, requested as soon as that shot is done, 1 s). Goal: makespan
<= 1.1x the ideal parallel schedule.

The ideal is the lower bound no scheduler can beat on this work: the largest of
  - the workers' bound: the first keyframe (K) + all shot renders spread over both workers
    (6 x 3 x W / 2); nothing can follow the last render on the hero GPU, it re-renders shot 1s;
  - the keyframe GPU's bound: 6 keyframes in a row (6 K), then one scene's 3 chained shots (3 W);
  - the hero GPU's bound: K + one shot (W), then 6 hero renders in a row (6 H).
K, W and H are the doubles' own mean prompt times from their /history timestamps (never below
the nominal 0.5, 3 and 1 s: a loaded machine makes the doubles slower and the bound follows).
With these numbers the workers' bound decides: 0.5 + 27 = 27.5 s. The makespan runs from the
first generate request to the last shot marked done or hero-passed (the shots' own timestamps):
a shot's review (the Ollama double, 0.4 s) and bookkeeping count; the scenes' assembly after the
hero passes (CPU, another part) does not.

A real `anime-studio serve` (in-process worker) on the embedded PostgreSQL, four double processes
(latency 1.5 s for the workers: a FramePack prompt spans its sampler and its video save node, 3 s;
0.5 s for the hero: 1 s; 0.5 s for the keyframe's image prompt) and the Ollama double."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from _common import TOKEN, make_character, start_double, start_server, stop, wait_for_memory
from tests.doubles.ollama import OllamaDouble
from tests.integration.scene_helpers import vision_answer

SCENES, SHOTS, GOAL = 6, 3, 1.1
K, W, H = 0.5, 3.0, 1.0  # nominal seconds of a keyframe image, a worker shot, a hero shot
ROLES = (("keyframe", K), ("worker", W / 2), ("worker", W / 2), ("hero", H / 2))  # latency per double


def spans(url: str) -> list[tuple[float, float]]:
    """(start, end) in seconds of each prompt the backend ran, by its own timestamps."""
    history = httpx.get(url + "/history", params={"max_items": 1000}).json()
    out = []
    for entry in history.values():
        stamps = dict((name, data["timestamp"]) for name, data in entry["status"]["messages"])
        out.append((stamps["execution_start"] / 1000, stamps["execution_success"] / 1000))
    return sorted(out)


def mean(runs: list[tuple[float, float]], nominal: float) -> float:
    return max(nominal, sum(e - s for s, e in runs) / len(runs)) if runs else nominal


def main() -> None:
    doubles = [(role, *start_double(latency)) for role, latency in ROLES]
    with OllamaDouble(latency=0.4) as ollama, tempfile.TemporaryDirectory() as tmp:
        ollama.answer = lambda request: vision_answer(9)
        server = start_server(Path(tmp), OLLAMA_HOST=ollama.url)
        try:
            with httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as api:
                for n, (role, _, url) in enumerate(doubles):
                    r = api.post("/backends", json={"name": f"{n}-{role}", "url": url, "roles": [role]})
                    assert r.status_code == 201, r.text
                character = make_character(api)
                wait_for_memory(api)
                # warm-up: one image on each role (connections, template cache, first-time imports)
                warm = [api.post("/generations", json={"character_id": character["id"], "role": role}).json()[0]
                        for role in ("keyframe", "worker", "worker", "hero")]
                for gen in warm:
                    while (row := api.get(f"/generations/{gen['id']}").json())["status"] not in ("succeeded", "failed"):
                        time.sleep(0.2)
                    assert row["status"] == "succeeded", row
                scene_ids = []
                for n in range(SCENES):
                    scene = api.post("/scenes", json={"project_id": character["project_id"], "title": f"Scene {n}",
                                                      "music_mode": "none"}).json()
                    for k in range(SHOTS):
                        body = {"prompt": f"scene {n} shot {k}", "duration_s": 1}
                        if k == 0:
                            body["character_ids"] = [character["id"]]
                        assert api.post(f"/scenes/{scene['id']}/shots", json=body).status_code == 201
                    scene_ids.append(scene["id"])
                warm_prompts = {url: len(spans(url)) for _, _, url in doubles}
                started = datetime.now(timezone.utc)
                for scene_id in scene_ids:
                    assert api.post(f"/scenes/{scene_id}/generate").status_code == 202
                heroed: set[int] = set()
                while True:
                    scenes = [api.get(f"/scenes/{i}").json() for i in scene_ids]
                    for scene in scenes:  # the chosen shot: shot 1, re-rendered on the hero GPU once done
                        first = scene["shots"][0]
                        if first["status"] == "done" and first["id"] not in heroed:
                            r = api.post(f"/scenes/{scene['id']}/shots/{first['id']}/hero-pass")
                            assert r.status_code == 202, r.text
                            heroed.add(first["id"])
                    shots = [s for scene in scenes for s in scene["shots"]]
                    if any(s["status"] == "failed" for s in shots) or any(sc["status"] == "failed" for sc in scenes):
                        raise SystemExit(f"a scene failed: {[sc['error'] for sc in scenes if sc['error']]}")
                    if all(s["status"] == "done" for s in shots) and all(
                            scene["shots"][0]["hero_status"] in ("done", "failed") for scene in scenes):
                        break
                    time.sleep(0.2)
            runs = {role_url: spans(role_url)[warm_prompts[role_url]:] for _, _, role_url in doubles}
        finally:
            server.stop()
            for _, process, _ in doubles:
                stop(process)
    assert all(scene["shots"][0]["hero_status"] == "done" for scene in scenes), "a hero pass failed"
    assert all(len(s["attempts"]) == 1 for s in shots), "a shot was retried: the bench expects one attempt each"
    finished = max(datetime.fromisoformat(s["updated_at"]) for s in shots)
    makespan = (finished - started).total_seconds()
    by_role = {role: [r for rr, _, url in doubles if rr == role for r in runs[url]] for role in ("keyframe", "worker", "hero")}
    k, w, h = mean(by_role["keyframe"], K), mean(by_role["worker"], W), mean(by_role["hero"], H)
    bounds = {"workers": k + SCENES * SHOTS * w / 2, "keyframe": SCENES * k + SHOTS * w, "hero": k + w + SCENES * h}
    ideal = max(bounds.values())
    nominal = max(K + SCENES * SHOTS * W / 2, SCENES * K + SHOTS * W, K + W + SCENES * H)
    ratio = makespan / ideal
    print(f"{SCENES} scenes x {SHOTS} shots + {SCENES} hero passes on 1 keyframe, 2 worker, 1 hero backends: "
          f"makespan {makespan:.2f} s, ideal {ideal:.2f} s ({', '.join(f'{n} {b:.2f}' for n, b in bounds.items())}), "
          f"ratio {ratio:.3f} (goal <= {GOAL}); against the nominal {nominal:.2f} s: {makespan / nominal:.3f}")
    for role, role_runs in by_role.items():
        busy = sum(e - s for s, e in role_runs)
        print(f"{role:<8} {len(role_runs):>3} prompts, {busy:6.2f} s busy, mean {busy / max(len(role_runs), 1):.2f} s")
    for n, (role, _, url) in enumerate(doubles):  # where a backend sat idle: before, between, after its prompts
        own = runs[url]
        if own:
            gaps = [b[0] - a[1] for a, b in zip(own, own[1:])]
            print(f"{n}-{role:<8} idle {own[0][0] - started.timestamp():5.2f} s before, {sum(gaps):5.2f} s between "
                  f"(largest {max(gaps, default=0):.2f} s), {finished.timestamp() - own[-1][1]:5.2f} s after")
    print(json.dumps({"bench": "farm", "value": round(ratio, 3), "goal": f"<= {GOAL}", "ok": ratio <= GOAL,
                      "makespan_s": round(makespan, 2), "ideal_s": round(ideal, 2),
                      "vs_nominal": round(makespan / nominal, 3)}))


if __name__ == "__main__":
    main()
