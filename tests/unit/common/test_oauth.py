"""pot_common.oauth: when a token is refreshed, one refresh in flight, typed errors without secrets,
the XOAUTH2 initial response (the token endpoint answered in memory by httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pot_common.oauth import (
    AccessToken,
    Grant,
    TokenClient,
    TokenRefused,
    TokenUnavailable,
    refresh_due,
    token_from_reply,
    xoauth2_initial_response,
)
from pydantic import SecretStr

CLIENT_SECRET = "cs-CANARY-5e1f"
REFRESH = "rt-CANARY-77aa"
URL = "https://login.test/token"
GRANT = Grant(URL, "client-1", SecretStr(CLIENT_SECRET), SecretStr(REFRESH), "https://mail.google.com/")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _issue(_form: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})


class Endpoint:
    """A token endpoint in memory: answers with `reply(form)`, counts requests, can hold them."""

    def __init__(self, reply: Callable[[dict[str, str]], httpx.Response] | None = None) -> None:
        self.forms: list[dict[str, str]] = []
        self.reply = reply or (
            lambda _f: httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})
        )
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        self.forms.append(form)
        if self.gate is not None:
            await self.gate.wait()
        return self.reply(form)

    def client(self, clock: Clock) -> TokenClient:
        return TokenClient(httpx.AsyncClient(transport=httpx.MockTransport(self)), clock=clock)


def test_refresh_is_due_at_80_percent_or_60_seconds_before_expiry_whichever_is_earlier() -> None:
    assert refresh_due(0, 3600) == 2880  # 80 % (2880) is earlier than 3540
    assert refresh_due(0, 200) == 140  # 60 s before (140) is earlier than 160
    assert refresh_due(100, 30) == 115  # a short token still serves half its life, not refreshed per use
    assert refresh_due(100, 0) == 100


def test_the_xoauth2_initial_response_is_the_base64_of_user_and_bearer_token() -> None:
    encoded = xoauth2_initial_response("alice@acme.test", "ya29.tok")
    assert base64.b64decode(encoded) == b"user=alice@acme.test\x01auth=Bearer ya29.tok\x01\x01"


async def test_sends_the_refresh_token_grant_with_client_and_scope() -> None:
    endpoint = Endpoint()
    token = await endpoint.client(Clock()).token("mb", GRANT)
    assert token.value.get_secret_value() == "at-1"
    assert endpoint.forms == [
        {
            "grant_type": "refresh_token",
            "refresh_token": REFRESH,
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "scope": "https://mail.google.com/",
        }
    ]


async def test_a_token_is_reused_until_its_refresh_is_due_then_refreshed_before_it_expires() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = endpoint.client(clock)
    first = await client.token("mb", GRANT)
    clock.now += 2879  # just before 80 % of 3600 s
    assert await client.token("mb", GRANT) is first and len(endpoint.forms) == 1
    clock.now += 1  # due: refreshed while the old token still has 720 s to live
    await client.token("mb", GRANT)
    assert len(endpoint.forms) == 2


async def test_concurrent_callers_share_one_refresh() -> None:
    endpoint = Endpoint()
    endpoint.gate = asyncio.Event()
    client = endpoint.client(Clock())
    waiting = [asyncio.ensure_future(client.token("mb", GRANT)) for _ in range(20)]
    await asyncio.sleep(0.01)
    endpoint.gate.set()
    tokens = await asyncio.gather(*waiting)
    assert len(endpoint.forms) == 1 and len({id(t) for t in tokens}) == 1
    assert client.refreshes == 1


async def test_different_keys_refresh_separately() -> None:
    endpoint = Endpoint()
    client = endpoint.client(Clock())
    await asyncio.gather(client.token("a", GRANT), client.token("b", GRANT))
    assert len(endpoint.forms) == 2


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "unauthorized_client"])
async def test_a_refused_grant_is_token_refused_and_names_no_secret(error: str) -> None:
    # The description echoes the refresh token, as a careless endpoint might: it is blanked out.
    body = {"error": error, "error_description": f"token {REFRESH} for secret {CLIENT_SECRET} is revoked"}
    endpoint = Endpoint(lambda _f: httpx.Response(400, json=body))
    with pytest.raises(TokenRefused) as caught:
        await endpoint.client(Clock()).token("mb", GRANT)
    assert caught.value.error == error
    text = str(caught.value) + repr(caught.value)
    assert REFRESH not in text and CLIENT_SECRET not in text and "[redacted]" in text and error in text


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(503, json={"error": "temporarily_unavailable"}),
        httpx.Response(429, json={"error": "slow_down"}),
        httpx.Response(404, text="not here"),
        httpx.Response(200, json={"token_type": "Bearer"}),
        httpx.Response(200, text="<html>captive portal</html>"),
    ],
)
async def test_server_trouble_is_temporary(reply: httpx.Response) -> None:
    endpoint = Endpoint(lambda _f: reply)
    with pytest.raises(TokenUnavailable):
        await endpoint.client(Clock()).token("mb", GRANT)


async def test_a_timeout_is_temporary_and_names_no_secret() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = TokenClient(httpx.AsyncClient(transport=httpx.MockTransport(hang)))
    with pytest.raises(TokenUnavailable, match="did not answer: ReadTimeout") as caught:
        await client.token("mb", GRANT)
    assert REFRESH not in str(caught.value)


async def test_a_token_still_valid_serves_while_its_refresh_fails_for_a_while() -> None:
    clock = Clock()
    answers = [httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})]
    endpoint = Endpoint(lambda _f: answers[-1])
    client = endpoint.client(clock)
    first = await client.token("mb", GRANT)
    answers.append(httpx.Response(502))
    clock.now += 3000  # refresh due, the endpoint is down, the token has 600 s left
    assert await client.token("mb", GRANT) is first
    assert await client.token("mb", GRANT) is first and len(endpoint.forms) == 2  # not asked again at once
    clock.now += 5
    assert await client.token("mb", GRANT) is first and len(endpoint.forms) == 3  # asked again after 5 s
    clock.now += 590  # 5 s left: no longer served
    with pytest.raises(TokenUnavailable):
        await client.token("mb", GRANT)


async def test_a_refused_refresh_is_not_covered_by_the_old_token() -> None:
    clock = Clock()
    answers = [httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})]
    endpoint = Endpoint(lambda _f: answers[-1])
    client = endpoint.client(clock)
    await client.token("mb", GRANT)
    answers.append(httpx.Response(400, json={"error": "invalid_grant"}))
    clock.now += 3000
    with pytest.raises(TokenRefused):
        await client.token("mb", GRANT)


async def test_invalidate_forces_a_refresh() -> None:
    endpoint = Endpoint()
    client = endpoint.client(Clock())
    await client.token("mb", GRANT)
    client.invalidate("mb")
    await client.token("mb", GRANT)
    assert len(endpoint.forms) == 2


async def test_a_rotated_refresh_token_is_used_for_the_next_refresh() -> None:
    endpoint = Endpoint(
        lambda f: httpx.Response(
            200, json={"access_token": "at", "expires_in": 60, "refresh_token": f["refresh_token"] + "+"}
        )
    )
    clock = Clock()
    client = endpoint.client(clock)
    await client.token("mb", GRANT)
    clock.now += 60
    await client.token("mb", GRANT)
    assert [f["refresh_token"] for f in endpoint.forms] == [REFRESH, REFRESH + "+"]
    client.forget("mb")  # the secret changed: back to the stored refresh token
    await client.token("mb", GRANT)
    assert endpoint.forms[-1]["refresh_token"] == REFRESH


def test_token_from_reply_defaults_a_missing_lifetime_to_an_hour() -> None:
    token, rotated = token_from_reply(200, {"access_token": "at"}, GRANT, now=0)
    assert token == AccessToken(SecretStr("at"), 2880, 3600) and rotated is None
    assert "at" not in repr(token.value)


def test_no_scope_is_sent_when_the_grant_has_none() -> None:
    async def run() -> dict[str, Any]:
        endpoint = Endpoint()
        await endpoint.client(Clock()).token("mb", Grant(URL, "c", SecretStr("s"), SecretStr("r")))
        return endpoint.forms[0]

    assert "scope" not in asyncio.run(run())
