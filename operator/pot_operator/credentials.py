"""Verifies that a Mailbox's SMTP credentials exist and are complete, without keeping or copying them.

Called by the pool controller's observe step. Only a verdict (ok, CamelCase reason, message) leaves
this module: the secret values are read, checked for presence and dropped.
"""

from __future__ import annotations

import dataclasses

from pot_common.api.mailbox import MailboxCredentials
from pot_common.vault import SecretNotFound, VaultForbidden, VaultKV, VaultNotConfigured, VaultUnavailable

from pot_operator.kube import KubeApi


@dataclasses.dataclass(frozen=True)
class CredentialCheck:
    ok: bool
    reason: str
    message: str
    # A temporary failure (Vault down): keep the previous verdict's state, retry soon.
    temporary: bool = False


@dataclasses.dataclass(frozen=True)
class CachedCheck:
    """A verdict and the credentials reference (its fingerprint) it was made for."""

    fingerprint: str
    check: CredentialCheck


def credentials_ref(creds: MailboxCredentials, namespace: str) -> str | None:
    """The reference the workers resolve (docs/worker.md): never the secret itself."""
    if creds.vault_path:
        return f"vault:{creds.vault_path}"
    if creds.secret_ref is not None:
        return f"secret:{namespace}/{creds.secret_ref.name}"
    return None


async def check_vault(vault: VaultKV, path: str) -> CredentialCheck:
    """Read the KV v2 secret at `path` and check it has a username and a password.

    Other VaultError kinds (Vault refusing the request for another reason) propagate: the scan
    fails, is counted and retried, as for any unexpected error.
    """
    config = vault.config
    try:
        data = await vault.read_async(path)
    except VaultNotConfigured as e:
        message = "POT_VAULT_ADDR is not set on the operator" if not config.addr else f"{e} on the operator"
        return CredentialCheck(False, "VaultNotConfigured", message)
    except SecretNotFound:
        return CredentialCheck(
            False,
            "SecretMissing",
            f"No secret at {config.mount}/{path} in Vault; write one with keys username and password",
        )
    except VaultForbidden:
        return CredentialCheck(
            False, "VaultAccessDenied", f"The operator's Vault policy does not allow reading {path}"
        )
    except VaultUnavailable as e:
        # Its message is "Vault at <addr> did not answer: <error type>", never a value.
        return CredentialCheck(False, "VaultUnreachable", str(e), temporary=True)
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
    creds: MailboxCredentials, namespace: str, vault: VaultKV, kube: KubeApi
) -> CredentialCheck:
    """The verdict for one mailbox's credentials reference."""
    if creds.vault_path:
        return await check_vault(vault, creds.vault_path)
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
