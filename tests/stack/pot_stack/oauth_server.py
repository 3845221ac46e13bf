"""A local OAuth2 token endpoint speaking as Google's and Microsoft's do; for the fixtures, `make up`, the
SMTP sink and the IMAP server (which check XOAUTH2 access tokens against it).

Endpoints (all form-encoded, as the providers take them):

| path                                  | what                                                           |
|---------------------------------------|----------------------------------------------------------------|
| `POST /token`                         | Google's form: grant_type=refresh_token, refresh_token,        |
| `POST /{tenant}/oauth2/v2.0/token`    | client_id, client_secret (or HTTP Basic), optional scope →     |
|                                       | `{"access_token", "token_type": "Bearer", "expires_in"}`;      |
|                                       | the tenant form is Microsoft's (a grant registered with a      |
|                                       | tenant is refused under another one, `common` and              |
|                                       | `organizations` excepted)                                      |
| `POST /introspect`                    | RFC 7662: form `token` → `{"active": true, "username",         |
|                                       | "email", "exp", ...}` or `{"active": false}` (Dovecot's        |
|                                       | passdb oauth2 and the sink call it)                            |
| `POST /revoke`                        | Google's revoke: form `token` (a refresh token): the grant and |
|                                       | every access token it issued stop working                      |
| `POST /_pot/register`, `/_pot/revoke` | the test API over HTTP (JSON), for a server in another process |
| `GET /_pot/requests?refresh_token=`   | `{"count": N}` token requests for that refresh token           |

Errors: unknown refresh token or wrong client → 400 `{"error": "invalid_grant"}`; another grant_type
→ 400 `unsupported_grant_type`; a missing field → 400 `invalid_request`. Tokens never reach the log.

In-process (threaded aiohttp, like pot_stack.fake_chat): `OAuthServer(expires_in=...).start()`, then
`register(username, client_id, client_secret, refresh_token)`, `token_requests(refresh_token)`,
`revoke(refresh_token)`, `user_for(access_token)`. As a process (`make up`):
`python -m pot_stack.oauth_server --port P [--expires-in S]`, driven by `OAuthService`, whose methods
are the same and go over the `/_pot/` API.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import logging
import secrets
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from pot_stack.service import Service, free_port, wait_until

log = logging.getLogger("pot_stack.oauth_server")

DEFAULT_EXPIRES_IN = 3600  # what Google and Microsoft give; tests pass a few seconds
ANY_TENANT = frozenset({"common", "organizations", "consumers"})


@dataclass
class Grant:
    """One registered refresh token: whose it is and which client may redeem it."""

    username: str
    client_id: str
    client_secret: str
    tenant: str | None = None
    requests: int = 0
    access_tokens: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AccessToken:
    username: str
    client_id: str
    scope: str
    expires_at: float


class TokenStore:
    """The endpoint's state and decisions, free of HTTP (so the in-process API and the handlers share it)."""

    def __init__(self, expires_in: int = DEFAULT_EXPIRES_IN) -> None:
        self.expires_in = expires_in
        self._grants: dict[str, Grant] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def register(
        self, username: str, client_id: str, client_secret: str, refresh_token: str, tenant: str | None = None
    ) -> None:
        with self._lock:
            self._grants[refresh_token] = Grant(username, client_id, client_secret, tenant)
        log.info("Registered grant username=%s client_id=%s tenant=%s", username, client_id, tenant)

    def revoke(self, refresh_token: str) -> bool:
        with self._lock:
            grant = self._grants.pop(refresh_token, None)
            if grant is None:
                return False
            for token in grant.access_tokens:
                self._tokens.pop(token, None)
        log.info("Revoked grant username=%s", grant.username)
        return True

    def token_requests(self, refresh_token: str) -> int:
        with self._lock:
            grant = self._grants.get(refresh_token)
            return grant.requests if grant else 0

    def redeem(self, form: dict[str, str], tenant: str | None) -> tuple[int, dict[str, Any]]:
        """A token request → (HTTP status, JSON body)."""
        if form.get("grant_type") != "refresh_token":
            return 400, _error("unsupported_grant_type", "only grant_type=refresh_token is supported")
        missing = [k for k in ("refresh_token", "client_id", "client_secret") if not form.get(k)]
        if missing:
            return 400, _error("invalid_request", f"missing {', '.join(missing)}")
        with self._lock:
            grant = self._grants.get(form["refresh_token"])
            if grant is not None:
                grant.requests += 1
            if grant is None or not _grant_fits(grant, form, tenant):
                log.info("Refused token request tenant=%s client_id=%s", tenant, form["client_id"])
                return 400, _error("invalid_grant", "Token has been expired or revoked.")
            access = f"pot-at-{secrets.token_urlsafe(24)}"
            scope = form.get("scope", "")
            self._tokens[access] = AccessToken(
                grant.username, grant.client_id, scope, time.time() + self.expires_in
            )
            grant.access_tokens.add(access)
            username, count = grant.username, grant.requests
        log.info("Issued access token username=%s tenant=%s requests=%d", username, tenant, count)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in}
        if scope:
            body["scope"] = scope
        return 200, body

    def user_for(self, access_token: str) -> str | None:
        """The user an unexpired, unrevoked access token belongs to; None otherwise."""
        with self._lock:
            token = self._tokens.get(access_token)
        if token is None or token.expires_at <= time.time():
            return None
        return token.username

    def introspect(self, access_token: str) -> dict[str, Any]:
        with self._lock:
            token = self._tokens.get(access_token)
        if token is None or token.expires_at <= time.time():
            return {"active": False}
        return {
            "active": True,
            "username": token.username,
            "email": token.username,  # Dovecot's default username_attribute
            "client_id": token.client_id,
            "scope": token.scope,
            "token_type": "Bearer",
            "exp": int(token.expires_at),
        }


def _grant_fits(grant: Grant, form: dict[str, str], tenant: str | None) -> bool:
    """The client is the grant's and the tenant path (if any) is the grant's or a multi-tenant one."""
    client_ok = secrets.compare_digest(grant.client_id.encode(), form["client_id"].encode())
    secret_ok = secrets.compare_digest(grant.client_secret.encode(), form["client_secret"].encode())
    tenant_ok = tenant is None or tenant in ANY_TENANT or grant.tenant in (None, tenant)
    return client_ok and secret_ok and tenant_ok


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}


def _basic_client(header: str | None) -> dict[str, str]:
    """client_id/client_secret from `Authorization: Basic` (RFC 6749 2.3.1), which both providers take."""
    if not header or not header.lower().startswith("basic "):
        return {}
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return {}
    client_id, sep, client_secret = raw.partition(":")
    if not sep:
        return {}
    return {
        "client_id": urllib.parse.unquote(client_id),
        "client_secret": urllib.parse.unquote(client_secret),
    }


def build_app(store: TokenStore) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        for key, value in _basic_client(request.headers.get("Authorization")).items():
            form.setdefault(key, value)
        status, body = store.redeem(form, request.match_info.get("tenant"))
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def introspect(request: web.Request) -> web.Response:
        form = await request.post()
        return web.json_response(store.introspect(str(form.get("token", ""))))

    async def revoke(request: web.Request) -> web.Response:
        form = await request.post()
        if not store.revoke(str(form.get("token", ""))):
            return web.json_response(_error("invalid_token", "Token expired or revoked"), status=400)
        return web.json_response({})

    async def admin_register(request: web.Request) -> web.Response:
        body = await request.json()
        store.register(
            body["username"],
            body["client_id"],
            body["client_secret"],
            body["refresh_token"],
            body.get("tenant"),
        )
        return web.json_response({"ok": True})

    async def admin_revoke(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"ok": store.revoke(body["refresh_token"])})

    async def admin_requests(request: web.Request) -> web.Response:
        return web.json_response({"count": store.token_requests(request.query.get("refresh_token", ""))})

    async def admin_user(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"username": store.user_for(body["access_token"])})

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_post("/introspect", introspect)
    app.router.add_post("/revoke", revoke)
    app.router.add_post("/_pot/register", admin_register)
    app.router.add_post("/_pot/revoke", admin_revoke)
    app.router.add_get("/_pot/requests", admin_requests)
    app.router.add_post("/_pot/user", admin_user)
    return app


class Endpoints:
    """Where the endpoint answers, for both the in-process server and the process."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def introspect_url(self) -> str:
        return f"{self.url}/introspect"

    def tenant_token_url(self, tenant: str) -> str:
        return f"{self.url}/{tenant}/oauth2/v2.0/token"

    def env(self) -> dict[str, str]:
        return oauth_env(self.url)


class OAuthServer(Endpoints):
    """The token endpoint in a background thread of this process: `.url`, `.token_url`, `.introspect_url`,
    `.tenant_token_url(tenant)`, `.register()`, `.revoke()`, `.token_requests()`, `.user_for()`."""

    host = "127.0.0.1"

    def __init__(self, *, expires_in: int = DEFAULT_EXPIRES_IN, port: int = 0) -> None:
        self.store = TokenStore(expires_in)
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def expires_in(self) -> int:
        return self.store.expires_in

    @expires_in.setter
    def expires_in(self, seconds: int) -> None:
        self.store.expires_in = seconds

    def register(
        self, username: str, client_id: str, client_secret: str, refresh_token: str, tenant: str | None = None
    ) -> None:
        self.store.register(username, client_id, client_secret, refresh_token, tenant)

    def revoke(self, refresh_token: str) -> bool:
        return self.store.revoke(refresh_token)

    def token_requests(self, refresh_token: str) -> int:
        return self.store.token_requests(refresh_token)

    def user_for(self, access_token: str) -> str | None:
        return self.store.user_for(access_token)

    def start(self) -> OAuthServer:
        self._thread.start()

        async def up() -> None:
            self._runner = web.AppRunner(build_app(self.store), access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()

        asyncio.run_coroutine_threadsafe(up(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def oauth_env(url: str) -> dict[str, str]:
    return {
        "POT_STACK_OAUTH_URL": url,
        "POT_STACK_OAUTH_TOKEN_URL": f"{url}/token",
        "POT_STACK_OAUTH_INTROSPECT_URL": f"{url}/introspect",
    }


class OAuthService(Endpoints, Service):
    """The token endpoint as a detached process (`make up`); the test API goes over HTTP."""

    name = "oauth"
    host = "127.0.0.1"

    def __init__(self, root: Path, *, port: int | None = None, expires_in: int = DEFAULT_EXPIRES_IN) -> None:
        super().__init__(root)
        self.port = port or 0
        self.expires_in = expires_in

    @classmethod
    def attach(cls, root: Path, env: Mapping[str, str]) -> OAuthService:
        """The endpoint `make up` started (its URL from `.pot/env`), to register grants and count requests."""
        url = urllib.parse.urlsplit(env["POT_STACK_OAUTH_URL"])
        service = cls(root, port=url.port)
        service.host = url.hostname or service.host
        return service

    def start(self) -> None:
        self.port = self.port or free_port()
        argv = [sys.executable, "-m", "pot_stack.oauth_server", "--host", self.host, "--port", str(self.port)]
        proc = self.spawn([*argv, "--expires-in", str(self.expires_in)])
        wait_until(
            lambda: proc.poll() is None and _connects(self.host, self.port),
            timeout=30,
            what=f"oauth token endpoint on port {self.port}",
            log=self.log_path,
        )

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own loopback http URL
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def register(
        self, username: str, client_id: str, client_secret: str, refresh_token: str, tenant: str | None = None
    ) -> None:
        grant = {"username": username, "client_id": client_id, "client_secret": client_secret}
        self._call("/_pot/register", {**grant, "refresh_token": refresh_token, "tenant": tenant})

    def revoke(self, refresh_token: str) -> bool:
        return bool(self._call("/_pot/revoke", {"refresh_token": refresh_token})["ok"])

    def token_requests(self, refresh_token: str) -> int:
        query = urllib.parse.urlencode({"refresh_token": refresh_token})
        return int(self._call(f"/_pot/requests?{query}")["count"])

    def user_for(self, access_token: str) -> str | None:
        user = self._call("/_pot/user", {"access_token": access_token})["username"]
        return str(user) if user is not None else None


def _connects(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2):
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pot_stack.oauth_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--expires-in", type=int, default=DEFAULT_EXPIRES_IN, help="access token lifetime, s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.info(
        "Serving OAuth2 token endpoint url=http://%s:%d expires_in=%d", args.host, args.port, args.expires_in
    )
    # No access log: a revoke or introspect request is a form post, but a path could still carry a tenant.
    web.run_app(
        build_app(TokenStore(args.expires_in)), host=args.host, port=args.port, print=None, access_log=None
    )


if __name__ == "__main__":
    main()
