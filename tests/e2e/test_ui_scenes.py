"""Browser test for the Scenes tab: the real built UI against the real server at 1280x800, with a
ComfyUI protocol double that has no video nodes as the only backend, so each shot's start image is
rendered on the double and its video by the CPU animatic engine (DESIGN.md section 5); no Ollama,
so the gate is the metrics review and "Generate scenes from story" explains what is missing.
A scene and three shots are built in the UI, reordered with the keyboard and by dragging, edited
(durations, motion preset, a line of dialogue), generated while the monitor follows each shot
live, and the assembled scene plays and seeks in its player."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.doubles.comfyui import ComfyUIDouble  # noqa: E402
from tests.e2e.conftest import ARTIFACTS  # noqa: E402
from tests.e2e.api import client, ok  # noqa: E402

CHECKPOINT = "animagine-xl-3.1.safetensors"
# without these the double can render images only: no FramePack, no LTX-Video
VIDEO_NODES = {"LoadFramePackModel", "FramePackSampler", "FramePackFindNearestBucket", "FramePackLoraSelect",
               "FramePackTorchCompileSettings", "LTXVImgToVideo", "LTXVConditioning", "LTXVScheduler",
               "EmptyLTXVLatentVideo", "ModelSamplingLTXV"}
LINE = "The wind is changing."
PROMPT = "Aiko on the rooftop, lanterns below"


def set_up(server, comfy_url: str) -> dict:
    """A style on the double's checkpoint (small frames), a project using it, one character and the
    double as a backend (through the API: the screens that make them have their own tests)."""
    with client(server) as api:
        style = ok(api.post("/styles", json={"name": "Anime", "checkpoint": CHECKPOINT, "width": 512, "height": 512,
                                             "positive_template": "masterpiece, {prompt}"}))
        project = ok(api.post("/projects", json={"name": "Harbor Lights", "slug": "harbor-lights",
                                                 "default_style_id": style["id"]}))
        character = ok(api.post("/characters", json={"project_id": project["id"], "name": "Aiko", "slug": "aiko",
                                                     "design_prompt": "1girl, short black hair, red scarf"}))
        ok(api.post("/backends", json={"name": "images-only", "url": comfy_url}))
        return {"project": project, "character": character}


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def api_shots(server, scene_id: int) -> list[dict]:
    with client(server) as api:
        return ok(api.get(f"/scenes/{scene_id}"))["shots"]


def commit(locator, value: str) -> None:
    """Types into a field and leaves it: the card saves a field when it changes."""
    locator.fill(value)
    locator.press("Tab")


def install_recorder(page: Page) -> None:
    """Records each status every shot's monitor tile shows, so the test can tell the shots were
    followed live (generating, reviewing, done) rather than appearing finished at the end."""
    page.evaluate("""() => {
      window.__shots = {};
      const read = () => {
        for (const tile of document.querySelectorAll('[data-testid^="shot-monitor-"]')) {
          const seen = (window.__shots[tile.dataset.testid] ||= []);
          const s = tile.dataset.status;
          if (seen[seen.length - 1] !== s) seen.push(s);
        }
      };
      new MutationObserver(read).observe(document.body, {subtree: true, childList: true, attributes: true});
    }""")


def test_build_reorder_generate_and_play_a_scene(live_server, page: Page):
    """A user builds a scene of three shots in the UI, reorders them by keyboard and by drag (each a
    move command that the server keeps), presses Generate with no video backend, watches every shot
    pass through its gate as a labelled animatic, and plays the assembled scene, whose length is
    the sum of the shots minus the transitions' overlaps."""
    with ComfyUIDouble(latency=0.2) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        comfy.node_classes -= VIDEO_NODES
        data = set_up(live_server, comfy.url)
        server = live_server

        page.goto(server.url + "?token=" + server.token)
        expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
        page.goto(server.url + "p/harbor-lights/project")
        expect(page.get_by_test_id("live-indicator")).to_contain_text("Live")
        tabs = page.get_by_role("navigation", name="Project tabs").get_by_role("link")
        expect(tabs).to_contain_text(["Project", "Story & World", "Characters", "Approve", "Generate", "Scenes",
                                      "Gallery"])
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("g")
        page.keyboard.press("e")  # g e jumps to the tab
        expect(page).to_have_url(re.compile(r"/p/harbor-lights/scenes$"))

        # empty: what the tab is for; story-to-scenes says why it cannot run here (no Ollama)
        expect(page.get_by_test_id("empty-state")).to_contain_text("No scenes yet")
        page.get_by_test_id("scenes-from-story").click()
        error = page.get_by_test_id("story-error")
        expect(error).to_have_attribute("data-code", "ollama_not_configured")
        expect(error).to_contain_text("OLLAMA_HOST")
        shoot(page, "scenes-tab-empty.png")

        # a scene by hand: an empty title is refused next to its field, then it is created
        page.get_by_test_id("scene-new-empty").click()
        page.get_by_test_id("scene-save").click()
        expect(page.get_by_test_id("error-scene-title")).to_be_visible()
        page.get_by_test_id("scene-title").fill("Rooftop at dusk")
        page.get_by_test_id("scene-location").fill("harbour rooftops")
        page.get_by_test_id("scene-mood").fill("calm")
        page.get_by_test_id("scene-music").select_option("none")
        page.get_by_test_id("scene-save").click()
        expect(page).to_have_url(re.compile(r"/p/harbor-lights/scenes/\d+$"))
        scene_id = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_test_id("scene-heading")).to_have_text("Rooftop at dusk")

        # three shots from the presets
        for kind in ("establishing", "medium", "close-up"):
            page.get_by_test_id("shot-new-type").select_option(kind)
            page.get_by_test_id("shot-add").click()
        cards = page.locator("[data-shot-card]")
        expect(cards).to_have_count(3)
        expect(page.get_by_test_id("shot-card-1").get_by_test_id("shot-type")).to_have_value("establishing")
        for i in (1, 2, 3):
            card = page.get_by_test_id(f"shot-card-{i}")
            commit(card.get_by_test_id("shot-duration"), "1")
            expect(card.get_by_text("saving…")).to_have_count(0)
        first = page.get_by_test_id("shot-card-1")
        commit(first.get_by_test_id("shot-prompt"), PROMPT)
        first.get_by_test_id("shot-character-aiko").click()
        expect(first.get_by_test_id("shot-character-aiko")).to_have_attribute("aria-pressed", "true")
        close_up = page.get_by_test_id("shot-card-3")
        chip = close_up.get_by_test_id("motion-chip").nth(1)
        chip_text = chip.inner_text().strip()
        chip.click()
        expect(close_up.get_by_test_id("shot-motion")).to_have_value(chip_text)
        close_up.get_by_test_id("shot-speaker").select_option(label="Aiko")
        commit(close_up.get_by_test_id("shot-line"), LINE)
        expect(close_up.get_by_text("saving…")).to_have_count(0)
        # bad input is refused next to its field and changes nothing
        commit(close_up.get_by_test_id("shot-duration"), "40")
        expect(close_up.get_by_test_id("shot-error-duration_s")).to_be_visible()
        commit(close_up.get_by_test_id("shot-duration"), "1")
        expect(close_up.get_by_test_id("shot-error-duration_s")).to_be_hidden()
        # 3 x 1 s with two 0.3 s dissolves: 2.4 s
        expect(page.get_by_test_id("scene-plan")).to_contain_text("2.4 s")
        shots = api_shots(server, scene_id)
        assert [s["duration_s"] for s in shots] == [1, 1, 1]
        assert shots[0]["character_ids"] == [data["character"]["id"]]
        assert shots[0]["prompt"] == PROMPT  # typed while other fields' saves refreshed the card
        assert shots[2]["motion_prompt"] == chip_text and shots[2]["dialogue_text"] == LINE
        assert shots[2]["dialogue_character_id"] == data["character"]["id"]

        # reorder: Alt+Up on the focused close-up card, then drag the medium shot back above it
        close_up.focus()
        page.keyboard.press("Alt+ArrowUp")
        expect(page.get_by_test_id("shot-card-2").get_by_test_id("shot-type")).to_have_value("close-up")
        expect(page.get_by_test_id("shot-card-2")).to_be_focused()  # focus stays with the moved card
        assert [s["shot_type"] for s in api_shots(server, scene_id)] == ["establishing", "close-up", "medium"]
        # both cards in view below the sticky top bar, then a real mouse drag onto card 2's upper half
        page.evaluate("document.querySelector('[data-testid=shot-card-2]').scrollIntoView({block: 'start'});"
                      "window.scrollBy(0, -70)")
        handle = page.get_by_test_id("shot-card-3").get_by_test_id("shot-handle").bounding_box()
        target = page.get_by_test_id("shot-card-2").bounding_box()
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(target["x"] + 200, target["y"] + 40, steps=8)
        expect(page.get_by_test_id("drop-line")).to_have_count(1)  # where it will land is drawn
        page.mouse.up()
        expect(page.get_by_test_id("shot-card-2").get_by_test_id("shot-type")).to_have_value("medium")
        expect(page.get_by_test_id("shot-card-3").get_by_test_id("shot-type")).to_have_value("close-up")
        assert [s["shot_type"] for s in api_shots(server, scene_id)] == ["establishing", "medium", "close-up"]
        shoot(page, "scenes-tab-builder.png")

        # generate: the monitor follows each shot live; no video backend, so animatics
        install_recorder(page)
        page.get_by_test_id("scene-generate").click()
        expect(page.get_by_test_id("scene-header")).to_have_attribute(
            "data-status", re.compile("queued|generating"))
        expect(page.get_by_test_id("scene-cancel")).to_be_visible()
        expect(page.get_by_test_id("shot-card-1").get_by_test_id("shot-duration")).to_be_disabled()  # read-only
        strip = page.get_by_test_id("monitor-strip")
        expect(strip.get_by_test_id("monitor-transition")).to_have_count(2)
        expect(page.get_by_test_id("shot-monitor-1")).to_have_attribute(
            "data-status", re.compile("generating|reviewing|done"), timeout=60_000)
        expect(page.get_by_test_id("scene-step")).to_contain_text(re.compile(r"shot \d/3|assembling"))
        shoot(page, "scenes-tab-generating.png")
        for i in (1, 2, 3):
            tile = page.get_by_test_id(f"shot-monitor-{i}")
            expect(tile).to_have_attribute("data-status", "done", timeout=180_000)
            expect(tile.get_by_test_id("monitor-engine")).to_have_text("Animatic")
            expect(tile.get_by_test_id("monitor-attempt")).to_contain_text(re.compile(r"attempt [123]/3"))
            expect(tile.get_by_test_id("monitor-score")).to_have_text(re.compile(r"^\d\.\d\d / 0\.\d\d$"))
            for which in ("first", "last"):
                img = tile.get_by_test_id(f"monitor-{which}-frame")
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        header = page.get_by_test_id("scene-header")
        expect(header).to_have_attribute("data-status", "done", timeout=180_000)
        seen = page.evaluate("window.__shots")
        for i in (1, 2, 3):
            statuses = seen.get(f"shot-monitor-{i}", [])
            assert statuses[-1] == "done" and any(s in ("generating", "reviewing") for s in statuses), seen
        shots = api_shots(server, scene_id)
        assert all(s["status"] == "done" and s["is_animatic"] for s in shots), shots

        # a finished shot plays in the lightbox
        page.get_by_test_id("shot-monitor-2").get_by_test_id("monitor-play").click()
        expect(page.get_by_test_id("lightbox-video")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("lightbox")).not_to_be_visible()

        # the assembled scene: its length is the picture's, it seeks, and the line is a subtitle
        player = page.get_by_test_id("scene-player")
        expect(player.get_by_test_id("player-animatic")).to_contain_text("not publishable")
        expect(player.get_by_test_id("player-lines")).to_contain_text(f"Aiko: {LINE}")
        video = player.get_by_test_id("scene-video")
        page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle(),
                               timeout=30_000)
        duration = video.evaluate("v => v.duration")
        assert abs(duration - 2.4) < 0.2, duration
        seeked = video.evaluate("""v => new Promise(resolve => {
          v.addEventListener('seeked', () => resolve(v.currentTime), {once: true});
          v.currentTime = 1.5;
        })""")
        assert abs(seeked - 1.5) < 0.1, seeked
        video.evaluate("v => { v.textTracks[0].mode = 'hidden' }")  # loads the cues without drawing them
        page.wait_for_function("v => v.textTracks[0].cues && v.textTracks[0].cues.length === 1",
                               arg=video.element_handle())
        assert video.evaluate("v => v.textTracks[0].cues[0].text") == f"Aiko: {LINE}"
        shoot(page, "scenes-tab-done.png")
        with client(server) as api:
            part = api.get(f"/scenes/{scene_id}/output", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100

        # redo the last shot: it alone goes back to pending; Generate renders it again and keeps the others
        before = {s["id"]: s["generation_id"] for s in api_shots(server, scene_id)}
        page.get_by_test_id("shot-card-3").get_by_test_id("shot-redo").click()
        page.get_by_test_id("confirm-ok").click()
        expect(page.get_by_test_id("shot-monitor-3")).to_have_attribute("data-status", "pending")
        expect(page.get_by_test_id("shot-monitor-2")).to_have_attribute("data-status", "done")
        page.get_by_test_id("scene-generate").click()
        expect(header).to_have_attribute("data-status", "done", timeout=180_000)
        expect(page.get_by_test_id("shot-monitor-3")).to_have_attribute("data-status", "done")
        after = api_shots(server, scene_id)
        assert [s["generation_id"] == before[s["id"]] for s in after] == [True, True, False], (before, after)


def story_scene(title: str, shots: list[dict]) -> dict:
    return {"title": title, "description": f"{title} happens", "location": "school roof", "time_of_day": "dusk",
            "weather": "clear", "mood": "wistful", "shots": shots}


def story_shot(kind: str = "medium", text: str = "Mio looks at the sky", speaker: str = "", line: str = "") -> dict:
    return {"shot_type": kind, "description": text, "motion_prompt": "slow push-in", "duration_s": 3,
            "dialogue_character": speaker, "dialogue_text": line}


STORY = {"scenes": [
    story_scene("Arrival", [story_shot("establishing", "the town at dusk"), story_shot(speaker="Mio", line="Hello.")]),
    story_scene("Meeting", [story_shot(), story_shot("close-up", "Mio smiles"), story_shot("action", "Mio runs")]),
    story_scene("Farewell", [story_shot("wide", "the roof, empty"), story_shot()]),
]}


@pytest.fixture(scope="module")
def story_server(tmp_path_factory):
    from tests.doubles.ollama import OllamaDouble
    from tests.e2e.conftest import E2E_TOKEN, _require_ui
    from tests.live import start_server

    _require_ui()
    with OllamaDouble(models={"llama3.1:latest": ["completion"]}) as ollama:
        server = start_server(tmp_path_factory.mktemp("e2e-story"), token=E2E_TOKEN,
                              env={"OLLAMA_HOST": ollama.url})
        server.ollama = ollama
        yield server
        server.stop()


def test_generate_scenes_from_story(story_server, page: Page):
    """With no scenes, the tab offers "Generate scenes from story": an answer the story model keeps
    getting wrong is reported with what to try next and saves nothing; a valid one becomes editable
    draft scenes in order, the first opened with its shots, speaker and line."""
    server = story_server
    with client(server) as api:
        project = ok(api.post("/projects", json={"name": "Wind", "slug": "wind", "premise": "A girl hears the wind"}))
        ok(api.post("/characters", json={"project_id": project["id"], "name": "Mio", "slug": "mio"}))
        ok(api.post("/storylines", json={"project_id": project["id"], "title": "Wind",
                                         "summary": "Mio follows the wind"}))
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(server.url + "p/wind/scenes")

    server.ollama.answer = lambda request: {"scenes": STORY["scenes"][:2]}  # too few, every time
    page.get_by_test_id("scenes-from-story").click()
    error = page.get_by_test_id("story-error")
    expect(error).to_have_attribute("data-code", "story_invalid_answer")
    expect(error).to_contain_text("ANIME_STUDIO_STORY_MODEL")
    with client(server) as api:
        assert ok(api.get("/scenes", params={"project_id": project["id"]}))["total"] == 0

    server.ollama.answer = lambda request: STORY
    page.get_by_test_id("scenes-from-story").click()
    expect(page).to_have_url(re.compile(r"/p/wind/scenes/\d+$"))
    expect(page.get_by_test_id("toast").filter(has_text="3 draft scenes")).to_have_count(1)
    rows = page.get_by_test_id("scene-list").locator("[data-testid^=scene-row-]")
    expect(rows).to_have_count(3)
    expect(rows).to_contain_text(["Arrival", "Meeting", "Farewell"])
    expect(page.get_by_test_id("scene-heading")).to_have_text("Arrival")
    expect(page.get_by_test_id("scene-status")).to_have_text("draft")
    expect(page.locator("[data-shot-card]")).to_have_count(2)
    second = page.get_by_test_id("shot-card-2")
    expect(second.get_by_test_id("shot-speaker").locator("option:checked")).to_have_text("Mio")
    expect(second.get_by_test_id("shot-line")).to_have_value("Hello.")
    expect(page.get_by_test_id("shot-card-1").get_by_test_id("shot-type")).to_have_value("establishing")
    # the first shot's start image comes from the gallery (empty here: the picker says so)
    page.get_by_test_id("shot-card-1").get_by_test_id("shot-pick-start").click()
    expect(page.get_by_test_id("start-picker")).to_contain_text("No images in this project's gallery yet")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("start-picker")).not_to_be_visible()
    rows.nth(1).click()
    expect(page.get_by_test_id("scene-heading")).to_have_text("Meeting")
    expect(page.locator("[data-shot-card]")).to_have_count(3)
    shoot(page, "scenes-tab-from-story.png")
