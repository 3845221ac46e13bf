"""SMTP credentials from Vault/OpenBao, cached briefly; used by pot_worker.dispatcher to log a mailbox in.

Read through pot_common.vault (KV v2) and cached in a pot_common.cache.TtlCache. In a cluster the
worker logs in to Vault with the kubernetes auth method as its own ServiceAccount (POT_VAULT_ROLE), so
Vault's policy, not this code, decides which namespace's secrets it may read; a token is for tests.

The values are held in pydantic SecretStr so a stray repr or log line shows asterisks; nothing here
logs them. Vault being away (`VaultUnavailable`) propagates: it is temporary, never bad credentials.
Each entry keeps the secret's KV version, so a refusal names the version that was refused and the
operator can tell when a newer one was written, and the dispatcher sees a rotation (another version)
and logs its connection in again. Entries live POT_CREDENTIALS_TTL_SECONDS (30 s by default): the
longest a rotated password waits to be used, for one Vault read per sending mailbox per period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pot_common.cache import TtlCache
from pot_common.vault import (
    SERVICE_ACCOUNT_TOKEN,
    SecretNotFound,
    VaultConfig,
    VaultError,
    VaultKV,
    VaultUnavailable,
)
from pydantic import SecretStr

from pot_worker.config import WorkerSettings


class CredentialsError(Exception):
    """The reference cannot be resolved to a username and password (the message never holds them)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: SecretStr
    version: int | None = None  # the KV version read; None when Vault gave none


def vault_config(settings: WorkerSettings) -> VaultConfig:
    """Token auth when POT_VAULT_TOKEN is set, else kubernetes auth as the pod's ServiceAccount."""
    token = settings.vault_token.get_secret_value() if settings.vault_token is not None else ""
    return VaultConfig(
        addr=settings.vault_addr or "",
        token=token,
        role=settings.vault_role or "",
        mount=settings.vault_mount,
        k8s_auth_path=settings.vault_k8s_auth_path,
        jwt_path=Path(settings.vault_jwt_path) if settings.vault_jwt_path else SERVICE_ACCOUNT_TOKEN,
        timeout=10,
    )


class CredentialStore:
    """Resolves a mailbox's `credentials_ref` ('vault:<path>'); entries live `ttl` seconds."""

    def __init__(self, vault: VaultKV, ttl: float) -> None:
        self._vault = vault
        self._cache: TtlCache[str, Credentials] = TtlCache(ttl)

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> CredentialStore:
        return cls(VaultKV(vault_config(settings)), settings.credentials_ttl_seconds)

    @property
    def vault(self) -> VaultKV:
        """The Vault reader (also the transcripts archive's, for the store's keys)."""
        return self._vault

    def forget(self, ref: str) -> None:
        """Drop a cached entry (after AUTH refused it, so a fixed secret is picked up)."""
        self._cache.pop(ref)

    async def get(self, ref: str | None) -> Credentials | None:
        """None for a mailbox without AUTH."""
        if not ref:
            return None
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        kind, _, path = ref.partition(":")
        if kind != "vault" or not path:
            raise CredentialsError(
                f"unsupported credentials reference kind {kind!r} (the worker reads vault:)"
            )
        creds = await self._read(path)
        self._cache.put(ref, creds)
        return creds

    async def _read(self, path: str) -> Credentials:
        if not self._vault.config.configured:
            raise CredentialsError("no Vault address, token or role configured")
        where = f"{self._vault.config.mount}/{path}"
        try:
            data, version = await self._vault.read_version_async(path)
        except VaultUnavailable:
            raise
        except SecretNotFound as exc:
            raise CredentialsError(f"no secret at {where}") from exc
        except VaultError as exc:
            raise CredentialsError(str(exc)) from None
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise CredentialsError(f"secret {where} lacks username/password")
        return Credentials(username, SecretStr(password), version)
