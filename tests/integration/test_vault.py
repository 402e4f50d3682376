"""Database credentials from Vault: KV v2 and the database secrets engine; failures stop start-up clearly."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import pytest

from packages.core.errors import StartupError
from packages.core.settings import Settings
from packages.core.startup import prepare
from packages.core.vault import database_url_from_vault
from tests.doubles.vault import VaultDouble
from tests.live import free_port


def vault_settings(home, **env) -> Settings:
    return Settings(ANIME_STUDIO_HOME=home, _env_file=None, **env)


def test_kv_v2_url_secret_is_used_and_migrated(home, database_url):
    """A KV v2 secret holding `url` becomes the database the app migrates and uses."""
    with VaultDouble() as vault:
        vault.kv[("secret", "anime-studio/db")] = {"url": database_url}
        settings = vault_settings(home, VAULT_ADDR=vault.url, VAULT_TOKEN="root-token",
                                  VAULT_DB_PATH="secret/anime-studio/db")
        prepared = prepare(settings, server=False)
        assert prepared.url == database_url
        prepared.close()
        assert ("GET", "/v1/secret/data/anime-studio/db") in vault.requests


async def test_database_engine_credentials_replace_the_user(home, database_url, pg_cluster):
    """Credentials issued by the database secrets engine are the ones the connection uses."""
    admin = await asyncpg.connect(pg_cluster)
    await admin.execute("DROP ROLE IF EXISTS vault_issued")
    await admin.execute("CREATE ROLE vault_issued LOGIN PASSWORD 's3cr:t/%' SUPERUSER")
    try:
        with VaultDouble() as vault:
            vault.db_roles[("database", "anime-studio")] = ("vault_issued", "s3cr:t/%")
            vault.approles["role-1"] = "secret-1"
            settings = vault_settings(home, VAULT_ADDR=vault.url, VAULT_ROLE_ID="role-1", VAULT_SECRET_ID="secret-1",
                                      VAULT_DB_PATH="database/creds/anime-studio", DATABASE_URL=database_url)
            url = database_url_from_vault(settings)
        assert urlsplit(url).username == "vault_issued"
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT current_user") == "vault_issued"
        await conn.close()
    finally:
        await admin.execute("DROP ROLE vault_issued")
        await admin.close()


def test_unreachable_vault_is_a_clear_startup_error(home):
    """An unreachable Vault stops start-up with an error naming its address; there is no fallback."""
    addr = f"http://127.0.0.1:{free_port()}"
    settings = vault_settings(home, VAULT_ADDR=addr, VAULT_TOKEN="t", VAULT_DB_PATH="secret/db")
    with pytest.raises(StartupError, match="unreachable") as info:
        prepare(settings, server=False)
    assert addr in str(info.value)
    assert not (home / "var" / "postgres").exists()


@pytest.mark.parametrize("path,token,message", [
    ("secret/missing", "root-token", "has no secret at secret/missing"),
    ("secret/anime-studio/db", "wrong-token", "refused access"),
    ("secret/no-fields", "root-token", "neither 'url' nor"),
])
def test_missing_or_forbidden_secret_names_what_failed(home, path, token, message):
    """A missing secret, a refused token or a secret without credentials each name what failed."""
    with VaultDouble() as vault:
        vault.kv[("secret", "anime-studio/db")] = {"url": "postgresql://x@localhost/db"}
        vault.kv[("secret", "no-fields")] = {"hello": "world"}
        settings = vault_settings(home, VAULT_ADDR=vault.url, VAULT_TOKEN=token, VAULT_DB_PATH=path)
        with pytest.raises(StartupError, match=message):
            database_url_from_vault(settings)
