"""The endpoint's ASGI application: RFC 8058 one-click POSTs and the confirmation page; built by
pot_unsubscribe.cli (served by uvicorn) and by the tests.

`POST /u/<token>` (or any path with `?token=<token>`, the two shapes the worker makes) with the body
`List-Unsubscribe=One-Click` suppresses the token's address for its tenant at once; GET only shows a
page whose button sends that POST, because mail scanners fetch links. A token we did not make is one
404 page whatever was wrong with it. Vault or Postgres away: 503 with Retry-After, nothing written.
No cookies, no redirects; the token and the address never reach a log line (the domain and a hash do).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources

from pot_common.cache import TtlCache
from pot_common.unsubscribe import InvalidToken, Unsubscriber, verify_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pot_unsubscribe.config import UnsubscribeSettings
from pot_unsubscribe.keys import KeyStore, KeysUnavailable
from pot_unsubscribe.metrics import REQUESTS
from pot_unsubscribe.parsing import BadRequest, claimed_tenant, client_address, one_click
from pot_unsubscribe.ratelimit import RateLimiter
from pot_unsubscribe.store import DatabaseUnavailable, Store

log = logging.getLogger("pot_unsubscribe")
VAULT_RETRY_SECONDS = 30
DB_RETRY_SECONDS = 10
HEADERS = {
    # The URL holds the token: no cache, no referrer to wherever the page links, no search index.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


class TooLarge(Exception):
    pass


@dataclass
class Endpoint:
    """What every request shares: settings, the key cache, the database and the rate limiter."""

    settings: UnsubscribeSettings
    keys: KeyStore
    store: Store
    limiter: RateLimiter
    templates: Jinja2Templates
    clock: Callable[[], float]
    limited_logged: TtlCache[str, bool]


def masked(address: str) -> str:
    """`b***@example.com`: enough for the person to recognise, little for someone shown the page."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def address_hash(address: str) -> str:
    return hashlib.sha256(address.lower().encode("utf-8")).hexdigest()[:12]


def create_app(
    settings: UnsubscribeSettings,
    keys: KeyStore,
    store: Store,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    folder = resources.files("pot_unsubscribe").joinpath("templates")
    endpoint = Endpoint(
        settings,
        keys,
        store,
        RateLimiter(
            settings.ip_rate_per_minute / 60,
            settings.ip_burst,
            settings.global_rate_per_second,
            settings.global_burst,
        ),
        Jinja2Templates(directory=str(folder)),
        clock,
        TtlCache(60.0, clock),
    )

    async def handle(request: Request) -> Response:
        try:
            return await unsubscribe(endpoint, request)
        except Exception as exc:  # never a traceback to the client, nor the token into the log
            log.error("Failed a request error=%s", type(exc).__name__)
            return page(endpoint, request, 500, "Something went wrong", "Please try again later.")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        if await store.ping():
            return PlainTextResponse("ready\n")
        return PlainTextResponse("the database does not answer\n", status_code=503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/u/{token}", handle, methods=["GET", "POST"]),
            Route("/{path:path}", handle, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )


def page(
    endpoint: Endpoint,
    request: Request,
    status: int,
    title: str,
    message: str,
    template: str = "page.html",
    headers: dict[str, str] | None = None,
    **context: str,
) -> Response:
    return endpoint.templates.TemplateResponse(
        request,
        template,
        {"title": title, "message": message, **context},
        status_code=status,
        headers={**HEADERS, **(headers or {})},
    )


def not_ours(endpoint: Endpoint, request: Request) -> Response:
    REQUESTS.labels(result="invalid").inc()
    return page(
        endpoint,
        request,
        404,
        "This link is not valid",
        "This unsubscribe link is incomplete or was not made by us. Please use the link from the email.",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (TooLarge) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("bad Content-Length")
        if int(declared) > limit:
            raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


async def unsubscribe(endpoint: Endpoint, request: Request) -> Response:
    settings = endpoint.settings
    peer = request.client.host if request.client else None
    client = client_address(peer, request.headers.get("x-forwarded-for"), settings.proxies)
    wait = endpoint.limiter.check(client, endpoint.clock())
    if wait:
        REQUESTS.labels(result="rate_limited").inc()
        if endpoint.limited_logged.get(client) is None:
            if len(endpoint.limited_logged) > 10_000:
                endpoint.limited_logged.clear()  # many clients at once: log lines matter less than memory
            endpoint.limited_logged.put(client, True)
            log.warning("Refused requests over the rate limit client=%s", client)
        return page(
            endpoint,
            request,
            429,
            "Too many requests",
            "Please wait a moment and try again.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    token = request.path_params.get("token") or request.query_params.get("token") or ""
    if request.method == "POST":
        try:
            body = await read_body(request, settings.max_body_bytes)
            wanted = one_click(request.headers.get("content-type", ""), body)
        except TooLarge:
            REQUESTS.labels(result="too_large").inc()
            return page(endpoint, request, 413, "Request too large", "This request is too large.")
        except BadRequest as exc:
            REQUESTS.labels(result="bad_request").inc()
            return page(endpoint, request, 400, "Bad request", f"This request was not understood: {exc}.")
        if not wanted:
            REQUESTS.labels(result="bad_request").inc()
            return page(
                endpoint,
                request,
                400,
                "Bad request",
                "An unsubscribe request carries List-Unsubscribe=One-Click (RFC 8058).",
            )

    tenant = claimed_tenant(token)
    if tenant is None:
        return not_ours(endpoint, request)
    try:
        key = await endpoint.keys.key(tenant)
    except KeysUnavailable:
        REQUESTS.labels(result="vault_unavailable").inc()
        return unavailable(endpoint, request, VAULT_RETRY_SECONDS)
    if key is None:
        return not_ours(endpoint, request)
    try:
        who = verify_token(key, token)
    except InvalidToken:
        return not_ours(endpoint, request)
    if who.tenant != tenant or "@" not in who.address:
        return not_ours(endpoint, request)

    if request.method != "POST":
        REQUESTS.labels(result="confirm").inc()
        return page(
            endpoint, request, 200, "Unsubscribe", "", template="confirm.html", masked=masked(who.address)
        )
    return await suppress(endpoint, request, who)


async def suppress(endpoint: Endpoint, request: Request, who: Unsubscriber) -> Response:
    try:
        added = await endpoint.store.suppress(who.tenant, who.address, who.campaign)
    except DatabaseUnavailable:
        REQUESTS.labels(result="db_unavailable").inc()
        return unavailable(endpoint, request, DB_RETRY_SECONDS)
    REQUESTS.labels(result="unsubscribed" if added else "already").inc()
    log.info(
        "Unsubscribed tenant=%s campaign=%s domain=%s address_hash=%s new=%s",
        who.tenant,
        who.campaign,
        who.address.rpartition("@")[2],
        address_hash(who.address),
        str(added).lower(),
    )
    return page(endpoint, request, 200, "Unsubscribed", "", template="done.html", masked=masked(who.address))


def unavailable(endpoint: Endpoint, request: Request, retry: int) -> Response:
    return page(
        endpoint,
        request,
        503,
        "Please try again in a minute",
        "We could not record your request just now. Nothing was changed; please try again shortly.",
        headers={"Retry-After": str(retry)},
    )
