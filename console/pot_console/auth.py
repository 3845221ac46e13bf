"""Who is asking and may they: the console's authentication middleware and per-action authorization.

local (`potctl console`): the console prints a URL with a random token; the first visit trades it for
an HttpOnly cookie. Every action then runs with the caller's kubeconfig, so the apiserver itself
enforces the caller's RBAC. kubernetes (the chart): a person's bearer token (Authorization header from
an auth proxy, or pasted once on /login) is checked with a TokenReview, and each page and action with
a SubjectAccessReview for that user before the console does it with its own ServiceAccount. Tools and
diagnostics are checked as verbs on the virtual resources `tools` and `diagnostics` of the API group
console.pot.dev, which RBAC can grant like any other (see docs/console.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

from pot_common.api.base import GROUP
from pot_common.cache import TtlCache
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")
COOKIE = "pot_console"
CONSOLE_GROUP = "console.pot.dev"
OPEN_PATHS = ("/static/", "/login", "/healthz")
TOKEN_REVIEW_SECONDS = 30.0
ACCESS_REVIEW_SECONDS = 10.0
COOKIE_SECONDS = 8 * 3600


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Access:
    """One thing a person asks to do, as Kubernetes authorization attributes."""

    verb: str
    resource: str
    namespace: str = ""
    name: str = ""
    group: str = GROUP

    def refused(self, user: User) -> str:
        """The apiserver's own wording for a refusal, so a console refusal reads like a kubectl one."""
        what = f'{self.resource} "{self.name}"' if self.name else self.resource
        scope = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
        return (
            f'{what} is forbidden: User "{user.name}" cannot {self.verb} resource "{self.resource}" '
            f'in API group "{self.group}" {scope}'
        )


def tool_access(tool: str) -> Access:
    return Access("create", "tools", name=tool, group=CONSOLE_GROUP)


DIAGNOSTICS = Access("get", "diagnostics", group=CONSOLE_GROUP)


class Auth(Protocol):
    mode: str

    async def authenticate(self, token: str) -> User | None: ...

    async def allowed(self, user: User, access: Access) -> tuple[bool, str]: ...


class LocalAuth:
    """One token for the one person who started `potctl console`; the apiserver judges each action."""

    mode = "local"

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(24)

    async def authenticate(self, token: str) -> User | None:
        return User("you (kubeconfig)") if hmac.compare_digest(token.encode(), self.token.encode()) else None

    async def allowed(self, user: User, access: Access) -> tuple[bool, str]:
        return True, ""


async def _threaded(call: Callable[[], T]) -> T:
    """The kubernetes client blocks: its reviews run off the event loop."""
    return await run_in_threadpool(call)


class KubernetesAuth:
    """TokenReview for who, SubjectAccessReview for what; both asked of the apiserver and cached briefly."""

    mode = "kubernetes"

    def __init__(self, api_client: Any, audiences: tuple[str, ...] = ()) -> None:
        self.api_client = api_client
        self.audiences = list(audiences)
        self._users: TtlCache[str, tuple[User | None]] = TtlCache(TOKEN_REVIEW_SECONDS)
        self._decisions: TtlCache[tuple[User, Access], tuple[bool, str]] = TtlCache(ACCESS_REVIEW_SECONDS)

    async def authenticate(self, token: str) -> User | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._users.get(key)
        if cached is not None:
            return cached[0]
        user = await _threaded(lambda: self._review_token(token))
        self._users.put(key, (user,))  # a refusal is remembered too, as briefly
        return user

    def _review_token(self, token: str) -> User | None:
        from kubernetes import client

        spec = client.V1TokenReviewSpec(token=token, audiences=self.audiences or None)
        review = client.AuthenticationV1Api(self.api_client).create_token_review(
            client.V1TokenReview(spec=spec)
        )
        status = review.status
        if not status or not status.authenticated or not status.user:
            return None
        found = status.user
        extra = tuple(sorted((k, tuple(v)) for k, v in (found.extra or {}).items()))
        return User(found.username or "", found.uid or "", tuple(found.groups or ()), extra)

    async def allowed(self, user: User, access: Access) -> tuple[bool, str]:
        cached = self._decisions.get((user, access))
        if cached is not None:
            return cached
        decision = await _threaded(lambda: self._review_access(user, access))
        self._decisions.put((user, access), decision)
        return decision

    def _review_access(self, user: User, access: Access) -> tuple[bool, str]:
        from kubernetes import client

        attributes = client.V1ResourceAttributes(
            verb=access.verb,
            group=access.group,
            resource=access.resource,
            namespace=access.namespace or None,
            name=access.name or None,
        )
        spec = client.V1SubjectAccessReviewSpec(
            user=user.name,
            uid=user.uid or None,
            groups=list(user.groups) or None,
            extra={k: list(v) for k, v in user.extra} or None,
            resource_attributes=attributes,
        )
        review = client.AuthorizationV1Api(self.api_client).create_subject_access_review(
            client.V1SubjectAccessReview(spec=spec)
        )
        allowed = bool(review.status and review.status.allowed)
        return allowed, "" if allowed else access.refused(user)


def bearer_token(headers: Headers, cookies: dict[str, str]) -> str:
    value = headers.get("authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip()
    return cookies.get(COOKIE, "")


def cross_site(scope: Scope) -> bool:
    """A state-changing request another site's page made: refused (the cookie alone must not suffice)."""
    headers = Headers(scope=scope)
    if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return True
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    host = headers.get("host", "")
    return origin.split("://", 1)[-1] != host


def set_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, max_age=COOKIE_SECONDS, httponly=True, samesite="strict", secure=secure, path="/"
    )


class AuthMiddleware:
    """Every request but the login page and static files carries a user, or gets no further."""

    def __init__(self, app: ASGIApp, auth: Auth, secure_cookies: bool = False) -> None:
        self.app = app
        self.auth = auth
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and cross_site(scope):
            await PlainTextResponse("cross-site request refused", 403)(scope, receive, send)
            return
        if path.startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self.auth.mode == "local" and "token" in query:
            # The URL potctl console printed: trade the token for a cookie and drop it from the address bar.
            user = await self.auth.authenticate(query.pop("token"))
            if user is None:
                await _unauthorized(self.auth.mode)(scope, receive, send)
                return
            target = path + ("?" + urlencode(query) if query else "")
            response = RedirectResponse(target, 303)
            set_cookie(response, self.auth.token, self.secure)  # type: ignore[attr-defined]
            await response(scope, receive, send)
            return
        token = bearer_token(request.headers, request.cookies)
        user = await self.auth.authenticate(token) if token else None
        if user is None:
            await _unauthorized(self.auth.mode, scope)(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def _unauthorized(mode: str, scope: Scope | None = None) -> Response:
    if mode == "kubernetes" and scope is not None and scope["method"] == "GET":
        return RedirectResponse("/login", 303)
    text = (
        "<!doctype html><title>POT console: sign in</title><p>Open the URL <code>potctl console</code> "
        "printed (it carries this session's token).</p>"
    )
    return HTMLResponse(text, 401)


# Only the console's own script and stylesheet run; no page may be framed (clickjacking); no URL leaks
# to another site in a Referer header. (Not no-referrer: then a browser sends `Origin: null` with the
# console's own form posts, which cross_site must refuse.)
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
