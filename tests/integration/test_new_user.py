"""The README's first hour from a fresh checkout (issue 10, item 6): `make run` in the background,
health and the printed sign-in URL, `anime-studio demo`, a published episode in the library folder,
then Ctrl+C. Everything is local (no network), so nothing here is skipped; the steps and how the
checkout reuses this repo's .venv and node_modules are in tests/new_user.py."""

from __future__ import annotations

import pytest

from packages.core.settings import Settings
from tests.new_user import run_first_hour

TIMEOUT_S = 900


@pytest.mark.timeout(TIMEOUT_S + 120)
def test_a_fresh_checkout_runs_serves_makes_the_demo_episode_and_stops(tmp_path):
    """A newcomer's `make run` in a fresh checkout builds the UI and serves it, healthy, with a
    sign-in URL whose token is an admin's; `anime-studio demo` beside the running server publishes
    an episode video into `<home>/library/<show>/Season 01/`; Ctrl+C stops make, the server and the
    embedded PostgreSQL within 60 s. Fails naming the step that did not happen."""
    result = run_first_hour(tmp_path, timeout=TIMEOUT_S)
    assert result.episode is not None and result.episode.parts[0] == "library"
    assert list(result.seconds) == ["checkout", "link dependencies", "make run to healthy", "anime-studio demo",
                                    "shutdown"]


def test_the_home_is_the_working_directory_whatever_the_shell_exports(tmp_path, monkeypatch):
    """Unset ANIME_STUDIO_HOME means the working directory (README), even though every shell exports
    HOME; and only ANIME_STUDIO_* names move the port, host and log level, not a PORT, HOST or
    LOG_LEVEL meant for something else."""
    for name in ("ANIME_STUDIO_HOME", "ANIME_STUDIO_PORT", "ANIME_STUDIO_HOST", "ANIME_STUDIO_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)
    assert (settings.home, settings.port, settings.host, settings.log_level) == (tmp_path.resolve(), 8401,
                                                                                "127.0.0.1", "info")
