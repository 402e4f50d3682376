"""Browser test for the Episodes view of the Scenes tab: the real built UI against the real server
at 1280x800, with a Jellyfin protocol double and a temporary JELLYFIN_LIBRARY_DIR. Three scenes
are given finished videos directly (ffmpeg lavfi, marked done in the server's database), so no
scene job runs. An episode is created in the UI, its scenes added and reordered by dragging a card
(the order survives a reload), assembled, played with seeking, published (the path and the library
scan show; the file is where Jellyfin expects it), exported, shown in the Gallery and unpublished."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

from packages.core.media import ffmpeg_binary  # noqa: E402
from tests.doubles.jellyfin import JellyfinDouble  # noqa: E402
from tests.e2e.api import client, ok, wait_for  # noqa: E402
from tests.e2e.conftest import ARTIFACTS, E2E_TOKEN, _require_ui  # noqa: E402
from tests.live import start_server  # noqa: E402

API_KEY = "e2e-jellyfin-key"
# (title, lavfi pattern, seconds): the same size, rate and codecs, so the assembly joins them by copy
SCENES = [("Harbor at dawn", "testsrc", 1.0), ("The market", "smptebars", 1.5), ("Lanterns", "rgbtestsrc", 1.0)]


@pytest.fixture(scope="module")
def episodes_server(tmp_path_factory):
    _require_ui()
    home = tmp_path_factory.mktemp("e2e-episodes")
    library = tmp_path_factory.mktemp("jellyfin-library")
    with JellyfinDouble(api_key=API_KEY) as jellyfin:
        server = start_server(home, token=E2E_TOKEN, env={
            "JELLYFIN_LIBRARY_DIR": str(library), "JELLYFIN_URL": jellyfin.url, "JELLYFIN_API_KEY": API_KEY})
        server.home, server.library, server.jellyfin = home, library, jellyfin
        yield server
        server.stop()


def make_video(path: Path, pattern: str, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"{pattern}=size=320x240:rate=24:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=48000",
                    "-ac", "2", "-c:a", "aac", "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True)


def mark_done(home: Path, updates: list[tuple[int, str, float]]) -> None:
    """Sets scenes' videos in the live server's own database (joined through pgserver; letting go
    of the handle leaves the cluster running for the server)."""
    import pgserver
    import psycopg

    pg = pgserver.get_server(home / "var" / "postgres", cleanup_mode="stop")
    try:
        with psycopg.connect(pg.get_uri("anime_studio")) as conn:
            for scene_id, relative, seconds in updates:
                conn.execute("UPDATE scenes SET status = 'done', progress = 1, output_path = %s, duration_s = %s "
                             "WHERE id = %s", (relative, seconds, scene_id))
    finally:
        pg.cleanup()


def set_up(server) -> dict:
    """A project and three scenes with finished videos (the scene job has its own browser test)."""
    with client(server) as api:
        project = ok(api.post("/projects", json={"name": "Harbor Lights", "slug": "harbor-lights"}))
        scenes = [ok(api.post("/scenes", json={"project_id": project["id"], "title": t})) for t, _, _ in SCENES]
    updates = []
    for scene, (_, pattern, seconds) in zip(scenes, SCENES):
        relative = f"output/harbor-lights/scenes/scene{scene['id']}/scene.mp4"
        make_video(server.home / relative, pattern, seconds)
        updates.append((scene["id"], relative, seconds))
    mark_done(server.home, updates)
    return {"project": project, "scenes": scenes}


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def strip_titles(page: Page) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("episode-strip").get_by_test_id("episode-scene-title").all_inner_texts()]


def api_order(server, episode_id: int) -> list[str]:
    with client(server) as api:
        return [s["title"] for s in ok(api.get(f"/episodes/{episode_id}"))["scenes"]]


def test_order_assemble_play_publish_an_episode(episodes_server, page: Page):
    """A user creates an episode, adds three finished scenes, drags the last one to the front (one
    reorder the server keeps: the order survives a reload), assembles it while the progress shows,
    plays it with seeking, publishes it to the Jellyfin library folder (the path and the library scan
    show, the file is there), downloads an EDL, finds it in the Gallery, and unpublishes it."""
    server = episodes_server
    set_up(server)
    a, b, c = (t for t, _, _ in SCENES)

    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(server.url + "p/harbor-lights/scenes")
    expect(page.get_by_test_id("live-indicator")).to_contain_text("Live")
    expect(page.get_by_test_id("view-scenes")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("scene-heading")).to_have_text(SCENES[0][0])
    shoot(page, "scenes-view-switch.png")
    page.get_by_test_id("view-episodes").click()
    expect(page).to_have_url(re.compile(r"/p/harbor-lights/episodes$"))
    tabs = page.get_by_role("navigation", name="Project tabs")
    expect(tabs.get_by_role("link", name="Scenes")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("empty-state")).to_contain_text("No episodes yet")
    shoot(page, "episodes-empty.png")

    # create: an empty title is refused next to its field
    page.get_by_test_id("episode-new-empty").click()
    page.get_by_test_id("episode-save").click()
    expect(page.get_by_test_id("error-episode-title")).to_be_visible()
    page.get_by_test_id("episode-title").fill("Pilot")
    page.get_by_test_id("episode-description").fill("Aiko comes home to the harbor.")
    page.get_by_test_id("episode-save").click()
    expect(page).to_have_url(re.compile(r"/p/harbor-lights/episodes/\d+$"))
    episode_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("episode-heading")).to_have_text("Pilot")
    expect(page.get_by_test_id("episode-strip-empty")).to_be_visible()
    expect(page.get_by_test_id("episode-assemble")).to_be_disabled()

    # add the three scenes (the picker offers what is not in the episode yet)
    for expected in (1, 2, 3):
        page.get_by_test_id("episode-add-btn").click()
        expect(page.get_by_test_id("episode-strip").locator("article")).to_have_count(expected)
    expect(page.get_by_test_id("episode-add-none")).to_be_visible()
    assert strip_titles(page) == [a, b, c]
    expect(page.get_by_test_id("episode-plan")).to_contain_text("3 scenes · 3.5 s")
    expect(page.get_by_test_id("episode-scene-2").get_by_test_id("episode-scene-duration")).to_have_text("1.5 s")

    # drag the third card onto the left half of the first: it becomes the first
    source = page.get_by_test_id("episode-scene-3").bounding_box()
    target = page.get_by_test_id("episode-scene-1").bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + 30)
    page.mouse.down()
    page.mouse.move(target["x"] + 20, target["y"] + 30, steps=10)
    expect(page.get_by_test_id("drop-line")).to_have_count(1)  # where it will land is drawn
    page.mouse.up()
    expect(page.get_by_test_id("episode-scene-1").get_by_test_id("episode-scene-title")).to_have_text(c)
    assert strip_titles(page) == [c, a, b]
    wait_for(lambda: api_order(server, episode_id) == [c, a, b], 10, "the server to keep the dragged order")
    # Alt+Right on the focused first card moves it one place on
    page.get_by_test_id("episode-scene-1").focus()
    page.keyboard.press("Alt+ArrowRight")
    expect(page.get_by_test_id("episode-scene-2").get_by_test_id("episode-scene-title")).to_have_text(c)
    expect(page.get_by_test_id("episode-scene-2")).to_be_focused()
    wait_for(lambda: api_order(server, episode_id) == [a, c, b], 10, "the server to keep the keyed order")
    page.reload()
    expect(page.get_by_test_id("episode-scene-3")).to_be_visible()
    assert strip_titles(page) == [a, c, b]  # the order persisted
    shoot(page, "episodes-strip.png")

    # assemble (straight cuts): the header follows the job live, then the player seeks
    page.evaluate("""() => {
      window.__statuses = [];
      const read = () => {
        const s = document.querySelector('[data-testid=episode-header]')?.dataset.status;
        if (s && window.__statuses[window.__statuses.length - 1] !== s) window.__statuses.push(s);
      };
      read();
      new MutationObserver(read).observe(document.body, {subtree: true, childList: true, attributes: true});
    }""")
    fade = page.get_by_test_id("episode-fade")
    fade.click()
    expect(fade).to_have_attribute("aria-checked", "false")
    page.get_by_test_id("episode-assemble").click()
    header = page.get_by_test_id("episode-header")
    expect(header).to_have_attribute("data-status", "assembled", timeout=120_000)
    assert "assembling" in page.evaluate("window.__statuses")
    expect(page.get_by_test_id("toast").filter(has_text="is assembled")).to_have_count(1)
    video = page.get_by_test_id("episode-video")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle(), timeout=30_000)
    assert abs(video.evaluate("v => v.duration") - 3.5) < 0.25
    seeked = video.evaluate("""v => new Promise(resolve => {
      v.addEventListener('seeked', () => resolve(v.currentTime), {once: true});
      v.currentTime = 2.2;
    })""")
    assert abs(seeked - 2.2) < 0.1, seeked
    expect(page.get_by_test_id("episode-row-%d" % episode_id).locator("img")).to_be_visible()  # its thumbnail
    shoot(page, "episodes-assembled.png")
    with client(server) as api:
        part = api.get(f"/episodes/{episode_id}/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100

    # publish: the path Jellyfin expects, the scan it was asked for, the file on disk
    page.get_by_test_id("publish-mode").select_option("copy")
    page.get_by_test_id("episode-publish-btn").click()
    expect(header).to_have_attribute("data-status", "published", timeout=60_000)
    path = page.get_by_test_id("episode-published-path")
    expect(path).to_contain_text(re.compile(r"Season 01/Harbor Lights S01E01 - Pilot\.mp4$"))
    expect(page.get_by_test_id("episode-jellyfin-status")).to_have_text("Jellyfin library scan triggered")
    published = Path(path.inner_text().strip())
    assert published.is_file() and server.library in published.parents
    assert server.jellyfin.scans, "no library scan reached Jellyfin"
    shoot(page, "episodes-published.png")

    # the EDL downloads with the session's cookie
    href = page.get_by_test_id("export-edl").get_attribute("href")
    edl = page.request.get(href)
    assert edl.status == 200 and "attachment" in edl.headers.get("content-disposition", "")
    assert "TITLE" in edl.text()

    # the Gallery shows the assembled episode and scenes
    page.goto(server.url + "p/harbor-lights/gallery")
    page.get_by_test_id("filter-kind-episode").click()
    expect(page).to_have_url(re.compile(r"kind=episode"))
    page.get_by_test_id(f"clip-episode-{episode_id}").click()
    expect(page.get_by_test_id("clip-title")).to_have_text("Pilot")
    clip = page.get_by_test_id("clip-video")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 3", arg=clip.element_handle(), timeout=30_000)
    shoot(page, "gallery-episodes.png")
    page.keyboard.press("Escape")
    page.get_by_test_id("filter-kind-scene").click()
    expect(page.get_by_test_id("clip-grid").locator("li")).to_have_count(3)
    expect(page.get_by_test_id("gallery-count")).to_have_text("3 scenes")

    # Settings shows Jellyfin's health
    page.goto(server.url + "settings/backends")
    card = page.get_by_test_id("jellyfin-card")
    expect(card.get_by_test_id("jellyfin-state")).to_have_text("reachable")
    expect(card.get_by_test_id("jellyfin-server")).to_contain_text("Test Jellyfin")
    expect(card.get_by_test_id("jellyfin-library")).to_have_text(str(server.library))
    shoot(page, "settings-jellyfin.png")

    # unpublish removes what publishing placed
    page.goto(server.url + f"p/harbor-lights/episodes/{episode_id}")
    page.get_by_test_id("episode-unpublish").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("episode-unpublished")).to_be_visible()
    assert not published.exists()
