"""Browser tests: the real built UI served by a real server, driven in Debian's headless Chromium.
A failing test leaves a screenshot of the page in test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.live import REPO, start_server

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
E2E_TOKEN = "e2e-admin-token-0123456789"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _require_ui():
    if not (REPO / "frontend" / "dist" / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make test` (it builds the UI) or `npm run build`")
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: `make test` installs Debian's chromium")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    _require_ui()
    server = start_server(tmp_path_factory.mktemp("e2e-home"), token=E2E_TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_server_subpath(tmp_path_factory):
    """The same server as reached through a proxy that serves it under /anime-studio/."""
    _require_ui()
    server = start_server(tmp_path_factory.mktemp("e2e-sub"), token=E2E_TOKEN, root_path="/anime-studio")
    server.url = server.url + "anime-studio/"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """Per module: sync Playwright runs its own event loop, which must be gone before the async
    tests of other modules run in this process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    if getattr(request.node, "failed_call", False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.nodeid)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
