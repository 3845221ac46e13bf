"""The one Vault/OpenBao KV v2 client of every POT process: token or kubernetes auth, typed errors.

Used by the operator (credential checks, alert tokens), the worker (SMTP credentials) and potctl
(which also writes and deletes mailbox secrets: `potctl mailboxes import`, `rotate`, `retire`).
hvac is synchronous, so async callers use `VaultKV.read_async`, which runs the read in a thread.
The errors say what happened and where, never a secret value; `VaultUnavailable` is the temporary
kind (Vault down, sealed, timing out): callers retry it and never treat it as bad credentials.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions

# Answers that say "not now" rather than "no": down, sealed, not initialised, overloaded, a proxy's 502.
_TEMPORARY = (
    OSError,  # requests' exceptions are OSErrors: connection refused, timeouts, TLS failures
    hvac.exceptions.VaultDown,
    hvac.exceptions.VaultNotInitialized,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
)
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class VaultError(Exception):
    """Reading a secret failed; the message names the path, never a value."""


class VaultNotConfigured(VaultError):
    """No address, or neither a token nor a kubernetes auth role."""


class SecretNotFound(VaultError):
    """No secret (or only a deleted version) at the path."""


class VaultForbidden(VaultError):
    """The caller's policy does not allow reading the path."""


class VaultUnavailable(VaultError):
    """Vault did not answer, is sealed or failed internally: temporary, retry later."""


@dataclasses.dataclass(frozen=True)
class VaultConfig:
    """Where Vault is and how to log in; `from_env` reads the POT_VAULT_* variables."""

    addr: str = ""
    token: str = dataclasses.field(default="", repr=False)
    role: str = ""
    mount: str = "secret"
    k8s_auth_path: str = "kubernetes"
    jwt_path: Path = SERVICE_ACCOUNT_TOKEN
    timeout: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VaultConfig:
        e = os.environ if env is None else env
        return cls(
            addr=e.get("POT_VAULT_ADDR", ""),
            token=e.get("POT_VAULT_TOKEN", ""),
            role=e.get("POT_VAULT_ROLE", ""),
            mount=e.get("POT_VAULT_MOUNT", "") or "secret",
            k8s_auth_path=e.get("POT_VAULT_K8S_AUTH_PATH", "") or "kubernetes",
            # Where the ServiceAccount token is: the pod's mount in a cluster; the local runner's file.
            jwt_path=Path(e.get("POT_VAULT_JWT_PATH", "") or SERVICE_ACCOUNT_TOKEN),
        )

    @property
    def configured(self) -> bool:
        return bool(self.addr and (self.token or self.role))


class VaultKV:
    """Reads KV v2 secrets, logging in again (kubernetes auth) at two thirds of the token's lease."""

    def __init__(self, config: VaultConfig) -> None:
        self.config = config
        self._client: hvac.Client | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VaultKV(addr={self.config.addr!r}, mount={self.config.mount!r})"

    def _login(self) -> hvac.Client:
        c = self.config
        client = hvac.Client(url=c.addr, timeout=c.timeout)
        if c.token:
            client.token = c.token
            self._expires_at = float("inf")
        elif c.role:
            jwt = c.jwt_path.read_text().strip()
            auth = client.auth.kubernetes.login(role=c.role, jwt=jwt, mount_point=c.k8s_auth_path)
            ttl = int(auth["auth"].get("lease_duration") or 3600)
            # Renew at two thirds of the lease: a login costs one request, a lapsed token a failed read.
            self._expires_at = time.monotonic() + ttl * 2 / 3
        else:
            raise VaultNotConfigured("neither POT_VAULT_TOKEN nor POT_VAULT_ROLE is set")
        return client

    def client(self) -> hvac.Client:
        """A logged-in hvac client; raises the VaultError kinds above."""
        if not self.config.addr:
            raise VaultNotConfigured("POT_VAULT_ADDR is not set")
        with self._lock:
            if self._client is None or time.monotonic() >= self._expires_at:
                try:
                    self._client = self._login()
                except hvac.exceptions.Forbidden as e:
                    raise VaultForbidden(f"Vault refused the login for role {self.config.role!r}") from e
                except _TEMPORARY as e:
                    raise self._unavailable(e) from None
            return self._client

    def read(self, path: str) -> dict[str, Any]:
        """The latest version's data at `path` under the configured mount."""
        return self.read_version(path)[0]

    def read_version(self, path: str) -> tuple[dict[str, Any], int | None]:
        """The latest version's data at `path` and its KV version number (None if Vault gave none).

        The version tells a rotated secret from the one a mailbox was refused with.
        """
        where = f"{self.config.mount}/{path}"
        try:
            response = self.client().secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.config.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            raise SecretNotFound(f"No secret at {where} in Vault") from None
        except hvac.exceptions.Forbidden:
            with self._lock:
                self._client = None  # maybe an expired token: log in again on the next read
            raise VaultForbidden(f"The Vault policy does not allow reading {where}") from None
        except _TEMPORARY as e:
            raise self._unavailable(e) from None
        except hvac.exceptions.VaultError as e:
            raise VaultError(f"Vault refused reading {where}: {type(e).__name__}") from None
        body = response.get("data") or {}
        version = (body.get("metadata") or {}).get("version")
        return dict(body.get("data") or {}), version if isinstance(version, int) else None

    def write(self, path: str, data: Mapping[str, str]) -> int | None:
        """Write `data` as a new version at `path` (what potctl's import and rotation do); its version.

        Readers of the path (a worker's credential cache) see the new version on their next read.
        """
        where = f"{self.config.mount}/{path}"
        try:
            response = self.client().secrets.kv.v2.create_or_update_secret(
                path=path, secret=dict(data), mount_point=self.config.mount
            )
        except hvac.exceptions.Forbidden:
            raise VaultForbidden(f"The Vault policy does not allow writing {where}") from None
        except _TEMPORARY as e:
            raise self._unavailable(e) from None
        except hvac.exceptions.VaultError as e:
            raise VaultError(f"Vault refused writing {where}: {type(e).__name__}") from None
        version = ((response or {}).get("data") or {}).get("version")
        return version if isinstance(version, int) else None

    def delete(self, path: str) -> None:
        """Remove every version of the secret at `path` and its metadata (a retired mailbox's password).

        Deleting a path that holds nothing is not an error: a second retirement finds nothing to do.
        """
        where = f"{self.config.mount}/{path}"
        try:
            self.client().secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self.config.mount
            )
        except hvac.exceptions.InvalidPath:
            return
        except hvac.exceptions.Forbidden:
            raise VaultForbidden(f"The Vault policy does not allow deleting {where}") from None
        except _TEMPORARY as e:
            raise self._unavailable(e) from None
        except hvac.exceptions.VaultError as e:
            raise VaultError(f"Vault refused deleting {where}: {type(e).__name__}") from None

    def _unavailable(self, error: Exception) -> VaultUnavailable:
        return VaultUnavailable(f"Vault at {self.config.addr} did not answer: {type(error).__name__}")

    async def read_async(self, path: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.read, path)

    async def read_version_async(self, path: str) -> tuple[dict[str, Any], int | None]:
        return await asyncio.to_thread(self.read_version, path)


# Every Vault path a namespaced object names is relative to its tenant's folder: objects in
# namespace `acme` reach `<prefix>/acme/...` and nothing else. The Vault policies bound to each
# namespace's workers grant exactly that folder, so the code and Vault enforce the same boundary.
DEFAULT_TENANT_PREFIX = "pot"
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


class VaultPathOutsideTenant(VaultError):
    """An object named a path that would leave its namespace's folder."""


def tenant_path(namespace: str, relative: str, prefix: str = DEFAULT_TENANT_PREFIX) -> str:
    """`<prefix>/<namespace>/<relative>`, refusing anything that could name another tenant's secret.

    `relative` must be segments of safe characters: no leading slash, no empty, `.` or `..` segment
    (KV paths are not normalised by this code, but a proxy or a future Vault might).
    """
    segments = relative.split("/")
    if not relative or any(not _SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
        raise VaultPathOutsideTenant(
            f"Vault path {relative[:200]!r} must be relative to the namespace's folder "
            f"({prefix}/{namespace}/): segments of letters, digits, '.', '_' and '-', no '..'"
        )
    return f"{prefix.strip('/')}/{namespace}/{relative}"
