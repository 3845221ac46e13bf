"""SMTP credentials: references, errors that mark a mailbox bad versus a Vault that is away, the cache
(pot_worker.credentials over pot_common.vault, with Vault answered in memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pot_common.vault import (
    SERVICE_ACCOUNT_TOKEN,
    SecretNotFound,
    VaultConfig,
    VaultForbidden,
    VaultUnavailable,
)
from pot_worker.config import WorkerSettings
from pot_worker.credentials import CredentialsError, CredentialStore


class FakeVault:
    """VaultKV's read_version_async over a dict (the version counts the reads); an exception as a value
    is raised."""

    def __init__(self, secrets: dict[str, Any], config: VaultConfig | None = None) -> None:
        self.secrets = secrets
        self.config = config or VaultConfig(addr="http://vault.test", token="t", mount="kv")
        self.reads = 0

    async def read_version_async(self, path: str) -> tuple[dict[str, Any], int | None]:
        self.reads += 1
        value = self.secrets[path]
        if isinstance(value, Exception):
            raise value
        return dict(value), self.reads


def store(secrets: dict[str, Any], config: VaultConfig | None = None) -> tuple[CredentialStore, FakeVault]:
    vault = FakeVault(secrets, config)
    return CredentialStore(vault, ttl=300), vault  # type: ignore[arg-type]


async def test_reads_once_and_serves_from_the_cache_until_forgotten() -> None:
    creds, vault = store({"pot/a": {"username": "alice", "password": "s3cret"}})
    first = await creds.get("vault:pot/a")
    assert first is not None and first.username == "alice" and first.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(first) and first.version == 1
    assert await creds.get("vault:pot/a") == first and vault.reads == 1
    creds.forget("vault:pot/a")
    again = await creds.get("vault:pot/a")
    assert vault.reads == 2 and again is not None and again.version == 2  # a new version, read afresh


async def test_no_reference_means_no_auth() -> None:
    creds, _ = store({})
    assert await creds.get(None) is None and await creds.get("") is None


@pytest.mark.parametrize(
    ("ref", "secret", "message"),
    [
        ("secret:ns/name", None, "unsupported credentials reference kind 'secret'"),
        ("vault:pot/x", SecretNotFound("No secret at kv/pot/x in Vault"), "no secret at kv/pot/x"),
        ("vault:pot/x", VaultForbidden("The Vault policy does not allow reading kv/pot/x"), "does not allow"),
        ("vault:pot/x", {"username": "alice"}, "secret kv/pot/x lacks username/password"),
    ],
)
async def test_unusable_references_are_credentials_errors(ref: str, secret: Any, message: str) -> None:
    creds, _ = store({"pot/x": secret})
    with pytest.raises(CredentialsError, match=message):
        await creds.get(ref)


async def test_no_vault_configured_is_a_credentials_error() -> None:
    creds, _ = store({}, VaultConfig())
    with pytest.raises(CredentialsError, match="no Vault address, token or role configured"):
        await creds.get("vault:pot/a")


async def test_a_vault_that_is_away_is_not_a_credentials_error() -> None:
    creds, _ = store({"pot/a": VaultUnavailable("Vault at http://vault.test did not answer")})
    with pytest.raises(VaultUnavailable):
        await creds.get("vault:pot/a")


def test_settings_give_token_auth_on_the_configured_mount() -> None:
    settings = WorkerSettings.model_validate(
        {
            "pool": "acme/outreach",
            "database_url": "postgresql://x",
            "redis_url": "redis://x",
            "vault_addr": "http://vault.test",
            "vault_token": "tok",
            "vault_mount": "kv",
        }
    )
    config = CredentialStore.from_settings(settings)._vault.config
    assert (config.addr, config.token, config.mount, config.configured) == (
        "http://vault.test",
        "tok",
        "kv",
        True,
    )


def test_settings_give_kubernetes_auth_as_the_pods_service_account() -> None:
    base = {"pool": "acme/outreach", "database_url": "postgresql://x", "redis_url": "redis://x"}
    settings = WorkerSettings.model_validate(
        {**base, "vault_addr": "http://vault.test", "vault_role": "pot-worker", "vault_k8s_auth_path": "k8s"}
    )
    config = CredentialStore.from_settings(settings)._vault.config
    assert (config.token, config.role, config.k8s_auth_path, config.configured) == (
        "",
        "pot-worker",
        "k8s",
        True,
    )
    assert config.jwt_path == SERVICE_ACCOUNT_TOKEN  # the pod's projected token
    local = WorkerSettings.model_validate(
        {**base, "vault_addr": "http://vault.test", "vault_role": "r", "vault_jwt_path": "/run/sa.jwt"}
    )
    assert CredentialStore.from_settings(local)._vault.config.jwt_path == Path("/run/sa.jwt")


def test_vault_config_from_env_reads_the_token_file_the_local_runner_writes() -> None:
    env = {"POT_VAULT_ADDR": "http://v", "POT_VAULT_ROLE": "pot-worker", "POT_VAULT_JWT_PATH": "/run/a.jwt"}
    assert VaultConfig.from_env(env).jwt_path == Path("/run/a.jwt")
    assert VaultConfig.from_env({"POT_VAULT_ADDR": "http://v"}).jwt_path == SERVICE_ACCOUNT_TOKEN
