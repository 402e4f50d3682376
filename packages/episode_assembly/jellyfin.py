"""Jellyfin's API, as the studio uses it: a library scan for a new file and the server's health.

Authentication is the `Authorization: MediaBrowser Token="..."` header (Jellyfin 10.11+/12 refuse
the legacy X-Emby-Token header and api_key query). A scan first tells Jellyfin about the one new
path (`POST /Library/Media/Updated`); a server that refuses that (not an auth failure) gets a
full `POST /Library/Refresh`."""

from __future__ import annotations

import httpx

from packages.core.settings import Settings

TIMEOUT_S = 10.0
CLIENT = 'MediaBrowser Client="Anime Studio", Device="anime-studio", DeviceId="anime-studio", Version="1"'


def configured(settings: Settings) -> bool:
    return bool(settings.jellyfin_url and settings.jellyfin_api_key)


def _client(settings: Settings) -> httpx.AsyncClient:
    token = settings.jellyfin_api_key.get_secret_value().replace('"', "")
    return httpx.AsyncClient(base_url=settings.jellyfin_url.rstrip("/"), timeout=TIMEOUT_S,
                             headers={"Authorization": f'{CLIENT}, Token="{token}"'})


def _refused(response: httpx.Response) -> str:
    if response.status_code in (401, 403):
        return "Jellyfin refused the API key (JELLYFIN_API_KEY)"
    return f"Jellyfin answered {response.status_code}"


async def scan(settings: Settings, path: str) -> dict:
    """{scanned: true} once Jellyfin accepted a scan, else {scanned: false, error}; never raises."""
    if not configured(settings):
        return {"scanned": False, "error": "JELLYFIN_URL and JELLYFIN_API_KEY are not set"}
    try:
        async with _client(settings) as client:
            response = await client.post("/Library/Media/Updated",
                                         json={"Updates": [{"Path": path, "UpdateType": "Created"}]})
            if response.is_success:
                return {"scanned": True}
            if response.status_code in (401, 403):
                return {"scanned": False, "error": _refused(response)}
            response = await client.post("/Library/Refresh")
            if response.is_success:
                return {"scanned": True}
            return {"scanned": False, "error": _refused(response)}
    except httpx.HTTPError as exc:
        return {"scanned": False, "error": f"Jellyfin is unreachable: {exc.__class__.__name__}: {exc}"}


async def health(settings: Settings) -> dict:
    library = str(settings.jellyfin_library_dir) if settings.jellyfin_library_dir else None
    if not configured(settings):
        return {"configured": False, "library_dir": library, "reachable": None}
    try:
        async with _client(settings) as client:
            response = await client.get("/System/Info/Public")
        if not response.is_success:
            return {"configured": True, "library_dir": library, "reachable": False, "error": _refused(response)}
        info = response.json()
        return {"configured": True, "library_dir": library, "reachable": True,
                "server_name": info.get("ServerName"), "version": info.get("Version")}
    except (httpx.HTTPError, ValueError) as exc:
        return {"configured": True, "library_dir": library, "reachable": False,
                "error": f"Jellyfin is unreachable: {exc.__class__.__name__}: {exc}"}
