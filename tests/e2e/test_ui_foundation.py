"""Browser tests for the first three tabs (Project, Story & World, Characters): the real built UI
against the real server in headless Chromium, at 1280x800."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402


def make_png(path: Path, color: tuple[int, int, int] = (200, 60, 40), size=(96, 128)) -> Path:
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


def sign_in(page: Page, server) -> None:
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    assert "token=" not in page.url, "the token must be stripped from the address bar"


def create_project(page: Page, name: str, slug: str) -> None:
    page.get_by_test_id("new-project").click()
    page.get_by_test_id("project-name").fill(name)
    expect(page.get_by_test_id("project-slug")).to_have_value(slug)  # suggested from the name
    page.get_by_test_id("project-create-submit").click()
    expect(page).to_have_url(re.compile(rf"/p/{slug}/project$"))
    expect(page.get_by_test_id("project-title")).to_contain_text(name)


def create_character(page: Page, *, name: str, species: str, design_prompt: str) -> None:
    page.get_by_test_id("new-character").click()
    page.get_by_test_id("character-name").fill(name)
    page.get_by_test_id("character-species").fill(species)
    page.get_by_test_id("character-design-prompt").fill(design_prompt)
    page.get_by_test_id("character-save").click()
    expect(page.get_by_test_id("character-title")).to_contain_text(name)


def test_project_story_and_characters_end_to_end(live_server, page: Page, tmp_path: Path):
    """A director can set up a project through the UI: a default style, a storyline, world
    settings and characters; a non-human character's built prompt keeps human-body terms in the
    negative; reference images upload and show as thumbnails."""
    sign_in(page, live_server)
    expect(page.get_by_text("No projects yet — create your first project")).to_be_visible()
    create_project(page, "Dragon Tales", "dragon-tales")

    # A generation style: the server's validation shows next to the field, then it is the default.
    expect(page.get_by_test_id("no-default-style")).to_be_visible()
    page.get_by_test_id("new-style").click()
    page.get_by_test_id("style-name").fill("Anime XL")
    page.get_by_test_id("style-checkpoint").fill("animagineXL_v31.safetensors")
    page.get_by_test_id("style-positive").fill("masterpiece, best quality")
    expect(page.get_by_test_id("style-make-default")).to_be_checked()
    page.get_by_test_id("style-save").click()
    expect(page.get_by_test_id("error-style-positive")).to_contain_text("{prompt}")
    page.get_by_test_id("style-positive").fill("masterpiece, best quality, {prompt}")
    page.get_by_test_id("style-save").click()
    expect(page.get_by_test_id("default-style-badge")).to_be_visible()
    expect(page.get_by_test_id("no-default-style")).to_have_count(0)
    expect(page.get_by_test_id("project-form-style")).to_have_value(re.compile(r"^\d+$"))

    # Story & World: a storyline with an arc, then world settings saved and still there on reload.
    page.get_by_test_id("tab-story").click()
    expect(page).to_have_url(re.compile(r"/p/dragon-tales/story$"))
    page.get_by_test_id("new-storyline").click()
    page.get_by_test_id("storyline-title").fill("Season 1: Embers")
    page.get_by_test_id("storyline-summary").fill("A young dragon leaves the mountain.")
    page.get_by_test_id("add-arc").click()
    page.get_by_test_id("arc-title").fill("The descent")
    page.get_by_test_id("storyline-save").click()
    row = page.get_by_test_id("storyline-row")
    expect(row).to_contain_text("Season 1: Embers")
    expect(row).to_contain_text("The descent")

    page.get_by_test_id("world-setting").fill("A volcanic archipelago in a steam age.")
    page.get_by_test_id("add-palette").click()
    page.get_by_test_id("palette-name").fill("Ash and ember")
    page.get_by_test_id("world-save").click()
    expect(page.get_by_test_id("toast").filter(has_text="World settings saved")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("world-setting")).to_have_value("A volcanic archipelago in a steam age.")
    expect(page.get_by_test_id("palette-name")).to_have_value("Ash and ember")
    expect(page.get_by_test_id("palette-color")).to_have_count(3)

    # Characters: empty state, then two characters, one of them not human.
    page.get_by_test_id("tab-characters").click()
    expect(page.get_by_text("No characters yet — create one")).to_be_visible()
    create_character(page, name="Aiko Tanaka", species="human",
                     design_prompt="1girl, short black hair, red scarf")
    page.go_back()
    expect(page.get_by_test_id("character-row-aiko-tanaka")).to_be_visible()
    create_character(page, name="Ember", species="dragon (NOT human)",
                     design_prompt="red dragon, golden horns, leathery wings")
    expect(page).to_have_url(re.compile(r"/p/dragon-tales/characters/ember$"))

    positive = page.get_by_test_id("prompt-positive")
    negative = page.get_by_test_id("prompt-negative")
    expect(positive).to_contain_text("red dragon, golden horns, leathery wings")
    expect(positive).to_contain_text("masterpiece, best quality")
    for term in ("human skin", "human face", "human hands", "humanoid body"):
        expect(negative).to_contain_text(term)

    # Reference images: a real PNG through the file picker shows as a loaded thumbnail.
    png = make_png(tmp_path / "ember-front.png")
    page.get_by_test_id("file-input").set_input_files(str(png))
    thumb = page.get_by_test_id("reference-thumb")
    expect(thumb).to_have_count(1)
    image = thumb.locator("img")
    expect(image).to_have_attribute("alt", re.compile("Ember reference"))
    page.wait_for_function("img => img.complete && img.naturalWidth === 96", arg=image.element_handle())

    # A file that is not an image gets its own error line.
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"this is not a png")
    page.get_by_test_id("file-input").set_input_files(str(bogus))
    expect(page.locator("[data-testid=upload-list] li[data-state=error]")).to_contain_text("notes.png")
    expect(thumb).to_have_count(1)

    # The list shows both characters; the human one's prompt has no human-body negatives.
    page.get_by_test_id("tab-characters").click()
    expect(page.get_by_test_id("character-count")).to_have_text("2")
    page.get_by_test_id("character-row-aiko-tanaka").click()
    expect(page.get_by_test_id("prompt-positive")).to_contain_text("short black hair")
    expect(page.get_by_test_id("prompt-negative")).not_to_contain_text("humanoid body")


def test_archive_is_undoable_and_shortcuts_move_between_tabs(live_server, page: Page):
    """Archiving a project asks once and offers Restore in a toast; `g` then a letter jumps tabs."""
    sign_in(page, live_server)
    create_project(page, "Short Lived", "short-lived")
    page.keyboard.press("g")
    page.keyboard.press("c")
    expect(page).to_have_url(re.compile(r"/p/short-lived/characters$"))
    page.keyboard.press("g")
    page.keyboard.press("p")
    expect(page).to_have_url(re.compile(r"/p/short-lived/project$"))

    page.get_by_test_id("archive-project").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("archived-banner")).to_be_visible()
    page.get_by_test_id("toast-action-restore").click()
    expect(page.get_by_test_id("archived-banner")).to_have_count(0)
    expect(page.get_by_test_id("project-title")).to_contain_text("development")


def test_works_under_a_sub_path(live_server_subpath, page: Page):
    """Served under /anime-studio/, every asset, API call and route stays under that prefix, and
    a reload on a deep link works."""
    server = live_server_subpath
    api_paths: list[str] = []
    page.on("request", lambda r: api_paths.append(r.url) if "/api/lora/" in r.url else None)
    sign_in(page, server)
    assert page.url.startswith(server.url)
    create_project(page, "Under A Prefix", "under-a-prefix")
    assert page.url == server.url + "p/under-a-prefix/project"

    page.get_by_test_id("tab-story").click()
    expect(page).to_have_url(server.url + "p/under-a-prefix/story")
    expect(page.get_by_test_id("world-form")).to_be_visible()
    page.get_by_test_id("tab-characters").click()
    expect(page).to_have_url(server.url + "p/under-a-prefix/characters")
    expect(page.get_by_text("No characters yet — create one")).to_be_visible()

    page.reload()
    expect(page.get_by_test_id("tab-characters")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No characters yet — create one")).to_be_visible()
    page.go_back()
    expect(page).to_have_url(server.url + "p/under-a-prefix/story")

    assert api_paths, "the UI made no API calls"
    prefix = server.url + "api/lora/"
    assert all(u.startswith(prefix) for u in api_paths), [u for u in api_paths if not u.startswith(prefix)]
