"""Browser test for the Approve tab: the real built UI against the real server at 1280x800, with
a ComfyUI protocol double making the images. Twenty pending images are reviewed by keyboard only
(A, R then a reason key, S, Z, arrows, ?), two are bulk-rejected from the grid, and the counts
follow live (decisions by others, images made by generation)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.doubles.comfyui import ComfyUIDouble  # noqa: E402
from tests.e2e.conftest import ARTIFACTS  # noqa: E402
from tests.e2e.api import client, ok, wait_for  # noqa: E402

CHECKPOINT = "animagine-xl-3.1.safetensors"
COUNT = 20  # the issue: a reviewer gets through 20 images by keyboard alone


def set_up(server, comfy: ComfyUIDouble) -> dict:
    """Style, project, one character and the double as a backend; twenty pending images made by a
    generation (through the API: the screens that make them have their own tests)."""
    with client(server) as api:
        ok(api.post("/backends", json={"name": "gpu-double", "url": comfy.url}))
        style = ok(api.post("/styles", json={"name": "Anime XL", "checkpoint": CHECKPOINT,
                                             "positive_template": "masterpiece, {prompt}",
                                             "negative_template": "lowres"}))
        project = ok(api.post("/projects", json={"name": "Review Deck", "slug": "review-deck",
                                                 "default_style_id": style["id"]}))
        character = ok(api.post("/characters", json={
            "project_id": project["id"], "name": "Aiko", "slug": "aiko",
            "design_prompt": "1girl, short black hair, red scarf",
            "appearance_data": {"species": "human", "key_colors": ["black", "red"]}}))
        for seed, count in ((100, 10), (200, COUNT - 10)):  # a request makes at most 16
            ok(api.post("/generations", json={"character_id": character["id"], "count": count, "seed": seed}))
        images = wait_for(lambda: (lambda page: page["items"] if page["total"] == COUNT else None)(
            ok(api.get("/images", params={"project_id": project["id"], "status": "pending"}))),
            what=f"{COUNT} pending images")
        # one of them doubles as a reference picture on the design sheet
        png = api.get(f"/images/{images[0]['id']}/file").content
        ok(api.post(f"/characters/{character['id']}/reference-images", files={"files": ("ref.png", png, "image/png")}))
        return {"project": project, "character": character, "ids": [i["id"] for i in images]}


def statuses(server, ids: list[int]) -> list[str]:
    with client(server) as api:
        return [ok(api.get(f"/images/{i}"))["status"] for i in ids]


def expect_statuses(server, ids: list[int], want: list[str]) -> None:
    wait_for(lambda: statuses(server, ids) == want, timeout=10, what=f"statuses {want}")


def counts(page: Page, pending: int, approved: int, rejected: int) -> None:
    row = page.get_by_test_id("queue-all")
    expect(row.get_by_test_id("count-pending")).to_have_text(str(pending))
    expect(row.get_by_test_id("count-approved")).to_have_text(str(approved))
    expect(row.get_by_test_id("count-rejected")).to_have_text(str(rejected))


def showing(page: Page, image_id: int) -> None:
    expect(page.get_by_test_id("review-image")).to_have_attribute("data-image-id", str(image_id))


def test_review_by_keyboard(live_server, page: Page):
    """Twenty images reviewed with the keyboard alone: A approves and the next image is there at
    once, R + a number rejects with that reason, S skips (the image comes round again), Z undoes,
    arrows move; every decision reaches the server and the counts follow, live included."""
    with ComfyUIDouble(latency=0.05) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        data = set_up(live_server, comfy)
        ids = data["ids"]
        assert ids == sorted(ids)  # pending: oldest first

        page.goto(live_server.url + "?token=" + live_server.token)
        expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
        page.goto(live_server.url + "p/review-deck/project")
        expect(page.get_by_test_id("tab-project")).to_have_attribute("aria-current", "page")
        expect(page.get_by_test_id("live-indicator")).to_contain_text("Live")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("g")
        page.keyboard.press("a")  # g a jumps to the tab
        expect(page).to_have_url(re.compile(r"/p/review-deck/approve$"))
        tabs = page.get_by_role("navigation", name="Project tabs").get_by_role("link")
        # (UI.md's order; tabs still to come slot in between)
        expect(tabs).to_contain_text(["Project", "Story & World", "Characters", "Approve", "Generate", "Gallery"])

        showing(page, ids[0])
        image = page.get_by_test_id("review-image")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        expect(page.get_by_test_id("review-position")).to_have_text(f"1 / {COUNT}")
        counts(page, COUNT, 0, 0)
        sheet = page.get_by_test_id("design-sheet")
        expect(sheet.get_by_test_id("sheet-name")).to_have_text("Aiko")
        expect(sheet.get_by_test_id("sheet-prompt")).to_contain_text("red scarf")
        expect(sheet.get_by_test_id("sheet-refs").locator("img")).to_have_count(1)
        # no OLLAMA_HOST here: the tab says reviews are metrics only
        expect(page.get_by_test_id("vision-status")).to_have_text("Vision: metrics only")
        expect(page.get_by_test_id("vision-scores")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "approve-tab.png"))

        # A approves, and the next one is there at once
        page.keyboard.press("a")
        showing(page, ids[1])
        counts(page, COUNT - 1, 1, 0)
        # R shows the reasons (in the decision bar's place: the picture does not move), 2 picks "anatomy"
        before = image.bounding_box()
        page.keyboard.press("r")
        expect(page.get_by_test_id("reason-chips")).to_be_visible()
        assert image.bounding_box() == before
        page.screenshot(path=str(ARTIFACTS / "approve-tab-reasons.png"))
        page.keyboard.press("2")
        expect(page.get_by_test_id("reason-chips")).not_to_be_visible()
        showing(page, ids[2])
        counts(page, COUNT - 2, 1, 1)
        expect_statuses(live_server, ids[:2], ["approved", "rejected"])
        with client(live_server) as api:
            assert ok(api.get(f"/images/{ids[1]}"))["last_review"]["reason"] == "anatomy"
        # S skips, Z undoes the reject (and shows that image again), A approves it instead
        page.keyboard.press("s")
        showing(page, ids[3])
        page.keyboard.press("z")
        showing(page, ids[1])
        expect(page.get_by_test_id("review-status")).to_have_attribute("data-status", "pending")
        expect_statuses(live_server, ids[:3], ["approved", "pending", "pending"])
        counts(page, COUNT - 1, 1, 0)
        page.keyboard.press("a")
        showing(page, ids[3])  # the skipped one waits its turn
        page.keyboard.press("a")
        showing(page, ids[4])
        # arrows move through the queue, decided images included
        page.keyboard.press("ArrowLeft")
        showing(page, ids[3])
        expect(page.get_by_test_id("review-status")).to_have_attribute("data-status", "approved")
        page.keyboard.press("ArrowRight")
        showing(page, ids[4])
        # ? lists the shortcuts; Esc closes them
        page.keyboard.press("?")
        expect(page.get_by_test_id("shortcuts")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("shortcuts")).not_to_be_visible()

        # the rest of the queue at speed: every fourth rejected as blurry (R 3), the others approved
        want = {ids[0]: "approved", ids[1]: "approved", ids[3]: "approved"}
        for k, image_id in enumerate(ids[4:]):
            showing(page, image_id)
            if k % 4 == 3:
                page.keyboard.press("r")
                page.keyboard.press("3")
                want[image_id] = "rejected"
            else:
                page.keyboard.press("a")
                want[image_id] = "approved"
        showing(page, ids[2])  # the skipped image comes round at the end
        page.keyboard.press("a")
        want[ids[2]] = "approved"
        expect(page.get_by_test_id("queue-done")).to_be_visible()
        rejected = sum(1 for v in want.values() if v == "rejected")
        counts(page, 0, COUNT - rejected, rejected)
        expect_statuses(live_server, ids, [want[i] for i in ids])
        with client(live_server) as api:
            assert ok(api.get(f"/images/{ids[7]}"))["last_review"]["reason"] == "blur"
        page.screenshot(path=str(ARTIFACTS / "approve-tab-done.png"))

        # Grid mode: shift-click a range, bulk reject with a reason (a change of mind on two)
        page.get_by_test_id("mode-grid").click()
        items = page.get_by_test_id("grid-item")
        expect(items).to_have_count(COUNT)
        items.nth(0).click(modifiers=["Shift"])
        items.nth(1).click(modifiers=["Shift"])
        expect(page.get_by_test_id("bulk-count")).to_have_text("2 selected")
        page.screenshot(path=str(ARTIFACTS / "approve-tab-grid.png"))
        page.get_by_test_id("bulk-reason").select_option("blur")
        page.get_by_test_id("bulk-reject").click()
        expect_statuses(live_server, ids[:2], ["rejected", "rejected"])
        counts(page, 0, COUNT - rejected - 2, rejected + 2)
        page.get_by_test_id("mode-single").click()

        # Live: another reviewer's decision, and new images from generation, update the counts
        with client(live_server) as api:
            ok(api.post(f"/images/{ids[7]}/approve", json={}))
        counts(page, 0, COUNT - rejected - 1, rejected + 1)
        expect(page.get_by_test_id("pending-left")).to_contain_text("0 pending in view")
        with client(live_server) as api:
            ok(api.post("/generations", json={"character_id": data["character"]["id"], "count": 1, "seed": 900}))
        counts(page, 1, COUNT - rejected - 1, rejected + 1)
        expect(page.get_by_test_id("pending-left")).to_contain_text("1 pending in view")
        # the queue was finished: the new image at its end shows by itself
        expect(page.get_by_test_id("review-position")).to_have_text(f"{COUNT + 1} / {COUNT + 1}")
        expect(page.get_by_test_id("review-status")).to_have_attribute("data-status", "pending")
        page.screenshot(path=str(ARTIFACTS / "approve-tab-live.png"))


def test_empty_state(live_server, page: Page):
    """A project with nothing to review says what the tab is for and offers the next action."""
    with client(live_server) as api:
        ok(api.post("/projects", json={"name": "Blank Slate", "slug": "blank-slate"}))
    page.goto(live_server.url + "?token=" + live_server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(live_server.url + "p/blank-slate/approve")
    expect(page.get_by_test_id("empty-state")).to_contain_text("Nothing to review — generate images")
    page.screenshot(path=str(ARTIFACTS / "approve-tab-empty.png"))


@pytest.fixture(scope="module")
def ollama():
    from tests.doubles.ollama import OllamaDouble, fill_schema

    # a middling review: a defect caps training value, so quality stays between the gates (pending)
    review = {"character_match": 6, "clarity": 7, "training_value": 5, "solo": True, "completeness": "upper",
              "anatomical_defects": ["extra finger on the left hand"], "common_error_hits": ["blue scarf"],
              "caption": "1girl, short black hair, red scarf, smiling", "issues": ["busy background"]}

    def answer(request: dict) -> dict:
        base = fill_schema(request.get("format"))
        return {**base, **{k: v for k, v in review.items() if k in base}}

    with OllamaDouble() as double:
        double.answer = answer
        yield double


@pytest.fixture(scope="module")
def vision_server(tmp_path_factory, ollama):
    from tests.e2e.conftest import E2E_TOKEN, _require_ui
    from tests.live import start_server

    _require_ui()
    server = start_server(tmp_path_factory.mktemp("e2e-vision"), token=E2E_TOKEN,
                          env={"OLLAMA_HOST": ollama.url, "ANIME_STUDIO_VISION_MODEL": "gemma3"})
    yield server
    server.stop()


def test_vision_scores_beside_the_image(vision_server, ollama, page: Page):
    """With a vision model, the image under review shows its review beside it: the 0-10 scores as
    bars, quality as a percentage, solo/completeness, defects and common-error hits as warnings,
    the model's caption; and the tab says the vision model is ready."""
    with ComfyUIDouble(latency=0.05) as comfy, client(vision_server) as api:
        comfy.checkpoints = [CHECKPOINT]
        ok(api.post("/backends", json={"name": "gpu-double", "url": comfy.url}))
        style = ok(api.post("/styles", json={"name": "Vision XL", "checkpoint": CHECKPOINT}))
        project = ok(api.post("/projects", json={"name": "Seen", "slug": "seen", "default_style_id": style["id"]}))
        character = ok(api.post("/characters", json={
            "project_id": project["id"], "name": "Aiko", "slug": "aiko", "design_prompt": "1girl, red scarf",
            "appearance_data": {"species": "human", "common_errors": ["blue scarf"]}}))
        ok(api.post("/generations", json={"character_id": character["id"], "count": 2, "seed": 5}))
        images = wait_for(lambda: (lambda items: items if len(items) == 2 and all(
            (i["scores"] or {}).get("reviewer") == "vision" for i in items) else None)(
            ok(api.get("/images", params={"project_id": project["id"], "status": "pending"}))["items"]),
            what="two vision-reviewed images")
        assert ollama.chats, "the vision review never asked the model"

        page.goto(vision_server.url + "?token=" + vision_server.token)
        expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
        page.goto(vision_server.url + "p/seen/approve")
        showing(page, images[0]["id"])
        expect(page.get_by_test_id("vision-status")).to_have_text("Vision: gemma3 ready")
        panel = page.get_by_test_id("vision-scores")
        expect(panel.get_by_test_id("review-kind")).to_have_attribute("data-kind", "vision")
        expect(panel.get_by_test_id("quality-value")).to_have_text("50%")  # (6 + 7 + 2) / 30: the defect caps 5 at 2
        expect(panel.get_by_test_id("score-character_match")).to_have_text("6/10")
        expect(panel.get_by_test_id("score-training_value")).to_have_text("2/10")
        expect(panel.get_by_test_id("vision-checks")).to_contain_text("solo: yes")
        expect(panel.get_by_test_id("vision-warnings")).to_contain_text("extra finger on the left hand")
        expect(panel.get_by_test_id("vision-warnings")).to_contain_text("blue scarf")
        expect(panel.get_by_test_id("vision-caption")).to_contain_text("red scarf, smiling")
        expect(page.get_by_test_id("review-scores")).to_contain_text("50%")
        page.screenshot(path=str(ARTIFACTS / "approve-tab-vision.png"))
