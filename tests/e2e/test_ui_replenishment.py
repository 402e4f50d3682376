"""Browser test for replenishment in the Approve tab: the real built UI against the real server at
1280x800, with a ComfyUI protocol double. A target is set inline, the studio switch turned on, the
state follows live (a batch running, then done once the images are approved by keyboard), the
guards drawer saves a change and shows the server's refusal by its field, and the auto-correction
switch reaches the server. The character page's Learning panel shows the decisions (or says
there are none yet)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.doubles.comfyui import ComfyUIDouble  # noqa: E402
from tests.e2e.conftest import ARTIFACTS  # noqa: E402
from tests.e2e.api import client, ok, wait_for  # noqa: E402
from tests.e2e.test_ui_approve import CHECKPOINT  # noqa: E402


def set_up(server, comfy: ComfyUIDouble) -> dict:
    """Style, project, one character without images, the double as a backend (through the API)."""
    with client(server) as api:
        ok(api.post("/backends", json={"name": "gpu-double", "url": comfy.url}))
        style = ok(api.post("/styles", json={"name": "Refill XL", "checkpoint": CHECKPOINT,
                                             "positive_template": "masterpiece, {prompt}"}))
        project = ok(api.post("/projects", json={"name": "Refill", "slug": "refill",
                                                 "default_style_id": style["id"]}))
        character = ok(api.post("/characters", json={
            "project_id": project["id"], "name": "Ren", "slug": "ren",
            "design_prompt": "1boy, white hair, blue coat", "appearance_data": {"species": "human"}}))
        return {"project": project, "character": character}


def sign_in(page: Page, server) -> None:
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")


def test_replenish_from_the_approve_tab(live_server, page: Page):
    """Switching replenishment on with a target generates a batch for the character (state running,
    live), and approving what it made brings the character to its target (state done)."""
    with ComfyUIDouble(latency=0.05) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        data = set_up(live_server, comfy)
        sign_in(page, live_server)
        page.goto(live_server.url + "p/refill/approve")
        expect(page.get_by_test_id("live-indicator")).to_contain_text("Live")
        page.get_by_test_id("mode-replenish").click()
        panel = page.get_by_test_id("replenishment-panel")
        row = panel.get_by_test_id("replenish-row-ren")
        expect(row).to_have_attribute("data-state", "disabled")
        expect(row.get_by_test_id("replenish-state")).to_contain_text("off")
        expect(panel.get_by_test_id("replenish-off-hint")).to_be_visible()
        expect(panel.get_by_test_id("replenish-enabled")).to_have_attribute("aria-checked", "false")

        # the target, inline: a bad value is refused by the field and changes nothing
        target = row.get_by_test_id("replenish-target")
        target.fill("-4")
        target.press("Enter")
        expect(row.get_by_test_id("target-error")).to_contain_text("whole number")
        target.fill("3")
        target.press("Enter")
        expect(row.get_by_test_id("replenish-progress")).to_have_text("0 / 3")
        expect(row.get_by_test_id("target-error")).to_have_count(0)
        with client(live_server) as api:
            status = ok(api.get("/replenishment/status", params={"project_id": data["project"]["id"]}))
            assert status["characters"][0]["target"] == 3
            assert status["settings"]["enabled"] is False
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "replenish-panel.png"))

        # on: a batch is queued at once and the state follows live (no reload)
        panel.get_by_test_id("replenish-enabled").click()
        expect(panel.get_by_test_id("replenish-enabled")).to_have_attribute("aria-checked", "true")
        expect(row).to_have_attribute("data-state", "running", timeout=20_000)
        expect(row.get_by_test_id("replenish-daily")).to_contain_text("3 / 10", timeout=20_000)
        expect(page.get_by_test_id("replenish-dot")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "replenish-running.png"))

        # its images arrive in the review queue; approving them by keyboard reaches the target
        page.get_by_test_id("mode-single").click()
        expect(page.get_by_test_id("queue-ren").get_by_test_id("count-pending")).to_have_text("3", timeout=30_000)
        page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(3):
            expect(page.get_by_test_id("review-status")).to_have_attribute("data-status", "pending")
            page.keyboard.press("a")
        expect(page.get_by_test_id("queue-ren").get_by_test_id("count-approved")).to_have_text("3")
        page.get_by_test_id("mode-replenish").click()
        expect(row).to_have_attribute("data-state", "done", timeout=20_000)
        expect(row.get_by_test_id("replenish-progress")).to_have_text("3 / 3")
        page.screenshot(path=str(ARTIFACTS / "replenish-done.png"))

        # the character page's Learning panel counts those decisions
        page.goto(live_server.url + "p/refill/characters/ren")
        learning = page.get_by_test_id("learning-panel")
        expect(learning.get_by_test_id("approval-rate")).to_have_text("100%")
        expect(learning.get_by_test_id("learning-counts")).to_contain_text("3 decisions")
        expect(learning.get_by_test_id("drift-alert")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "character-learning.png"), full_page=True)


def test_stopped_by_rejects_then_resumed(live_server, page: Page):
    """A character whose images are rejected in a row stops (the chip says why) and Resume starts it
    again."""
    with ComfyUIDouble(latency=0.05) as comfy, client(live_server) as api:
        comfy.checkpoints = [CHECKPOINT]
        ok(api.post("/backends", json={"name": "gpu-double-2", "url": comfy.url}))
        style = ok(api.post("/styles", json={"name": "Stop XL", "checkpoint": CHECKPOINT}))
        project = ok(api.post("/projects", json={"name": "Stops", "slug": "stops", "default_style_id": style["id"]}))
        character = ok(api.post("/characters", json={"project_id": project["id"], "name": "Yui", "slug": "yui"}))
        before = ok(api.get("/replenishment/status"))["settings"]
        ok(api.put("/replenishment/settings", json={"max_consecutive_rejects": 1, "enabled": True}))
        try:
            ok(api.post("/replenishment/target", params={"target": 6, "character_slug": "yui",
                                                         "project_id": project["id"]}))
            ok(api.post("/replenishment/run", params={"character_id": character["id"]}))
            pending = wait_for(lambda: ok(api.get("/images", params={"character_id": character["id"],
                                                                     "status": "pending"}))["items"],
                               what="a batch of pending images")
            sign_in(page, live_server)
            page.goto(live_server.url + "p/stops/approve")
            page.get_by_test_id("mode-replenish").click()
            row = page.get_by_test_id("replenish-row-yui")
            expect(row).to_have_attribute("data-state", "running")
            ok(api.post(f"/images/{pending[0]['id']}/reject", json={"reason": "anatomy"}))
            expect(row).to_have_attribute("data-state", "stopped")  # live, from the image.rejected event
            expect(row.get_by_test_id("replenish-state")).to_contain_text("stopped: consecutive rejects")
            page.screenshot(path=str(ARTIFACTS / "replenish-stopped.png"))
            row.get_by_test_id("replenish-run").click()
            expect(row.get_by_test_id("replenish-run")).to_have_text("Resume")
            expect(row).not_to_have_attribute("data-state", "stopped")
            expect(row.get_by_test_id("replenish-run")).to_have_text("Run now")
            status = ok(api.get("/replenishment/status", params={"project_id": project["id"]}))
            assert status["characters"][0]["stopped_reason"] is None
        finally:
            ok(api.put("/replenishment/settings", json=before))


def test_guards_and_auto_correction(live_server, page: Page):
    """The guards drawer sends what changed and shows the server's refusal next to its field; the
    auto-correction switch is saved on the server."""
    with client(live_server) as api:
        project = ok(api.post("/projects", json={"name": "Guards", "slug": "guards"}))
        ok(api.post("/characters", json={"project_id": project["id"], "name": "Kai", "slug": "kai"}))
        before = ok(api.get("/replenishment/status"))["settings"]
    sign_in(page, live_server)
    page.goto(live_server.url + "p/guards/approve")
    page.get_by_test_id("mode-replenish").click()
    panel = page.get_by_test_id("replenishment-panel")
    expect(panel.get_by_test_id("replenish-row-kai")).to_be_visible()

    panel.get_by_test_id("replenish-guards").click()
    drawer = page.get_by_test_id("replenish-settings")
    expect(drawer).to_be_visible()
    drawer.get_by_test_id("setting-batch_size").fill("0")
    drawer.get_by_test_id("replenish-settings-save").click()
    expect(drawer.get_by_test_id("error-replenish-batch_size")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "replenish-guards.png"))
    with client(live_server) as api:
        assert ok(api.get("/replenishment/status"))["settings"] == before  # refused: nothing changed
    drawer.get_by_test_id("setting-batch_size").fill(str(before["batch_size"]))
    drawer.get_by_test_id("setting-daily_limit").fill("7")
    drawer.get_by_test_id("replenish-settings-save").click()
    expect(drawer).not_to_be_visible()
    expect(panel.get_by_test_id("replenish-row-kai").get_by_test_id("replenish-daily")).to_contain_text("/ 7")
    with client(live_server) as api:
        assert ok(api.get("/replenishment/status"))["settings"] == {**before, "daily_limit": 7}

    switch = panel.get_by_test_id("corrections-enabled")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    with client(live_server) as api:
        assert ok(api.get("/corrections/settings"))["enabled"] is True
        ok(api.put("/replenishment/settings", json={"daily_limit": before["daily_limit"]}))
        ok(api.post("/corrections/toggle", params={"enabled": False}))

    # Kai has no decisions yet: the Learning panel says so and points to the review queue
    page.goto(live_server.url + "p/guards/characters/kai")
    expect(page.get_by_test_id("learning-empty")).to_contain_text("No decisions yet")
    page.get_by_test_id("learning-empty").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/p/guards/approve\?character=kai$"))


def test_empty_state(live_server, page: Page):
    """A project without characters says what replenishment is for and where to start."""
    with client(live_server) as api:
        ok(api.post("/projects", json={"name": "Nobody Yet", "slug": "nobody-yet"}))
    sign_in(page, live_server)
    page.goto(live_server.url + "p/nobody-yet/approve")
    page.get_by_test_id("mode-replenish").click()
    expect(page.get_by_test_id("replenishment-panel").get_by_test_id("empty-state")).to_contain_text(
        "No characters to replenish yet")
    page.screenshot(path=str(ARTIFACTS / "replenish-empty.png"))
