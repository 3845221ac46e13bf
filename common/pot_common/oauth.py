"""The OAuth2 token client of POT's mailboxes: access tokens from a refresh token, for XOAUTH2.

Used by pot_common.mail_credentials (the worker's SMTP logins and the ingester's IMAP logins). A token
is fetched with the refresh_token grant (client_secret_post) and kept in memory only, never written
or logged; it is refreshed ahead of its expiry (`refresh_due`) so no login sees an expired one, and
one refresh per key is in flight at a time however many sends ask (single-flight). Errors are typed:
`TokenRefused` (invalid_grant and the like: the credentials are bad, as a refused password is) and
`TokenUnavailable` (5xx, 429, timeouts, network: temporary, retry later). Their messages never hold a
secret: the endpoint's own description is kept only after the grant's values are blanked out of it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

import httpx
from pydantic import SecretStr

log = logging.getLogger("pot_common.oauth")

# RFC 6749 §5.2 errors that mean "these credentials will never work": the refresh token is revoked or
# expired, the client is unknown or its secret wrong, the grant or scope is not allowed.
REFUSING_ERRORS = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_request",
    }
)
EARLY_SECONDS = 60.0  # refresh at least this long before expiry ...
EARLY_FRACTION = 0.8  # ... and at the latest at this share of the lifetime,
MIN_USE_FRACTION = 0.5  # ... yet each token serves at least this share of it
DEFAULT_EXPIRES_IN = 3600  # when the endpoint does not say (both big providers issue one-hour tokens)
STILL_GOOD_SECONDS = 10.0  # a token this far from expiry still serves while its refresh fails
RETRY_SECONDS = 5.0  # while it does, the refresh is tried again at most this often


class TokenError(Exception):
    """The token endpoint did not give an access token; the message never holds a secret."""


class TokenRefused(TokenError):
    """The endpoint refused the grant (invalid_grant, invalid_client, ...): the credentials are bad."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


class TokenUnavailable(TokenError):
    """The endpoint did not answer usefully (5xx, 429, timeout, network): temporary."""


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a refresh needs: where, which client, which refresh token, which scope (None: none sent)."""

    token_url: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    scope: str | None = None


@dataclasses.dataclass(frozen=True)
class AccessToken:
    """A bearer token and, on the client's monotonic clock, when to refresh it and when it expires."""

    value: SecretStr
    refresh_at: float
    expires_at: float


def refresh_due(obtained_at: float, expires_in: float) -> float:
    """When to refresh a token obtained at `obtained_at` that lives `expires_in` seconds (pure): at 80 %
    of its lifetime or 60 s before it expires, whichever is earlier, but not before half its lifetime
    (a token living a few minutes or less would otherwise be refreshed on every use)."""
    lifetime = max(0.0, expires_in)
    early = min(EARLY_FRACTION * lifetime, lifetime - EARLY_SECONDS)
    return obtained_at + max(early, MIN_USE_FRACTION * lifetime)


def xoauth2_initial_response(username: str, token: str) -> str:
    """The XOAUTH2 initial client response (SMTP `AUTH XOAUTH2 <it>`, IMAP `AUTHENTICATE XOAUTH2`)."""
    raw = f"user={username}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode()).decode("ascii")


def _scrub(text: str, grant: Grant) -> str:
    """The endpoint's words with the grant's secrets blanked out and cut short (pure)."""
    for secret in (grant.client_secret.get_secret_value(), grant.refresh_token.get_secret_value()):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:200]


def token_from_reply(
    status: int, body: Any, grant: Grant, now: float
) -> tuple[AccessToken, SecretStr | None]:
    """The token (and a rotated refresh token, if the endpoint issued one) from the endpoint's reply,
    or the typed error it means (pure). `body` is the decoded JSON, or None when it was not JSON."""
    where = grant.token_url
    doc = body if isinstance(body, dict) else {}
    if status >= 500 or status == 429:
        raise TokenUnavailable(f"token endpoint {where} answered {status}")
    if status != 200:
        error = doc.get("error")
        if isinstance(error, str) and error in REFUSING_ERRORS:
            described = doc.get("error_description")
            detail = f": {_scrub(described, grant)}" if isinstance(described, str) and described else ""
            raise TokenRefused(error, f"token endpoint {where} refused the grant ({error}){detail}")
        raise TokenUnavailable(f"token endpoint {where} answered {status}")
    token = doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise TokenUnavailable(f"token endpoint {where} answered without an access_token")
    expires_in = doc.get("expires_in", DEFAULT_EXPIRES_IN)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = float(DEFAULT_EXPIRES_IN)
    rotated = doc.get("refresh_token")
    new_refresh = (
        SecretStr(rotated)
        if isinstance(rotated, str) and rotated and rotated != grant.refresh_token.get_secret_value()
        else None
    )
    return AccessToken(SecretStr(token), refresh_due(now, lifetime), now + lifetime), new_refresh


class TokenClient:
    """Access tokens by key (the caller's: a mailbox's secret and its version), refreshed ahead of
    expiry, one refresh per key in flight. `clock` is monotonic seconds (tests pass their own)."""

    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._own_http = http is None
        self._timeout = timeout
        self._clock = clock
        self._tokens: dict[Hashable, AccessToken] = {}
        # A refresh token the endpoint rotated (Microsoft may): used for this key's next refreshes.
        self._rotated: dict[Hashable, SecretStr] = {}
        self._inflight: dict[Hashable, asyncio.Task[AccessToken]] = {}
        self._quiet_until: dict[Hashable, float] = {}  # after a temporary failure, by key
        self.refreshes = 0  # token requests made (tests and metrics read it)

    async def token(self, key: Hashable, grant: Grant) -> AccessToken:
        """A token that is not due for refresh; refreshes (once for all callers) when it is. While a
        refresh fails for a temporary reason, a token still valid for a while is served."""
        cached = self._tokens.get(key)
        now = self._clock()
        if cached is not None and now < cached.refresh_at:
            return cached
        if cached is not None and now < self._quiet_until.get(key, 0.0) and self._still_good(cached):
            return cached  # a refresh failed moments ago: not one request per send while it is down
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._refresh(key, grant))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settled(key, t))
        try:
            # shield: one caller cancelled (a worker stopping) must not cancel the others' refresh.
            return await asyncio.shield(task)
        except TokenUnavailable:
            self._quiet_until[key] = self._clock() + RETRY_SECONDS
            if cached is not None and self._still_good(cached):
                return cached
            raise

    def _settled(self, key: Hashable, task: asyncio.Task[AccessToken]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here too: every waiter may have been cancelled meanwhile

    def _still_good(self, token: AccessToken) -> bool:
        return self._clock() < token.expires_at - STILL_GOOD_SECONDS

    def invalidate(self, key: Hashable) -> None:
        """Forget the key's token (a server refused it): the next `token` refreshes."""
        self._tokens.pop(key, None)

    def forget(self, key: Hashable) -> None:
        """Forget everything of the key (its secret changed)."""
        self._tokens.pop(key, None)
        self._rotated.pop(key, None)
        self._quiet_until.pop(key, None)

    async def _refresh(self, key: Hashable, grant: Grant) -> AccessToken:
        refresh_token = self._rotated.get(key, grant.refresh_token)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.get_secret_value(),
            "client_id": grant.client_id,
            "client_secret": grant.client_secret.get_secret_value(),
        }
        if grant.scope:
            form["scope"] = grant.scope
        self.refreshes += 1
        try:
            reply = await self._client().post(grant.token_url, data=form, timeout=self._timeout)
        except httpx.HTTPError as exc:  # timeouts, refused connections, TLS failures
            raise TokenUnavailable(
                f"token endpoint {grant.token_url} did not answer: {type(exc).__name__}"
            ) from None
        try:
            body = reply.json()
        except ValueError:
            body = None
        effective = dataclasses.replace(grant, refresh_token=refresh_token)
        token, rotated = token_from_reply(reply.status_code, body, effective, self._clock())
        self._tokens[key] = token
        if rotated is not None:
            self._rotated[key] = rotated
        now = self._clock()
        log.debug(
            "Refreshed OAuth2 access token key=%s refresh_in=%.0f expires_in=%.0f",
            key,
            token.refresh_at - now,
            token.expires_at - now,
        )
        return token

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient()
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
