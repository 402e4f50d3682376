"""Database credentials from HashiCorp Vault (KV v2 secret or the database secrets engine).

`VAULT_DB_PATH` names the secret as `<mount>/<path>`:
- `<mount>/creds/<role>`: the database secrets engine; the username and password it issues are put
  into `DATABASE_URL` (which gives host, port and database name).
- anything else: a KV v2 secret holding either `url` (a whole PostgreSQL URL) or `username` and
  `password` (with optional `host`, `port`, `dbname`) merged into `DATABASE_URL`.
Any failure is a StartupError naming the address or path; there is no silent fallback.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import hvac
import requests

from packages.core.errors import StartupError
from packages.core.settings import Settings


def _client(settings: Settings) -> hvac.Client:
    addr = settings.vault_addr
    token = settings.vault_token.get_secret_value() if settings.vault_token else None
    client = hvac.Client(url=addr, token=token, timeout=10)
    if not token:
        if not (settings.vault_role_id and settings.vault_secret_id):
            raise StartupError(
                f"VAULT_ADDR is set ({addr}) but neither VAULT_TOKEN nor VAULT_ROLE_ID/VAULT_SECRET_ID is"
            )
        client.auth.approle.login(
            role_id=settings.vault_role_id, secret_id=settings.vault_secret_id.get_secret_value()
        )
    return client


def _merge(base_url: str | None, username: str, password: str, host=None, port=None, dbname=None) -> str:
    if not base_url and not host:
        raise StartupError("Vault gave credentials but DATABASE_URL (or the secret's host) names no server")
    parts = urlsplit(base_url or "postgresql://localhost/")
    netloc_host = host or parts.hostname or ""
    netloc_port = port or parts.port
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{netloc_host}"
    if netloc_port:
        netloc += f":{netloc_port}"
    path = f"/{dbname}" if dbname else parts.path
    return urlunsplit((parts.scheme or "postgresql", netloc, path, parts.query, ""))


def database_url_from_vault(settings: Settings) -> str:
    addr, path = settings.vault_addr, (settings.vault_db_path or "").strip("/")
    if not path or "/" not in path:
        raise StartupError("VAULT_ADDR is set but VAULT_DB_PATH is missing; set it to <mount>/<path>")
    base = settings.database_url.get_secret_value() if settings.database_url else None
    mount, _, rest = path.partition("/")
    try:
        client = _client(settings)
        if rest.startswith("creds/"):
            creds = client.secrets.database.generate_credentials(name=rest[len("creds/"):], mount_point=mount)
            data = creds["data"]
            return _merge(base, data["username"], data["password"])
        secret = client.secrets.kv.v2.read_secret_version(
            path=rest, mount_point=mount, raise_on_deleted_version=True
        )
        data = secret["data"]["data"]
    except requests.exceptions.RequestException as exc:
        raise StartupError(f"Vault at {addr} is unreachable: {exc.__class__.__name__}") from exc
    except hvac.exceptions.InvalidPath as exc:
        raise StartupError(f"Vault at {addr} has no secret at {path}") from exc
    except hvac.exceptions.Forbidden as exc:
        raise StartupError(f"Vault at {addr} refused access to {path} (permission denied)") from exc
    except hvac.exceptions.VaultError as exc:
        raise StartupError(f"Vault at {addr} failed reading {path}: {exc.__class__.__name__}") from exc
    except KeyError as exc:
        raise StartupError(f"Vault secret {path} lacks the field {exc}") from exc
    if "url" in data:
        return data["url"]
    if "username" not in data or "password" not in data:
        raise StartupError(f"Vault secret {path} holds neither 'url' nor 'username' and 'password'")
    return _merge(base, data["username"], data["password"], data.get("host"), data.get("port"), data.get("dbname"))
