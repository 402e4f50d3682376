"""Browser test for the Train tab: the real built UI against the real server at 1280x800, with a
real training run of a tiny SD1.5-shaped model (tests/training_model.py) through the job and the
trainer subprocess. A fresh project's character with approved images: readiness follows the
approvals live, the base-model empty state explains where models go, bad input is refused next to
its field, then a run is launched from the form, its loss chart fills and its progress bar moves
live, samples appear, the run succeeds and becomes the character's active LoRA, and after a second
run "Use this LoRA" makes the first one active again; a long run is cancelled from its panel."""

from __future__ import annotations

import io
import random
import re

import pytest

pytest.importorskip("playwright")
pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from tests.e2e.conftest import ARTIFACTS, E2E_TOKEN, _require_ui  # noqa: E402
from tests.e2e.api import client, ok  # noqa: E402
from tests.live import start_server  # noqa: E402
from tests.training_model import RESOLUTION, build_tiny_sd15  # noqa: E402

MIN_IMAGES = 4  # the server's ANIME_STUDIO_TRAINING_MIN_IMAGES here
EPOCHS = 8  # 4 images, batch 1: 32 steps, a few seconds on one CPU thread
SAMPLE_EVERY = 12


def png(seed: int) -> bytes:
    """A 256 px picture of coloured blocks, different enough per seed to pass the duplicate check."""
    rng = random.Random(seed)
    img = Image.new("RGB", (256, 256))
    for x in range(0, 256, 32):
        for y in range(0, 256, 32):
            img.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 32, y + 32))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def train_server(tmp_path_factory):
    _require_ui()
    home = tmp_path_factory.mktemp("e2e-train")
    server = start_server(home, token=E2E_TOKEN, env={"ANIME_STUDIO_TRAINING_MIN_IMAGES": str(MIN_IMAGES)})
    server.home = home
    yield server
    server.stop()


def set_up(server) -> dict:
    """A project, one character and MIN_IMAGES + 1 uploaded images, MIN_IMAGES - 1 of them approved
    (through the API: the screens that do this have their own tests)."""
    with client(server) as api:
        project = ok(api.post("/projects", json={"name": "Train Deck", "slug": "train-deck"}))
        character = ok(api.post("/characters", json={
            "project_id": project["id"], "name": "Aiko", "slug": "aiko",
            "design_prompt": "1girl, short black hair, red scarf"}))
        files = [("files", (f"aiko-{i}.png", png(i), "image/png")) for i in range(MIN_IMAGES + 1)]
        ingestion = ok(api.post(f"/characters/{character['id']}/ingest/images", files=files))
        assert ingestion["images_added"] == MIN_IMAGES + 1, ingestion
        images = ok(api.get("/images", params={"project_id": project["id"], "status": "pending"}))["items"]
        for image in images[:MIN_IMAGES - 1]:
            ok(api.post(f"/images/{image['id']}/approve", json={}))
        return {"project": project, "character": character, "pending": [i["id"] for i in images[MIN_IMAGES - 1:]]}


def shoot(page: Page, name: str) -> None:
    """A full-page screenshot from the top (the sticky top bar stays where it belongs)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def install_recorder(page: Page) -> None:
    """Records every value the run's progress bar and loss chart take, so the test can tell that
    they moved step by step rather than jumping from empty to done."""
    page.evaluate("""() => {
      window.__seen = {progress: [], points: []};
      const read = () => {
        const panel = document.querySelector('[data-testid="run-panel"]');
        if (!panel) return;
        const bar = panel.querySelector('[role="progressbar"]');
        const chart = panel.querySelector('[data-testid="loss-chart"]');
        const p = bar ? Number(bar.getAttribute('aria-valuenow')) : null;
        const n = chart ? Number(chart.dataset.points) : null;
        const seen = window.__seen;
        if (p !== null && seen.progress[seen.progress.length - 1] !== p) seen.progress.push(p);
        if (n !== null && seen.points[seen.points.length - 1] !== n) seen.points.push(n);
      };
      new MutationObserver(read).observe(document.body, {subtree: true, childList: true, attributes: true});
    }""")


def test_train_a_lora_from_the_tab(train_server, page: Page):
    """From a fresh project: readiness counts approvals live and links to the Approve tab while
    short; with no base model the form says where to put one; a bad resolution is refused next to
    its field and starts nothing; a run launched from the form (preset, then advanced settings)
    shows its loss chart filling and its progress bar moving live, sample images, and succeeds as
    the active LoRA; after a second run, "Use this LoRA" on the first makes it active again on the
    server; Cancel stops a running run and leaves the active LoRA alone."""
    data = set_up(train_server)
    character = data["character"]

    page.goto(train_server.url + "?token=" + train_server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(train_server.url + "p/train-deck/project")
    expect(page.get_by_test_id("live-indicator")).to_contain_text("Live")
    tabs = page.get_by_role("navigation", name="Project tabs").get_by_role("link")
    # in UI.md's order (other tabs may sit between these)
    expect(tabs).to_contain_text(["Project", "Story & World", "Characters", "Approve", "Train", "Generate", "Gallery"])
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("g")
    page.keyboard.press("t")  # g t jumps to the tab
    expect(page).to_have_url(re.compile(r"/p/train-deck/train"))

    # readiness: 3 of 4 approved, a link to approve more; the picker shows the count
    readiness = page.get_by_test_id("readiness")
    expect(readiness.get_by_test_id("readiness-count")).to_have_text(f"{MIN_IMAGES - 1} / {MIN_IMAGES} approved")
    link = readiness.get_by_test_id("readiness-approve-link")
    expect(link).to_have_attribute("href", re.compile(r"/p/train-deck/approve\?character=aiko$"))
    expect(page.get_by_test_id("train-character-aiko")).to_contain_text(str(MIN_IMAGES - 1))
    # no base model yet: the form says where to put one, and Start is off
    expect(page.get_by_test_id("base-models-empty")).to_contain_text("COMFYUI_MODELS_DIR/checkpoints")
    expect(page.get_by_test_id("base-models-empty")).to_contain_text("ANIME_STUDIO_HOME/models")
    expect(page.get_by_test_id("train-submit")).to_be_disabled()
    shoot(page, "train-tab-not-ready.png")

    # one more approval (by someone else) makes it ready, live
    with client(train_server) as api:
        ok(api.post(f"/images/{data['pending'][0]}/approve", json={}))
    expect(readiness.get_by_test_id("readiness-count")).to_have_text(f"{MIN_IMAGES} / {MIN_IMAGES} approved")
    expect(readiness.get_by_test_id("readiness-approve-link")).to_have_count(0)
    expect(page.get_by_test_id("train-character-aiko")).to_contain_text(str(MIN_IMAGES))

    # a base model arrives on disk: "Look again" finds it
    build_tiny_sd15(train_server.home / "models" / "tiny-sd")
    page.get_by_test_id("base-models-rescan").click()
    expect(page.get_by_test_id("train-base-model")).to_contain_text("tiny-sd")

    # n focuses the form; the Quick test preset fills it, then the tiny model's own settings
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("n")
    expect(page.get_by_test_id("train-base-model")).to_be_focused()
    page.get_by_test_id("preset-quick").click()
    expect(page.get_by_test_id("preset-quick")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("train-rank")).to_have_value("8")
    page.get_by_test_id("train-rank").fill("4")
    page.get_by_test_id("train-alpha").fill("4")
    page.get_by_test_id("train-lr").fill("1e-3")
    page.get_by_test_id("train-epochs").fill(str(EPOCHS))
    expect(page.get_by_test_id("preset-custom")).to_be_visible()

    # a bad resolution is refused next to its field, and no run is created
    page.get_by_test_id("train-resolution").fill("32")
    page.get_by_test_id("train-submit").click()
    expect(page.get_by_test_id("error-train-resolution")).to_be_visible()
    with client(train_server) as api:
        assert ok(api.get("/training/runs", params={"character_id": character["id"]}))["total"] == 0
    page.get_by_test_id("train-resolution").fill(str(RESOLUTION))

    page.get_by_test_id("train-advanced").locator("summary").click()
    page.get_by_test_id("train-sample-every").fill(str(SAMPLE_EVERY))
    page.get_by_test_id("train-seed").fill("7")
    install_recorder(page)
    page.get_by_test_id("train-submit").click()

    panel = page.get_by_test_id("run-panel")
    expect(panel).to_have_attribute("data-status", re.compile("queued|running"))
    expect(page.get_by_test_id("train-busy")).to_be_visible()  # one run at a time per character
    # mid-run: the chart has points and the bar is part way
    page.wait_for_function("""() => {
      const p = document.querySelector('[data-testid="run-panel"] [data-testid="loss-chart"]');
      return p && Number(p.dataset.points) > 0;
    }""", timeout=120_000)
    shoot(page, "train-tab-running.png")

    expect(panel).to_have_attribute("data-status", "succeeded", timeout=180_000)
    seen = page.evaluate("window.__seen")
    total = EPOCHS * MIN_IMAGES
    assert any(0 < v < 100 for v in seen["progress"]), seen  # the bar moved through the middle
    assert seen["progress"][-1] == 100, seen
    points = [n for n in seen["points"] if n > 0]
    assert len(points) >= 3 and points == sorted(points), seen  # the chart filled in several steps
    expect(panel.get_by_test_id("run-step")).to_have_text(f"step {total}/{total}")
    expect(panel.get_by_test_id("loss-chart")).to_have_attribute("data-points", str(total))
    expect(panel.get_by_test_id("loss-smooth")).to_be_visible()
    expect(panel.get_by_test_id("sample")).to_have_count(total // SAMPLE_EVERY)
    sample = panel.get_by_test_id("sample").first.locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=sample.element_handle())
    # hovering the chart reads out one step
    chart = panel.get_by_test_id("loss-chart").locator("svg")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(panel.get_by_test_id("loss-readout")).to_contain_text(re.compile(r"^step \d+ · loss [\d.e-]+ · smoothed"))
    page.mouse.move(0, 0)
    history = page.get_by_test_id("run-history")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.get_by_test_id("history-loss")).not_to_have_text("—")
    # a run that succeeds becomes the character's active LoRA (Generate loads it)
    expect(panel.get_by_test_id("run-active-lora")).to_be_visible()
    first = int(panel.get_attribute("data-run-id"))
    expect(page.get_by_test_id("active-lora")).to_contain_text(f"run{first}.safetensors")
    shoot(page, "train-tab-done.png")

    # a second, short run takes over; "Use this LoRA" on the first one in the history brings it back
    page.get_by_test_id("train-max-steps").fill("2")
    page.get_by_test_id("train-sample-every").fill("0")
    page.keyboard.press("Control+Enter")
    expect(panel).not_to_have_attribute("data-run-id", str(first))
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=180_000)
    expect(page.get_by_test_id("active-lora")).not_to_contain_text(f"run{first}.safetensors")
    expect(history.locator("tbody tr")).to_have_count(2)
    row = history.get_by_test_id(f"history-{first}")
    row.get_by_test_id(f"history-use-{first}").click()
    expect(row.get_by_test_id("history-active")).to_be_visible()
    expect(page.get_by_test_id("active-lora")).to_contain_text(f"run{first}.safetensors")
    expect(panel.get_by_test_id("run-use")).to_be_visible()  # the second run can be chosen again
    with client(train_server) as api:
        loras = ok(api.get(f"/characters/{character['id']}/loras"))
    assert sorted((lora["run_id"], lora["active"]) for lora in loras) == [(first, True), (first + 1, False)]
    shoot(page, "train-tab-lora.png")

    # a long run is cancelled from its panel: it stops, and the active LoRA stays
    page.get_by_test_id("train-max-steps").fill("")
    page.get_by_test_id("train-epochs").fill("500")
    page.get_by_test_id("train-submit").click()
    expect(panel).to_have_attribute("data-run-id", str(first + 2))
    expect(panel).to_have_attribute("data-status", "running", timeout=60_000)
    panel.get_by_test_id("run-cancel").click()
    expect(panel).to_have_attribute("data-status", "cancelled", timeout=60_000)
    expect(panel.get_by_test_id("run-cancel")).to_have_count(0)
    expect(page.get_by_test_id("train-submit")).to_be_enabled()
    expect(page.get_by_test_id("active-lora")).to_contain_text(f"run{first}.safetensors")
    page.get_by_test_id("theme-toggle").click()  # the light theme, for a look at its colours
    shoot(page, "train-tab-light.png")
