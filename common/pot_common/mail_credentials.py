"""A mailbox's login (password or OAuth2 access token) from Vault; the worker's SMTP and the ingester's IMAP.

`CredentialStore.get` (or `for_row`, with a `mailboxes` row) resolves a mailbox's `credentials_ref`
('vault:<path>', KV v2 through pot_common.vault) into a `Login`. The secret is cached in a
pot_common.cache.TtlCache for `ttl` seconds (POT_CREDENTIALS_TTL_SECONDS in the worker: the longest a
rotated secret waits to be used). A password login carries the password; an OAuth2 login
(`auth_mechanism` 'oauth2') carries an access token that pot_common.oauth refreshed from the secret's
`client_id`, `client_secret` and `refresh_token` at the provider's token endpoint, ahead of expiry, one
refresh per mailbox in flight; the token lives only in memory.

Values are held in pydantic SecretStr and never logged. Errors are typed so callers can tell a verdict
from a passing trouble: `LoginRefused` (the token endpoint refused the refresh token: like a refused
password, the credentials are bad), `CredentialsError` (the reference cannot be resolved: missing or
incomplete secret, no Vault configured), `VaultUnavailable` and `TokenUnavailable` (temporary).
Each login keeps the secret's KV version, so a refusal names the version refused and a rotation is seen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from pot_common.cache import TtlCache
from pot_common.oauth import Grant, TokenClient, TokenRefused, TokenUnavailable, xoauth2_initial_response
from pot_common.providers import SCOPES, token_url
from pot_common.vault import SecretNotFound, VaultError, VaultKV, VaultUnavailable

PASSWORD = "password"  # noqa: S105 (a mechanism name, not a secret)
OAUTH2 = "oauth2"
OAUTH2_KEYS = ("username", "client_id", "client_secret", "refresh_token")

__all__ = [
    "OAUTH2",
    "OAUTH2_KEYS",
    "PASSWORD",
    "AuthRef",
    "CredentialStore",
    "CredentialsError",
    "Login",
    "LoginRefused",
    "TokenUnavailable",
    "VaultUnavailable",
]


class CredentialsError(Exception):
    """The reference cannot be resolved to a login (the message never holds a value)."""


class LoginRefused(Exception):
    """The token endpoint refused the secret's refresh token or client: the credentials are bad (as a
    password the server refused). `version` is the KV version of the refused secret."""

    def __init__(self, message: str, version: int | None) -> None:
        super().__init__(message)
        self.version = version


@dataclasses.dataclass(frozen=True)
class Login:
    """What AUTH needs: the username and either a password or an OAuth2 access token (XOAUTH2)."""

    username: str
    mechanism: str = PASSWORD  # PASSWORD or OAUTH2
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    version: int | None = None  # the KV version read; None when Vault gave none

    @classmethod
    def with_password(cls, username: str, password: SecretStr, version: int | None = None) -> Login:
        return cls(username, PASSWORD, password=password, version=version)

    @property
    def is_oauth2(self) -> bool:
        return self.mechanism == OAUTH2

    def secret(self) -> str:
        """The password, or for OAuth2 the access token: what AUTH sends."""
        value = self.access_token if self.is_oauth2 else self.password
        return value.get_secret_value() if value is not None else ""

    def xoauth2(self) -> str:
        """The XOAUTH2 initial client response (base64) for this login's access token."""
        return xoauth2_initial_response(self.username, self.secret())

    def same_secret(self, other: Login | None) -> bool:
        """Whether `other` signs in with the same secret. A refreshed access token is the same secret:
        a session authenticated with the previous token stays valid, so it need not log in again."""
        if other is None:
            return False
        return (self.username, self.mechanism, self.password, self.version) == (
            other.username,
            other.mechanism,
            other.password,
            other.version,
        )


@dataclasses.dataclass(frozen=True)
class AuthRef:
    """How a mailbox signs in, as its `mailboxes` row says (the operator writes it)."""

    ref: str | None
    mechanism: str = PASSWORD
    provider: str | None = None
    token_url: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuthRef:
        return cls(
            row.get("credentials_ref"),
            row.get("auth_mechanism") or PASSWORD,
            row.get("oauth_provider"),
            row.get("oauth_token_url"),
        )


@dataclasses.dataclass(frozen=True)
class _Secret:
    """The secret as read: every string value as a SecretStr, and its KV version."""

    values: Mapping[str, SecretStr]
    version: int | None

    def text(self, key: str) -> str:
        value = self.values.get(key)
        return value.get_secret_value() if value is not None else ""


def missing_keys(present: Mapping[str, object], mechanism: str) -> list[str]:
    """The keys a secret for `mechanism` lacks, in the documented order (pure)."""
    needed = OAUTH2_KEYS if mechanism == OAUTH2 else ("username", "password")
    return [k for k in needed if not present.get(k)]


class CredentialStore:
    """Resolves mailboxes' `credentials_ref` ('vault:<path>') into logins; secrets live `ttl` seconds."""

    def __init__(self, vault: VaultKV, ttl: float, tokens: TokenClient | None = None) -> None:
        self._vault = vault
        self._cache: TtlCache[str, _Secret] = TtlCache(ttl)
        self._tokens = tokens or TokenClient()
        self._token_keys: dict[str, tuple[str, int | None]] = {}  # ref → its current token key

    @property
    def vault(self) -> VaultKV:
        """The Vault reader (also the worker's transcripts archive's, for the store's keys)."""
        return self._vault

    @property
    def tokens(self) -> TokenClient:
        return self._tokens

    def forget(self, ref: str) -> None:
        """Drop the cached secret and its token (after AUTH refused them, so a fixed secret is read)."""
        self._cache.pop(ref)
        key = self._token_keys.pop(ref, None)
        if key is not None:
            self._tokens.forget(key)

    def forget_token(self, ref: str) -> None:
        """Drop only the access token (a server refused it, perhaps expired): the next get refreshes."""
        key = self._token_keys.get(ref)
        if key is not None:
            self._tokens.invalidate(key)

    async def for_row(self, row: Mapping[str, Any]) -> Login | None:
        """The login of a `mailboxes` row (credentials_ref, auth_mechanism, oauth_provider,
        oauth_token_url); None for a mailbox without AUTH."""
        return await self.login(AuthRef.from_row(row))

    async def login(self, auth: AuthRef) -> Login | None:
        return await self.get(auth.ref, auth.mechanism, auth.provider, auth.token_url)

    async def get(
        self,
        ref: str | None,
        mechanism: str = PASSWORD,
        provider: str | None = None,
        token_endpoint: str | None = None,
    ) -> Login | None:
        """The login for `ref`; None for a mailbox without AUTH."""
        if not ref:
            return None
        secret = await self._secret(ref)
        where = f"{self._vault.config.mount}/{ref.partition(':')[2]}"
        lacking = missing_keys(secret.values, mechanism)
        if mechanism != OAUTH2:
            if lacking:
                raise CredentialsError(f"secret {where} lacks username/password")
            return Login.with_password(secret.text("username"), secret.values["password"], secret.version)
        if lacking:
            raise CredentialsError(f"secret {where} lacks {', '.join(lacking)} (needed for oauth2)")
        try:
            url = token_url(provider or "custom", token_endpoint, secret.text("tenant") or None)
        except ValueError as exc:
            raise CredentialsError(str(exc)) from None
        grant = Grant(
            url,
            secret.text("client_id"),
            secret.values["client_secret"],
            secret.values["refresh_token"],
            SCOPES.get(provider or ""),
        )
        key = (ref, secret.version)
        previous = self._token_keys.get(ref)
        if previous is not None and previous != key:
            self._tokens.forget(previous)  # a rotated secret: the old token and refresh token go
        self._token_keys[ref] = key
        try:
            token = await self._tokens.token(key, grant)
        except TokenRefused as exc:
            raise LoginRefused(str(exc), secret.version) from None
        return Login(secret.text("username"), OAUTH2, access_token=token.value, version=secret.version)

    async def _secret(self, ref: str) -> _Secret:
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        kind, _, path = ref.partition(":")
        if kind != "vault" or not path:
            raise CredentialsError(f"unsupported credentials reference kind {kind!r} (logins read vault:)")
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
        secret = _Secret({k: SecretStr(v) for k, v in data.items() if isinstance(v, str)}, version)
        self._cache.put(ref, secret)
        return secret

    async def aclose(self) -> None:
        await self._tokens.aclose()
