"""SMTP credentials from Vault/OpenBao (KV v2), cached briefly; used by pot_worker.smtp when connecting.

hvac is synchronous, so reads run in a thread. The values are held in pydantic SecretStr so a stray
repr or log line shows asterisks; nothing here logs them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import hvac
from pydantic import SecretStr


class CredentialsError(Exception):
    """The reference cannot be resolved to a username and password (the message never holds them)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: SecretStr


class CredentialStore:
    """Resolves a mailbox's `credentials_ref` ('vault:<path>'); entries live `ttl` seconds."""

    def __init__(self, addr: str | None, token: SecretStr | None, mount: str, ttl: float) -> None:
        self._addr = addr
        self._token = token
        self._mount = mount
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Credentials]] = {}
        self._client: Any = None

    def forget(self, ref: str) -> None:
        """Drop a cached entry (after AUTH refused it, so a fixed secret is picked up)."""
        self._cache.pop(ref, None)

    async def get(self, ref: str | None) -> Credentials | None:
        """None for a mailbox without AUTH."""
        if not ref:
            return None
        cached = self._cache.get(ref)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        kind, _, path = ref.partition(":")
        if kind != "vault" or not path:
            raise CredentialsError(
                f"unsupported credentials reference kind {kind!r} (the worker reads vault:)"
            )
        creds = await asyncio.to_thread(self._read_vault, path)
        self._cache[ref] = (time.monotonic() + self._ttl, creds)
        return creds

    def _read_vault(self, path: str) -> Credentials:
        if not self._addr or self._token is None:
            raise CredentialsError("no Vault address or token configured")
        if self._client is None:
            self._client = hvac.Client(url=self._addr, token=self._token.get_secret_value(), timeout=10)
        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self._mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath as exc:
            raise CredentialsError(f"no secret at {self._mount}/{path}") from exc
        except hvac.exceptions.VaultError as exc:
            raise CredentialsError(
                f"Vault refused reading {self._mount}/{path}: {type(exc).__name__}"
            ) from None
        data = response.get("data", {}).get("data", {})
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise CredentialsError(f"secret {self._mount}/{path} lacks username/password")
        return Credentials(username, SecretStr(password))
