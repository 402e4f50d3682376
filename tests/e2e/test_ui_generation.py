"""Browser test for generation: the real built UI against the real server in headless Chromium at
1280x800, with a ComfyUI protocol double as the only backend. A backend is added in Settings,
two images are generated from the Generate tab (progress, thumbnails, the job indicator), and
the Gallery shows them in its grid and lightbox."""

from __future__ import annotations

import re

import httpx
import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.doubles.comfyui import ComfyUIDouble  # noqa: E402

CHECKPOINT = "animagine-xl-3.1.safetensors"


def sign_in(page: Page, server) -> None:
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")


def set_up_project(server) -> dict:
    """A style on the double's checkpoint, a project using it and one character (through the API:
    the screens that make them have their own tests)."""
    with httpx.Client(base_url=server.api, headers={"Authorization": f"Bearer {server.token}"}, timeout=30) as api:
        def ok(response: httpx.Response) -> dict:
            assert response.status_code < 300, response.text
            return response.json()

        style = ok(api.post("/styles", json={"name": "Anime XL", "checkpoint": CHECKPOINT,
                                             "positive_template": "masterpiece, best quality, {prompt}",
                                             "negative_template": "lowres, bad anatomy"}))
        project = ok(api.post("/projects", json={"name": "Sky Harbor", "slug": "sky-harbor",
                                                 "default_style_id": style["id"]}))
        character = ok(api.post("/characters", json={"project_id": project["id"], "name": "Aiko", "slug": "aiko",
                                                     "design_prompt": "1girl, short black hair, red scarf"}))
        return {"project": project, "character": character}


def loaded(page: Page, locator) -> None:
    """Waits until an <img> has really decoded a picture (not just got a src)."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=locator.element_handle())


def test_add_backend_generate_and_browse(live_server, page: Page):
    with ComfyUIDouble(latency=0.3) as comfy:
        comfy.checkpoints = [CHECKPOINT]
        set_up_project(live_server)
        sign_in(page, live_server)

        # Settings > Backends: the double is added through the form, probed, and its models listed.
        page.get_by_test_id("settings-link").click()
        expect(page).to_have_url(re.compile(r"/settings/backends$"))
        expect(page.get_by_text("No backends yet")).to_be_visible()
        page.get_by_test_id("add-backend").click()
        page.get_by_test_id("backend-name").fill("gpu-double")
        page.get_by_test_id("backend-url").fill("not a url")
        page.get_by_test_id("backend-save").click()
        expect(page.get_by_test_id("error-backend-url")).to_contain_text("URL")  # the server's message, inline
        page.get_by_test_id("backend-url").fill(comfy.url)
        page.get_by_test_id("backend-save").click()
        row = page.get_by_test_id("backend-row-gpu-double")
        expect(row).to_have_attribute("data-health", "ok")
        expect(row.get_by_test_id("backend-in-flight")).to_have_text("0/1")
        expect(row.get_by_test_id("backend-vram")).to_contain_text("GB")
        row.get_by_test_id("backend-expand").click()
        expect(page.get_by_test_id("models-checkpoints")).to_contain_text(CHECKPOINT)

        # Generate: the built prompt is shown, two images are queued with Ctrl+Enter and run.
        page.goto(live_server.url + "p/sky-harbor/generate")
        expect(page.get_by_test_id("gen-character")).to_have_value(re.compile(r"^\d+$"))
        expect(page.get_by_test_id("generate-prompt-positive")).to_contain_text("1girl, short black hair, red scarf")
        page.get_by_test_id("gen-count").fill("2")
        page.get_by_test_id("gen-prompt").fill("on a rooftop at dusk")
        expect(page.get_by_test_id("generate-prompt-positive")).to_contain_text("on a rooftop at dusk")
        page.get_by_test_id("gen-prompt").press("Control+Enter")

        jobs = page.locator("[data-job]")
        expect(jobs).to_have_count(2)
        expect(page.get_by_test_id("job-indicator-count")).not_to_have_text("0")  # live from the events
        # the progress bars run to done, each job says where and how it ran, then shows its image
        expect(page.locator("[data-job][data-status=succeeded]")).to_have_count(2, timeout=60_000)
        for i in range(2):
            job = jobs.nth(i)
            expect(job.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
            expect(job.get_by_test_id("job-step")).to_have_text("done")
            expect(job.get_by_test_id("job-backend")).to_have_text("on gpu-double")
            expect(job.get_by_test_id("job-attempts")).to_contain_text("attempt 1")
        thumbs = page.get_by_test_id("job-output-img")
        expect(thumbs).to_have_count(2)
        for i in range(2):
            loaded(page, thumbs.nth(i))
        expect(page.get_by_test_id("job-indicator-count")).to_have_text("0")
        expect(page.get_by_test_id("toast").filter(has_text=re.compile(r"images? ready"))).not_to_have_count(0)
        assert len(comfy.submissions) == 2

        # A thumbnail opens the lightbox.
        page.get_by_test_id("job-output").first.click()
        expect(page.get_by_test_id("lightbox")).to_be_visible()
        loaded(page, page.get_by_test_id("lightbox-image"))
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("lightbox")).not_to_be_visible()

        # Gallery: both outputs in the grid; the lightbox moves with the arrows and shows details.
        page.get_by_test_id("tab-gallery").click()
        expect(page).to_have_url(re.compile(r"/p/sky-harbor/gallery$"))
        items = page.get_by_test_id("grid-item")
        expect(items).to_have_count(2)
        expect(page.get_by_test_id("gallery-count")).to_have_text("2 outputs")
        loaded(page, items.first.locator("img"))
        items.first.click()
        box = page.get_by_test_id("lightbox")
        expect(box).to_be_visible()
        expect(page.get_by_test_id("lightbox-position")).to_have_text("1 / 2")
        loaded(page, page.get_by_test_id("lightbox-image"))
        details = page.get_by_test_id("lightbox-details")
        expect(details).to_contain_text("Aiko")
        expect(page.get_by_test_id("lightbox-size")).to_have_text(re.compile(r"^\d+×\d+$"))
        page.keyboard.press("ArrowRight")
        expect(page.get_by_test_id("lightbox-position")).to_have_text("2 / 2")
        page.get_by_test_id("lightbox-generation-link").click()  # back to its job, marked
        expect(page).to_have_url(re.compile(r"/p/sky-harbor/generate\?generation=\d+$"))
        expect(page.locator("[data-job][data-highlight]")).to_have_count(1)

        # Filters live in the address bar: no videos yet.
        page.get_by_test_id("tab-gallery").click()
        page.get_by_test_id("filter-kind-video").click()
        expect(page).to_have_url(re.compile(r"kind=video"))
        expect(page.get_by_text("Nothing matches these filters")).to_be_visible()
