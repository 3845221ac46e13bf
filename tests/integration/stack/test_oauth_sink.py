"""The SMTP sink takes AUTH XOAUTH2 as Gmail and Office 365 do, checking each access token against the
local token endpoint (introspection when the sink is a process, a direct lookup in-process)."""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from pot_stack.oauth_server import OAuthServer
from pot_stack.smtp_sink import SinkConfig, SmtpSink, build_controller, read_maildir
from pot_stack.xoauth2 import client_response, parse_xoauth2, user_for_check


def message(rcpt: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sender@acme-mail.test"
    msg["To"] = rcpt
    msg["Subject"] = f"oauth {uuid.uuid4().hex}"
    msg.set_content("Hello over OAuth2.\n")
    return msg


def token_for(oauth_server: OAuthServer) -> tuple[str, str]:
    """A registered mailbox (refresh token `rt-<user>`) and a fresh access token for it."""
    tag = uuid.uuid4().hex[:8]
    user = f"oauth-{tag}@acme-mail.test"
    oauth_server.register(user, "client-x", "secret-x", f"rt-{user}")
    form = {"grant_type": "refresh_token", "refresh_token": f"rt-{user}"}
    answer = httpx.post(
        oauth_server.token_url, data={**form, "client_id": "client-x", "client_secret": "secret-x"}
    )
    return user, str(answer.json()["access_token"])


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    smtp_sink.clear()
    yield smtp_sink


def test_parse_xoauth2_takes_the_providers_format_only() -> None:
    raw = base64.b64decode(client_response("a@b.test", "tok"))
    assert parse_xoauth2(raw) == ("a@b.test", "tok")
    assert parse_xoauth2(b"user=a@b.test\x01auth=Basic tok\x01\x01") is None
    assert parse_xoauth2(b"auth=Bearer tok\x01\x01") is None
    assert parse_xoauth2(b"garbage") is None


async def test_xoauth2_send_is_stored_with_the_user_and_mechanism(
    sink: SmtpSink, oauth_server: OAuthServer
) -> None:
    user, token = token_for(oauth_server)

    async def tokens() -> str:
        return token

    context = ssl.create_default_context(cafile=str(sink.cert_path))
    await aiosmtplib.send(
        message("alice@example.test"),
        hostname=sink.host,
        port=sink.port,
        start_tls=True,
        tls_context=context,
        username=user,
        oauth_token_generator=tokens,
        timeout=10,
    )
    (stored,) = sink.messages()
    assert (stored.auth_user, stored.auth_mechanism, stored.auth_key) == (user, "XOAUTH2", None)
    assert stored.message["X-Pot-Sink-Auth-Mechanism"] == "XOAUTH2"
    assert token not in stored.path.read_text() and token not in sink.log_path.read_text()


async def test_password_logins_name_their_mechanism(sink: SmtpSink) -> None:
    await aiosmtplib.send(
        message("bob@example.test"),
        hostname=sink.host,
        port=sink.port,
        start_tls=False,
        username="u",
        password="p",
    )
    (stored,) = sink.messages()
    assert stored.auth_mechanism in ("PLAIN", "LOGIN") and stored.auth_key is not None


@pytest.mark.parametrize("case", ["forged", "someone-else", "revoked", "malformed"])
async def test_refused_token_gets_the_json_challenge_then_535(
    sink: SmtpSink, oauth_server: OAuthServer, case: str
) -> None:
    user, token = token_for(oauth_server)
    _, other_token = token_for(oauth_server)
    response = client_response(
        user, {"forged": "pot-at-forged", "someone-else": other_token}.get(case, token)
    )
    if case == "revoked":
        assert oauth_server.revoke(f"rt-{user}")
    if case == "malformed":
        response = base64.b64encode(f"user={user}\x01auth=Basic {token}\x01\x01".encode()).decode()
    client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, start_tls=False, timeout=10)
    await client.connect()
    await client.ehlo()
    assert "xoauth2" in client.server_auth_methods
    challenge = await client.execute_command(b"AUTH", b"XOAUTH2", response.encode())
    assert challenge.code == 334
    assert json.loads(base64.b64decode(challenge.message))["status"] == "401"
    final = await client.execute_command(b"")
    assert (final.code, final.message.split()[0]) == (535, "5.7.8")
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):  # aiosmtplib's own XOAUTH2 path, same refusal
        await client.auth_xoauth2(user, "pot-at-forged")
    await client.quit()
    assert sink.messages() == []


async def test_in_process_sink_checks_tokens_directly(tmp_path: Path, oauth_server: OAuthServer) -> None:
    config = SinkConfig(maildir=tmp_path / "mail", oauth_check=user_for_check(oauth_server.user_for))
    controller = build_controller(config)
    controller.start()
    try:
        user, token = token_for(oauth_server)
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=controller.port, start_tls=False, timeout=10)
        await client.connect()
        await client.auth_xoauth2(user, token)
        await client.send_message(message("carol@example.test"))
        await client.quit()
    finally:
        controller.stop()
    (stored,) = read_maildir(tmp_path / "mail")
    assert (stored.auth_user, stored.auth_mechanism) == (user, "XOAUTH2")


async def test_xoauth2_is_not_offered_without_a_token_check(tmp_path: Path) -> None:
    controller = build_controller(SinkConfig(maildir=tmp_path / "mail"))
    controller.start()
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=controller.port, start_tls=False, timeout=10)
        await client.connect()
        await client.ehlo()
        assert "xoauth2" not in client.server_auth_methods and "plain" in client.server_auth_methods
        await client.quit()
    finally:
        controller.stop()
