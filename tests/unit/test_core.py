"""Core rules that need no database: settings, paths, SQL building, the event bus, the home lock."""

from pathlib import Path

import pytest

from packages.core.embedded import HomeLock
from packages.core.errors import Invalid, StartupError
from packages.core.events import Event, EventBus, StoredEvent
from packages.core.paths import character_dir, generated_name, inside_home, validate_slug
from packages.core.settings import Settings
from packages.core.sql import update_statement
from packages.core.startup import check_bind


def settings_for(home: Path, **env) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, _env_file=None, **env)


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                           ("127.8.9.1", True), ("0.0.0.0", False), ("192.168.1.4", False),
                                           ("studio.example", False)])
def test_loopback_detection(tmp_path, host, loopback):
    """Only loopback addresses count as loopback; anything else needs an admin token to bind."""
    settings = settings_for(tmp_path, ANIME_STUDIO_HOST=host)
    assert settings.is_loopback is loopback
    if loopback:
        check_bind(settings)
    else:
        with pytest.raises(StartupError, match="ANIME_STUDIO_ADMIN_TOKEN"):
            check_bind(settings)
        check_bind(settings_for(tmp_path, ANIME_STUDIO_HOST=host, ANIME_STUDIO_ADMIN_TOKEN="x" * 32))


@pytest.mark.parametrize("slug", ["a", "moon-rabbit", "0x", "a" * 63])
def test_valid_slugs(slug):
    """Slugs of lowercase letters, digits and '-' up to 63 characters are accepted."""
    assert validate_slug(slug) == slug


@pytest.mark.parametrize("slug", ["", "-a", "A", "a b", "../x", "a/b", "a" * 64, "é", "a.b"])
def test_invalid_slugs(slug):
    """Anything that could escape a folder or is not a plain slug is refused."""
    with pytest.raises(Invalid):
        validate_slug(slug)


def test_paths_stay_inside_home(tmp_path):
    """Dataset folders are built from validated slugs only and never leave the home."""
    settings = settings_for(tmp_path)
    assert character_dir(settings, "proj", "hero") == (tmp_path / "datasets" / "proj" / "hero").resolve()
    with pytest.raises(Invalid):
        character_dir(settings, "..", "hero")
    with pytest.raises(Invalid):
        inside_home(settings, tmp_path / ".." / "elsewhere")
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(Invalid):
        inside_home(settings, tmp_path / "link" / "passwd")


def test_generated_names_are_fresh_and_safe():
    """Stored files get names we make; a suspicious suffix is refused."""
    names = {generated_name(".png") for _ in range(100)}
    assert len(names) == 100 and all(n.endswith(".png") and "/" not in n for n in names)
    with pytest.raises(Invalid):
        generated_name("/../x")


def test_update_statement_whitelists_columns():
    """UPDATE text only ever names whitelisted columns; values travel as parameters."""
    sql, values = update_statement("projects", "id", {"name": "x'; DROP TABLE projects; --", "genre": "g"},
                                   frozenset({"name", "genre"}))
    assert sql == "UPDATE projects SET name = $2, genre = $3 WHERE id = $1 RETURNING *"
    assert values == ["x'; DROP TABLE projects; --", "g"]
    with pytest.raises(KeyError):
        update_statement("projects", "id", {"slug; --": 1}, frozenset({"name"}))


async def test_event_bus_isolates_failing_handlers():
    """A failing subscriber never stops the others (or the request that emitted)."""
    bus, seen = EventBus(), []

    async def broken(event):
        raise RuntimeError("boom")

    async def recorder(event):
        seen.append(event.type)

    bus.subscribe("project.created", broken)
    bus.subscribe("project.created", recorder)
    bus.subscribe("*", recorder)
    from datetime import datetime, timezone

    await bus.publish(StoredEvent(id=1, type="project.created", project_id=1, payload={},
                                  at=datetime.now(timezone.utc)))
    assert seen == ["project.created", "project.created"]


def test_event_payload_carries_ids():
    """An event's stored payload holds its ids, project id included."""
    from typing import ClassVar

    class Thing(Event):
        type: ClassVar[str] = "thing.done"
        thing_id: int

    assert Thing(project_id=3, thing_id=9).payload() == {"project_id": 3, "thing_id": 9}


def test_home_lock_is_exclusive(tmp_path):
    """A second lock on the same home fails with the holder's pid; releasing frees it."""
    first, second = HomeLock(tmp_path), HomeLock(tmp_path)
    first.acquire()
    with pytest.raises(StartupError, match="already running"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
