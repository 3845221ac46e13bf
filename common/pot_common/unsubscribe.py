"""Unsubscribe tokens: made by the worker for each recipient's link, verified by the unsubscribe endpoint.

A token names who unsubscribes (tenant, campaign, address) and proves the link came from us:
`<payload>.<mac>`, both base64url without padding, where the payload is the three fields joined by NUL
and the mac is HMAC-SHA256 of the payload under the tenant's key. Without the key nobody can make a
token for another address, and the endpoint needs no database read to know what it is for.

The key is the `key` field of the Vault secret `<prefix>/<namespace>/unsubscribe` (one per tenant;
at least 32 bytes). In the link, a `{token}` in spec.unsubscribe.url is replaced by the token;
without one, `token=<token>` is added to the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from pot_common.vault import (
    DEFAULT_TENANT_PREFIX,
    SecretNotFound,
    VaultError,
    VaultKV,
    VaultUnavailable,
    tenant_path,
)

VAULT_PATH = "unsubscribe"  # relative to the tenant's folder (pot_common.vault.tenant_path)
VAULT_FIELD = "key"
MIN_KEY_BYTES = 32
PLACEHOLDER = "{token}"


class InvalidToken(ValueError):
    """Not a token made with this key (forged, altered, truncated or for another tenant's key)."""


class WeakKey(ValueError):
    """The configured key is too short to make tokens nobody can guess."""


@dataclass(frozen=True)
class Unsubscriber:
    tenant: str
    campaign: str
    address: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("not base64url") from exc


def key_bytes(value: str) -> bytes:
    """The key as stored in Vault (any text of at least 32 bytes); WeakKey when shorter."""
    raw = value.encode("utf-8")
    if len(raw) < MIN_KEY_BYTES:
        raise WeakKey(f"the unsubscribe key must be at least {MIN_KEY_BYTES} bytes, it has {len(raw)}")
    return raw


@dataclass(frozen=True)
class TenantKey:
    """A tenant's unsubscribe key, or why there is none (the message never holds the key)."""

    key: bytes | None
    problem: str = ""
    temporary: bool = False  # Vault did not answer: the key may well exist


async def read_key(vault: VaultKV, tenant: str, prefix: str = DEFAULT_TENANT_PREFIX) -> TenantKey:
    """The tenant's key from Vault (worker, to make tokens; operator, to say whether they are made)."""
    if not vault.config.configured:
        return TenantKey(None, "Vault is not configured")
    try:
        path = tenant_path(tenant, VAULT_PATH, prefix)
    except VaultError as exc:
        return TenantKey(None, str(exc))
    where = f"{vault.config.mount}/{path}"
    try:
        value = (await vault.read_async(path)).get(VAULT_FIELD)
    except VaultUnavailable as exc:
        return TenantKey(None, f"Vault unavailable reading {where}: {exc}", temporary=True)
    except SecretNotFound:
        return TenantKey(None, f"no secret at {where}")
    except VaultError as exc:
        return TenantKey(None, f"{where}: {exc}")
    if not isinstance(value, str):
        return TenantKey(None, f"secret {where} has no {VAULT_FIELD!r} field")
    try:
        return TenantKey(key_bytes(value))
    except WeakKey as exc:
        return TenantKey(None, f"{where}: {exc}")


def _payload(tenant: str, campaign: str, address: str) -> bytes:
    return "\x00".join((tenant, campaign, address.lower())).encode("utf-8")


def make_token(key: bytes, tenant: str, campaign: str, address: str) -> str:
    """The recipient's token (the address case-insensitively: Bob@x and bob@x get the same one)."""
    payload = _payload(tenant, campaign, address)
    mac = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_token(key: bytes, token: str) -> Unsubscriber:
    """Who the token is for; InvalidToken unless this key made it."""
    head, dot, tail = token.partition(".")
    if not dot or not head or not tail:
        raise InvalidToken("not a token")
    payload, mac = _unb64(head), _unb64(tail)
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), mac):
        raise InvalidToken("signature does not match")
    fields = payload.decode("utf-8", errors="replace").split("\x00")
    if len(fields) != 3:
        raise InvalidToken("malformed payload")
    return Unsubscriber(*fields)


def link_with_token(url: str, token: str) -> str:
    """The unsubscribe link carrying the token: in place of `{token}`, else as a `token` query parameter."""
    if PLACEHOLDER in url:
        return url.replace(PLACEHOLDER, token)
    base, hash_, fragment = url.partition("#")
    separator = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        separator = ""
    return f"{base}{separator}token={token}{hash_}{fragment}"


__all__ = [
    "MIN_KEY_BYTES",
    "PLACEHOLDER",
    "VAULT_FIELD",
    "VAULT_PATH",
    "InvalidToken",
    "TenantKey",
    "Unsubscriber",
    "WeakKey",
    "key_bytes",
    "link_with_token",
    "make_token",
    "read_key",
    "verify_token",
]
