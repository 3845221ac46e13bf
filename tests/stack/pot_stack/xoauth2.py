"""SASL XOAUTH2 as Gmail and Office 365 speak it, server side: parsing the client's response and checking
its access token; for pot_stack.smtp_sink (the IMAP server checks tokens itself, via introspection)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# An XOAUTH2 access token -> the user it belongs to, or None when it is not (or no longer) valid.
OAuthCheck = Callable[[str], Awaitable[str | None]]


def user_for_check(user_for: Callable[[str], str | None]) -> OAuthCheck:
    """An OAuthCheck from an in-process lookup (pot_stack.oauth_server.OAuthServer.user_for)."""

    async def check(token: str) -> str | None:
        return user_for(token)

    return check


def introspection_check(url: str) -> OAuthCheck:
    """An OAuthCheck asking an RFC 7662 introspection endpoint (the token endpoint in its own process)."""

    async def check(token: str) -> str | None:
        import aiohttp

        async with aiohttp.ClientSession() as http, http.post(url, data={"token": token}) as answer:
            info = await answer.json(content_type=None)
        if answer.status != 200 or not isinstance(info, dict) or info.get("active") is not True:
            return None
        user = info.get("username") or info.get("email")
        return str(user) if user else None

    return check


def parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """(user, token) from the decoded response `user=U^Aauth=Bearer T^A^A`; None when malformed."""
    fields = dict(part.partition("=")[::2] for part in blob.decode("utf-8", "replace").split("\x01") if part)
    user, auth = fields.get("user", ""), fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if not user or scheme.lower() != "bearer" or not token.strip():
        return None
    return user, token.strip()


# What Gmail sends (base64) before its 535 when a token is refused.
XOAUTH2_ERROR = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}


def client_response(user: str, token: str) -> str:
    """The base64 XOAUTH2 initial response a client sends (for tests and tools)."""
    import base64

    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()
