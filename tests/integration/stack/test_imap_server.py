"""The stack's IMAP server (Dovecot): password and XOAUTH2 logins, delivery into INBOX, IDLE, UIDs kept
across a restart, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import smtplib
import ssl
import uuid
from pathlib import Path

import aioimaplib
import httpx
import pytest
from pot_stack.imap_server import ImapServer
from pot_stack.oauth_server import OAuthServer
from pot_stack.stack import group_members


def mailbox() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"box-{tag}@acme-mail.test", f"pw-{tag}"


def raw(subject: str) -> bytes:
    message_id = f"<{uuid.uuid4().hex}@acme-mail.test>"
    return f"From: a@example.test\nSubject: {subject}\nMessage-ID: {message_id}\n\nbody\n".encode()


def subjects(conn: imaplib.IMAP4) -> list[str]:
    conn.select("INBOX")
    _, data = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    return [part[1].decode().strip().removeprefix("Subject: ") for part in data if isinstance(part, tuple)]


def test_password_login_reads_what_was_delivered(imap_server: ImapServer) -> None:
    user, password = mailbox()
    imap_server.add_user(user, password)
    imap_server.deliver(user, raw("first"))
    imap_server.deliver(user.upper(), raw("second"))  # addresses are case-insensitive
    conn = imap_server.client(user, password)
    try:
        assert subjects(conn) == ["first", "second"]
    finally:
        conn.logout()


def test_wrong_password_and_unknown_user_are_refused(imap_server: ImapServer) -> None:
    user, password = mailbox()
    imap_server.add_user(user, password)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_server.client(user, password + "x")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_server.client("nobody-" + user, password)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        imap_server.deliver("nobody-" + user, raw("lost"))
    assert next(iter(refused.value.recipients.values()))[0] == 550


def test_password_change_takes_effect_while_running(imap_server: ImapServer) -> None:
    user, password = mailbox()
    imap_server.add_user(user, password)
    imap_server.client(user, password).logout()
    imap_server.add_user(user, "new-" + password)
    with pytest.raises(imaplib.IMAP4.error):
        imap_server.client(user, password)
    imap_server.client(user, "new-" + password).logout()


def test_implicit_tls_port_speaks_tls_with_the_stack_certificate(imap_server: ImapServer) -> None:
    user, password = mailbox()
    imap_server.add_user(user, password)
    context = ssl.create_default_context(cafile=str(imap_server.cert_path))
    conn = imaplib.IMAP4_SSL(imap_server.host, imap_server.tls_port, ssl_context=context, timeout=30)
    try:
        conn.login(user, password)
        assert conn.select("INBOX")[0] == "OK"
    finally:
        conn.logout()


def xoauth2_login(server: ImapServer, user: str, token: str) -> None:
    """AUTHENTICATE XOAUTH2 with stdlib imaplib, which answers the error continuation of a refusal."""
    answers = iter([f"user={user}\x01auth=Bearer {token}\x01\x01".encode(), b""])
    conn = imaplib.IMAP4(server.host, server.port, timeout=30)
    try:
        conn.authenticate("XOAUTH2", lambda _: next(answers))
        assert conn.select("INBOX")[0] == "OK"
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


def access_token(oauth_server: OAuthServer, refresh_token: str) -> str:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": "client-1",
        "client_secret": "secret-1",
    }
    return str(httpx.post(oauth_server.token_url, data=form).json()["access_token"])


def test_xoauth2_login_with_a_token_from_the_endpoint(
    imap_server: ImapServer, oauth_server: OAuthServer
) -> None:
    user, _ = mailbox()
    imap_server.add_user(user)  # no password: only XOAUTH2 gets in
    oauth_server.register(user, "client-1", "secret-1", f"rt-{user}")
    xoauth2_login(imap_server, user, access_token(oauth_server, f"rt-{user}"))
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        xoauth2_login(imap_server, user, "pot-at-forged")
    other, _ = mailbox()
    imap_server.add_user(other)
    oauth_server.register(other, "client-1", "secret-1", f"rt-{other}")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        xoauth2_login(imap_server, user, access_token(oauth_server, f"rt-{other}"))  # someone else's
    revoked = access_token(oauth_server, f"rt-{user}")
    oauth_server.revoke(f"rt-{user}")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        xoauth2_login(imap_server, user, revoked)


async def test_aioimaplib_xoauth2_login(imap_server: ImapServer, oauth_server: OAuthServer) -> None:
    user, _ = mailbox()
    imap_server.add_user(user)
    oauth_server.register(user, "client-1", "secret-1", f"rt-{user}")
    token = await asyncio.to_thread(access_token, oauth_server, f"rt-{user}")
    client = aioimaplib.IMAP4(host=imap_server.host, port=imap_server.port, timeout=30)
    await client.wait_hello_from_server()
    assert (await client.xoauth2(user, token)).result == "OK"
    assert (await client.select("INBOX")).result == "OK"
    await client.logout()


async def test_idle_wakes_on_a_delivery(imap_server: ImapServer) -> None:
    user, password = mailbox()
    imap_server.add_user(user, password)
    client = aioimaplib.IMAP4(host=imap_server.host, port=imap_server.port, timeout=30)
    await client.wait_hello_from_server()
    await client.login(user, password)
    await client.select("INBOX")
    idle = await client.idle_start(timeout=60)
    await asyncio.to_thread(imap_server.deliver, user, raw("wake up"))
    pushed = await client.wait_server_push(timeout=5)
    client.idle_done()
    await asyncio.wait_for(idle, 10)
    assert any(b"EXISTS" in line for line in pushed if isinstance(line, bytes)), pushed
    await client.logout()


def uid_state(server: ImapServer, user: str, password: str) -> tuple[str, list[str]]:
    conn = server.client(user, password)
    try:
        conn.select("INBOX")
        validity = conn.response("UIDVALIDITY")[1][0]
        _, data = conn.uid("SEARCH", "ALL")
        return validity.decode(), data[0].decode().split()
    finally:
        conn.logout()


def test_uidvalidity_and_uids_survive_a_restart(stack_root: Path, oauth_server: OAuthServer) -> None:
    # stack_root, not tmp_path: Dovecot's mail processes (nobody, when we are root) must enter it.
    server = ImapServer(stack_root / "restart", oauth_introspect_url=oauth_server.introspect_url)
    server.start()
    try:
        user, password = mailbox()
        server.add_user(user, password)
        for n in range(3):
            server.deliver(user, raw(f"m{n}"))
        before = uid_state(server, user, password)
        port = server.port
        (pid,) = server.pids()
        server.restart()
        assert group_members(pid) == [] and server.port == port
        server.deliver(user, raw("after"))
        validity, uids = uid_state(server, user, password)
        assert validity == before[0]
        assert uids[:3] == before[1] and len(uids) == 4 and int(uids[3]) > int(before[1][-1])
    finally:
        server.stop()
