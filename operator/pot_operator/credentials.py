"""Verifies that a Mailbox's SMTP credentials exist and are complete, without keeping or copying them.

Called by the pool controller. Only a verdict (ok, CamelCase reason, message) leaves this module:
the secret values are read, checked for presence and dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from pathlib import Path

import hvac
import hvac.exceptions
import requests
from pot_common.api.mailbox import MailboxCredentials

from pot_operator.config import Settings
from pot_operator.kube import KubeApi

log = logging.getLogger(__name__)
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclasses.dataclass(frozen=True)
class CredentialCheck:
    ok: bool
    reason: str
    message: str
    # A temporary failure (Vault down): keep the previous verdict's state, retry soon.
    temporary: bool = False


def credentials_ref(creds: MailboxCredentials, namespace: str) -> str | None:
    """The reference the workers resolve (docs/worker.md): never the secret itself."""
    if creds.vault_path:
        return f"vault:{creds.vault_path}"
    if creds.secret_ref is not None:
        return f"secret:{namespace}/{creds.secret_ref.name}"
    return None


class VaultClient:
    """hvac with token auth (local) or kubernetes auth (cluster), logging in again before expiry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: hvac.Client | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def _login(self) -> hvac.Client:
        s = self.settings
        client = hvac.Client(url=s.vault_addr, timeout=5)
        if s.vault_token:
            client.token = s.vault_token
            self._expires_at = float("inf")
        elif s.vault_role:
            jwt = SERVICE_ACCOUNT_TOKEN.read_text().strip()
            auth = client.auth.kubernetes.login(role=s.vault_role, jwt=jwt, mount_point=s.vault_k8s_auth_path)
            ttl = int(auth["auth"].get("lease_duration") or 3600)
            # Renew at two thirds of the lease: a login costs one request, a lapsed token a failed check.
            self._expires_at = time.monotonic() + ttl * 2 / 3
        else:
            raise RuntimeError("neither POT_VAULT_TOKEN nor POT_VAULT_ROLE is set")
        return client

    def client(self) -> hvac.Client:
        with self._lock:
            if self._client is None or time.monotonic() >= self._expires_at:
                self._client = self._login()
            return self._client

    def check(self, path: str) -> CredentialCheck:
        """Read the KV v2 secret at `path` and check it has a username and a password."""
        if not self.settings.vault_addr:
            return CredentialCheck(False, "VaultNotConfigured", "POT_VAULT_ADDR is not set on the operator")
        try:
            response = self.client().secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.settings.vault_mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return CredentialCheck(
                False,
                "SecretMissing",
                f"No secret at {self.settings.vault_mount}/{path} in Vault; "
                "write one with keys username and password",
            )
        except hvac.exceptions.Forbidden:
            return CredentialCheck(
                False, "VaultAccessDenied", f"The operator's Vault policy does not allow reading {path}"
            )
        except (
            requests.RequestException,
            hvac.exceptions.VaultDown,
            hvac.exceptions.InternalServerError,
        ) as e:
            return CredentialCheck(
                False,
                "VaultUnreachable",
                f"Vault at {self.settings.vault_addr} did not answer: {type(e).__name__}",
                temporary=True,
            )
        data = (response.get("data") or {}).get("data") or {}
        return _verdict(
            has_user=bool(data.get("username")),
            has_password=bool(data.get("password")),
            where=f"Vault {path}",
        )


def _verdict(*, has_user: bool, has_password: bool, where: str) -> CredentialCheck:
    missing = [k for k, present in (("username", has_user), ("password", has_password)) if not present]
    if missing:
        return CredentialCheck(False, "SecretIncomplete", f"{where} lacks {' and '.join(missing)}")
    return CredentialCheck(True, "Verified", f"Username and password present in {where}")


async def check_credentials(
    creds: MailboxCredentials, namespace: str, vault: VaultClient, kube: KubeApi
) -> CredentialCheck:
    """The verdict for one mailbox's credentials reference."""
    if creds.vault_path:
        return await asyncio.to_thread(vault.check, creds.vault_path)
    if creds.secret_ref is not None:
        ref = creds.secret_ref
        try:
            data = await kube.read_secret_keys(namespace, ref.name)
        except Exception as e:  # the API server may be briefly unreachable: temporary
            return CredentialCheck(
                False,
                "SecretUnreadable",
                f"Could not read Secret {ref.name}: {type(e).__name__}",
                temporary=True,
            )
        if data is None:
            return CredentialCheck(False, "SecretMissing", f"Secret {namespace}/{ref.name} does not exist")
        return _verdict(
            has_user=bool(data.get(ref.username_key)),
            has_password=bool(data.get(ref.password_key)),
            where=f"Secret {ref.name} (keys {ref.username_key}, {ref.password_key})",
        )
    return CredentialCheck(False, "NoCredentials", "Set credentials.vaultPath or credentials.secretRef")
