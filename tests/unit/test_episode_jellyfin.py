"""The Jellyfin client against the protocol double: `Authorization: MediaBrowser Token=...` (the
legacy headers and query key are refused by the server), a scan of the new path through
/Library/Media/Updated with /Library/Refresh as the fallback, and health from /System/Info/Public."""

from __future__ import annotations

import httpx
import pytest

from packages.core.settings import Settings
from packages.episode_assembly import jellyfin
from tests.doubles.jellyfin import JellyfinDouble

KEY = "jf-key-0123"


@pytest.fixture
def double():
    with JellyfinDouble(api_key=KEY) as server:
        yield server


def settings_for(url: str | None, key: str | None = KEY, library=None) -> Settings:
    return Settings(JELLYFIN_URL=url, JELLYFIN_API_KEY=key, JELLYFIN_LIBRARY_DIR=library, _env_file=None)


async def test_the_double_refuses_legacy_authentication(double):
    """The double is faithful: X-Emby-Token, X-MediaBrowser-Token and api_key are 401 even with the right key."""
    async with httpx.AsyncClient(base_url=double.url) as c:
        body = {"Updates": [{"Path": "/x.mp4", "UpdateType": "Created"}]}
        assert (await c.post("/Library/Media/Updated", json=body, headers={"X-Emby-Token": KEY})).status_code == 401
        assert (await c.post("/Library/Refresh", headers={"X-MediaBrowser-Token": KEY})).status_code == 401
        assert (await c.post("/Library/Refresh", params={"api_key": KEY})).status_code == 401
        ok = await c.post("/Library/Refresh", headers={"Authorization": f'MediaBrowser Token="{KEY}"'})
        assert ok.status_code == 204
    assert double.scans == [("refresh", None)] and len(double.refused) == 3


async def test_scan_announces_the_new_path_with_the_mediabrowser_header(double):
    """One POST /Library/Media/Updated for the path, authenticated only by the Authorization header."""
    result = await jellyfin.scan(settings_for(double.url), "/library/Show (2026)/Season 01/Show S01E01 - A.mp4")
    assert result == {"scanned": True}
    assert double.scans == [("media_updated", ["/library/Show (2026)/Season 01/Show S01E01 - A.mp4"])]
    [request] = double.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert f'Token="{KEY}"' in headers["authorization"] and headers["authorization"].startswith("MediaBrowser ")
    assert "x-emby-token" not in headers and request["body"]["Updates"][0]["UpdateType"] == "Created"


async def test_scan_falls_back_to_a_library_refresh(double):
    """A server that will not take the path update gets a full /Library/Refresh."""
    double.media_updated_status = 404
    assert await jellyfin.scan(settings_for(double.url), "/library/x.mp4") == {"scanned": True}
    assert double.scans == [("refresh", None)]


async def test_scan_failures_are_reported_not_raised(double):
    """A wrong key, a failing server or no server: {scanned: false, error} with the reason."""
    result = await jellyfin.scan(settings_for(double.url, key="wrong"), "/x.mp4")
    assert result["scanned"] is False and "API key" in result["error"] and double.scans == []
    double.media_updated_status = 500
    double.refresh_status = 500
    result = await jellyfin.scan(settings_for(double.url), "/x.mp4")
    assert result == {"scanned": False, "error": "Jellyfin answered 500"}
    result = await jellyfin.scan(settings_for("http://127.0.0.1:9"), "/x.mp4")
    assert result["scanned"] is False and "unreachable" in result["error"]
    assert (await jellyfin.scan(settings_for(None), "/x.mp4"))["scanned"] is False


async def test_health(double, tmp_path):
    """Configured and reachable: the server's name and version; unconfigured: reachable is None."""
    health = await jellyfin.health(settings_for(double.url, library=tmp_path))
    assert health == {"configured": True, "library_dir": str(tmp_path), "reachable": True,
                      "server_name": "Test Jellyfin", "version": "10.11.0"}
    assert (await jellyfin.health(settings_for(None, None)))["reachable"] is None
    down = await jellyfin.health(settings_for("http://127.0.0.1:9"))
    assert down["reachable"] is False and down["error"]
