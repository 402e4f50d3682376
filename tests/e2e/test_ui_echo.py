"""Browser tests of Echo Brain and the creative team: the real built UI against the real server at
1280x800, with the Ollama protocol double as the only language model (chat, structured answers and
the embed endpoint; the project memory is real Qdrant in local mode). Echo Brain is asked about a
character and answers in a stream with a source chip that opens the character; a prompt is
enhanced on the Generate tab and a world field drafted on the Story tab; five specialists plan a
shot while the user interjects, and the edited plan fills the shot."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.doubles.ollama import OllamaDouble, fill_schema  # noqa: E402
from tests.e2e.api import client, ok, wait_for  # noqa: E402
from tests.e2e.conftest import ARTIFACTS, E2E_TOKEN, _require_ui  # noqa: E402
from tests.live import start_server  # noqa: E402

CHAT_MODEL = "llama3.1:latest"
EMBED_MODEL = "nomic-embed-text:latest"
ANSWER = ("Aiko is the heroine of Harbor Lights: a courier with short black hair who always wears her red "
          "scarf on the rooftops.")
ENHANCED = "aiko, short black hair, red scarf, standing on a harbour rooftop at dusk, lanterns below, wind"
DRAFT = "A harbour town of stacked rooftops where lanterns are lit each dusk."
SHOT_PLAN = {"shot_type": "medium", "camera_angle": "low angle", "duration_s": 3,
             "prompt": "aiko on the rooftop in the rain, lanterns below", "negative_prompt": "blurry",
             "motion_prompt": "slow push in", "transition": "dissolve"}


def team_answer(request: dict) -> dict:
    """A specialist's structured answer: in its own voice, naming the phase (so no one repeats
    word for word), answering the director first when the prompt quotes them, always agreeing."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    who = re.search(r"You are (\w+)", system).group(1)
    phase = re.search(r"Phase: (\w+)\.", user).group(1)
    lead = "To the director: yes, rain it is. " if "The director just said" in user else ""
    props = request["format"]["properties"]
    if "params" in props:
        params = fill_schema(props["params"])
        params.update({k: v for k, v in SHOT_PLAN.items() if k in params})
        return {"message": f"{lead}{who} sets the parameters for the {phase}.", "params": params}
    if "approve" in props:
        return {"message": f"{lead}{who} finds the plan consistent.", "approve": True, "risks": []}
    return {"message": f"{lead}{who} on the {phase}: lanterns, wet roofs, a low camera.", "agree": True,
            "proposal": f"{who}'s {phase} idea"}


def answer(request: dict):
    """The double's answer per request: the team's structured turns, the enhanced prompt
    ({"prompt"}), a narration draft (the story writer's system prompt), or the chat answer."""
    fmt = request.get("format")
    props = set(fmt.get("properties", {})) if isinstance(fmt, dict) else set()
    if props & {"agree", "params", "approve"}:
        return team_answer(request)
    if props:
        return {"prompt": ENHANCED}
    return DRAFT if "story writer" in request["messages"][0]["content"] else ANSWER


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory):
    _require_ui()
    with OllamaDouble(models={CHAT_MODEL: ["completion"], EMBED_MODEL: ["embedding"]}, latency=1.2) as ollama:
        ollama.answer = answer
        server = start_server(tmp_path_factory.mktemp("e2e-echo"), token=E2E_TOKEN,
                              env={"OLLAMA_HOST": ollama.url, "ANIME_STUDIO_CHAT_MODEL": "llama3.1",
                                   "ANIME_STUDIO_EMBED_MODEL": "nomic-embed-text"})
        server.ollama = ollama
        yield server
        server.stop()


@pytest.fixture(scope="module")
def echo_project(echo_server) -> dict:
    return set_up(echo_server)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def set_up(server) -> dict:
    """A project with a character, a storyline, and a scene of one shot (through the API: the
    screens that make them have their own tests); waits until the memory holds them."""
    with client(server) as api:
        project = ok(api.post("/projects", json={"name": "Harbor Lights", "slug": "harbor-lights",
                                                 "premise": "A courier girl and the lantern harbour"}))
        character = ok(api.post("/characters", json={
            "project_id": project["id"], "name": "Aiko", "slug": "aiko",
            "design_prompt": "1girl, aiko, short black hair, red scarf, courier bag"}))
        ok(api.post("/storylines", json={"project_id": project["id"], "title": "Lanterns",
                                         "summary": "Aiko delivers the last letter before the festival"}))
        scene = ok(api.post("/scenes", json={"project_id": project["id"], "title": "Rooftop at dusk"}))
        shot = ok(api.post(f"/scenes/{scene['id']}/shots", json={"shot_type": "wide", "prompt": "the harbour"}))
        wait_for(lambda: (ok(api.get("/echo/status"))["memory"]["points"] or 0) >= 3, timeout=90,
                 what="the project memory to hold the new rows")
        return {"project": project, "character": character, "scene": scene, "shot": shot}


def record_stream(page: Page, selector: str) -> None:
    """Records every text length the streaming element shows, so the test can tell the answer
    arrived piece by piece rather than at once."""
    page.evaluate("""(selector) => {
      window.__lengths = [];
      new MutationObserver(() => {
        const el = document.querySelector(selector);
        if (el && el.dataset.streaming === 'true') {
          const n = el.querySelector('[data-testid=echo-text]').textContent.length;
          if (window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
        }
      }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
    }""", selector)


def test_echo_brain_answers_with_sources_enhances_and_drafts(echo_server, echo_project, page: Page):
    """Echo Brain opens from any tab (button and `.`), streams its answer as text, shows the rows it
    drew on as chips, and the character chip opens that character with the panel still open; on the
    Generate tab a prompt is enhanced (original and enhanced side by side, the field changes only
    on Accept); on the Story tab "Draft" streams a world field in without saving it."""
    server = echo_server
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(server.url + "p/harbor-lights/scenes")
    page.get_by_test_id("echo-button").click()
    panel = page.get_by_test_id("echo-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("echo-conversation-title")).to_contain_text("llama3.1")
    shoot(page, "echo-panel-empty.png")

    record_stream(page, "[data-testid=echo-assistant]:last-of-type")
    panel.get_by_test_id("echo-input").fill("Who is Aiko and what does she wear?")
    panel.get_by_test_id("echo-input").press("Enter")
    expect(panel.get_by_test_id("echo-stop")).to_be_visible()
    reply = panel.get_by_test_id("echo-assistant").last
    expect(reply).to_have_attribute("data-streaming", "false", timeout=20000)
    expect(reply.get_by_test_id("echo-text")).to_have_text(ANSWER)
    lengths = page.evaluate("window.__lengths")
    assert len([n for n in lengths if 0 < n < len(ANSWER)]) >= 2, lengths  # streamed, not dumped
    chip = reply.get_by_test_id("echo-source-character")
    expect(chip).to_contain_text("Aiko")
    # what the model saw: the retrieved character, quoted as data
    assert "red scarf" in server.ollama.chats[-1]["messages"][-1]["content"] or any(
        "red scarf" in m["content"] for m in server.ollama.chats[-1]["messages"])
    shoot(page, "echo-panel-answer.png")

    chip.click()
    expect(page).to_have_url(re.compile(r"/p/harbor-lights/characters/aiko$"))
    expect(page.get_by_test_id("character-title")).to_contain_text("Aiko")
    expect(panel).to_be_visible()  # the conversation stays beside the page
    shoot(page, "echo-source-opened.png")
    panel.get_by_test_id("echo-input").press("Escape")
    expect(panel).to_be_hidden()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(".")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("echo-assistant").last).to_contain_text("heroine")  # history kept
    panel.get_by_role("button", name="Close Echo Brain").click()

    # Generate tab: Enhance beside the prompt
    page.goto(server.url + "p/harbor-lights/generate")
    page.get_by_test_id("gen-prompt").fill("on a rooftop at dusk")
    page.get_by_test_id("enhance-prompt").click()
    result = page.get_by_test_id("enhance-result")
    expect(result.get_by_test_id("enhance-original")).to_have_text("on a rooftop at dusk")
    expect(result.get_by_test_id("enhance-enhanced")).to_have_text(ENHANCED)
    expect(page.get_by_test_id("gen-prompt")).to_have_value("on a rooftop at dusk")  # not before Accept
    shoot(page, "echo-enhance.png")
    result.get_by_test_id("enhance-accept").click()
    expect(page.get_by_test_id("gen-prompt")).to_have_value(ENHANCED)

    # Story tab: Draft streams into the world setting; nothing is saved until Save
    page.goto(server.url + "p/harbor-lights/story")
    page.get_by_test_id("narrate-world.setting").click()
    expect(page.get_by_test_id("world-setting")).to_have_value(DRAFT, timeout=15000)
    expect(page.get_by_test_id("narrate-undo-world.setting")).to_be_visible()
    shoot(page, "echo-narrate.png")
    with client(server) as api:
        assert (ok(api.get(f"/world-settings/{echo_project['project']['id']}")).get("setting") or "") == ""
    page.get_by_test_id("narrate-undo-world.setting").click()
    expect(page.get_by_test_id("world-setting")).to_have_value("")


def test_team_plans_a_shot_with_an_interjection_and_fills_it(echo_server, echo_project, page: Page):
    """From a shot card, "Plan with the team" opens the team view: five specialists with their
    colours, the phase indicator moving ideation → review, each message typed as it streams; the
    user's interjection (Enter) is answered by the next turn first; Pixel's parameters arrive as a
    form whose bad values are caught inline, and the edited plan fills the shot."""
    server = echo_server
    scene, shot = echo_project["scene"], echo_project["shot"]
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(server.url + f"p/harbor-lights/scenes/{scene['id']}")
    server.ollama.latency = 2.5  # each turn types for a while: time to interject mid-turn
    page.get_by_test_id("shot-card-1").get_by_test_id("plan-with-team").click()
    expect(page).to_have_url(re.compile(r"/p/harbor-lights/team/\d+$"))
    session_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("team-title")).to_contain_text(f"Shot #{shot['id']}")
    for who in ("luna", "frame", "saga", "pixel", "lens"):
        expect(page.get_by_test_id(f"team-member-{who}")).to_be_visible()
    expect(page.get_by_test_id("team-phase-ideation")).to_have_attribute("aria-current", "step")

    # Luna is typing: the user interjects (Enter sends)
    typing = page.locator("[data-testid=team-line-luna][data-typing=true]")
    expect(typing).to_have_count(1, timeout=20000)
    shoot(page, "team-typing.png")
    page.get_by_test_id("team-input").fill("Make it rain, please")
    page.get_by_test_id("team-input").press("Enter")
    expect(page.get_by_test_id("team-input")).to_have_value("")
    mine = page.get_by_test_id("team-line-user")
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-pending", "false", timeout=10000)
    # the line after the user's is the next turn, and it answers the user first
    after_user = page.locator("[data-testid=team-line-user] + article")
    expect(after_user.get_by_test_id("team-line-text")).to_contain_text("To the director", timeout=30000)
    expect(after_user).to_have_attribute("data-testid", re.compile(r"team-line-(frame|saga)"))
    expect(after_user.get_by_test_id("team-line-replies")).to_be_visible()  # its reply_to is the user's line
    server.ollama.latency = 0.3
    shoot(page, "team-interjected.png")

    # the plan arrives; the phases moved on; Lens approves
    expect(page.get_by_test_id("team-status")).to_contain_text("planned", timeout=60000)
    expect(page.get_by_test_id("team-phase-review")).to_have_attribute("aria-current", "step")
    expect(page.get_by_test_id("team-phase-ideation")).to_contain_text("✓")
    plan = page.get_by_test_id("team-plan")
    expect(plan.get_by_test_id("plan-prompt")).to_have_value(SHOT_PLAN["prompt"])
    expect(plan.get_by_test_id("plan-transition")).to_have_value("dissolve")
    shoot(page, "team-plan.png")

    # a bad value is caught next to its field; nothing is sent
    plan.get_by_test_id("plan-duration_s").fill("30")
    plan.get_by_test_id("plan-approve").click()
    expect(plan.get_by_test_id("plan-error-duration_s")).to_contain_text("Between 1 and 10")
    with client(server) as api:
        assert ok(api.get(f"/team/sessions/{session_id}"))["status"] == "planned"
    plan.get_by_test_id("plan-duration_s").fill("4")
    plan.get_by_test_id("plan-camera_angle").fill("high angle, wide lens")
    plan.get_by_test_id("plan-approve").click()  # "Fill shot"
    expect(page.get_by_test_id("team-approved")).to_be_visible()
    expect(page.get_by_test_id("team-status")).to_contain_text("approved")
    shoot(page, "team-approved.png")
    with client(server) as api:
        filled = next(s for s in ok(api.get(f"/scenes/{scene['id']}"))["shots"] if s["id"] == shot["id"])
        assert filled["camera_angle"] == "high angle, wide lens"
        assert filled["duration_s"] == 4
        assert filled["prompt"] == SHOT_PLAN["prompt"]
        session = ok(api.get(f"/team/sessions/{session_id}"))
    assert session["status"] == "approved"
    speakers = [m["speaker"] for m in session["messages"]]
    assert {"luna", "frame", "saga", "pixel", "lens", "user"} <= set(speakers), json.dumps(speakers)


def test_team_models_are_chosen_per_project_with_errors_next_to_the_field(echo_server, echo_project, page: Page):
    """The team view's "Models per specialist" shows each role's model (the chat model when none is
    set), refuses a name Ollama could not have next to its field without saving anything, and saves
    a valid one for the project."""
    server = echo_server
    models = lambda api: ok(api.get("/team/models", params={"project": "harbor-lights"}))  # noqa: E731
    with client(server) as api:
        session = ok(api.post("/team/sessions", json={
            "project": "harbor-lights", "target": {"kind": "character_image", "character": "aiko"}}))
    page.goto(server.url + "?token=" + server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(server.url + f"p/harbor-lights/team/{session['id']}")
    panel = page.get_by_test_id("team-models")
    panel.locator("summary").click()
    field = panel.get_by_test_id("team-model-saga")
    expect(field).to_have_value("llama3.1")
    field.fill("qwen 2.5")
    panel.get_by_test_id("team-models-save").click()
    expect(panel.get_by_test_id("error-team-model-saga")).to_contain_text("Letters, digits")
    expect(field).to_have_attribute("aria-invalid", "true")
    with client(server) as api:
        assert models(api)["saga"] == "llama3.1"
    field.fill("qwen2.5:7b")
    expect(panel.get_by_test_id("error-team-model-saga")).to_have_count(0)
    panel.get_by_test_id("team-models-save").click()
    expect(page.get_by_test_id("toast").filter(has_text="next team session")).to_have_count(1)
    with client(server) as api:
        assert models(api) == {"luna": "llama3.1", "frame": "llama3.1", "saga": "qwen2.5:7b", "pixel": "llama3.1",
                               "lens": "llama3.1"}
        ok(api.post(f"/team/sessions/{session['id']}/cancel"))


def test_echo_brain_without_ollama_says_what_it_needs(live_server, page: Page):
    """With no OLLAMA_HOST the panel still opens (Ctrl+K) from any tab and explains what Echo Brain
    is for and how to set it up, instead of a chat box that cannot answer; Enhance says the same."""
    with client(live_server) as api:
        ok(api.post("/projects", json={"name": "Quiet", "slug": "quiet"}))
    page.goto(live_server.url + "?token=" + live_server.token)
    expect(page.get_by_test_id("user-badge")).to_contain_text("admin")
    page.goto(live_server.url + "p/quiet/generate")
    expect(page.get_by_test_id("generate-form")).to_be_visible()
    page.keyboard.press("Control+k")
    panel = page.get_by_test_id("echo-panel")
    expect(panel.get_by_test_id("echo-not-configured")).to_contain_text("OLLAMA_HOST")
    expect(panel.get_by_test_id("echo-input")).to_have_count(0)
    shoot(page, "echo-not-configured.png")
    page.keyboard.press("Control+k")
    expect(panel).to_be_hidden()
    page.get_by_test_id("gen-character").select_option(label="No character: free prompt")
    page.get_by_test_id("gen-prompt").fill("a lighthouse at night")
    page.get_by_test_id("enhance-prompt").click()
    # (the server loads the offline embedding model for retrieval before it finds Ollama missing)
    expect(page.get_by_test_id("enhance-error")).to_contain_text("OLLAMA_HOST", timeout=90000)
    expect(page.get_by_test_id("gen-prompt")).to_have_value("a lighthouse at night")
