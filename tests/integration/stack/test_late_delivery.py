"""Late delivery: the sink accepts late-bounce-*, complain-*, ooo-* and reply-* at submission and, seconds
later, the bounce, complaint, out-of-office or reply lands in the sender's INBOX on the IMAP server."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import imaplib
import logging
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from pot_stack.imap_server import ImapServer
from pot_stack.oauth_server import OAuthServer
from pot_stack.smtp_sink import SinkConfig, SmtpSink, build_controller, read_maildir


def mailbox(imap_server: ImapServer) -> tuple[str, str]:
    """A sending mailbox that exists on the IMAP server (the sink takes any password for it)."""
    tag = uuid.uuid4().hex[:10]
    user, password = f"sender-{tag}@acme-mail.test", f"pw-{tag}"
    imap_server.add_user(user, password)
    return user, password


def outgoing(sender: str, rcpt: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Sam Sender <{sender}>"
    msg["To"] = rcpt
    msg["Subject"] = f"Quick question {uuid.uuid4().hex[:6]}"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme-mail.test>"
    msg["References"] = "<earlier@acme-mail.test>"
    msg.set_content("Hi there,\nwould you like a demo?\n")
    return msg


def inbox(conn_factory: Callable[[], imaplib.IMAP4]) -> list[EmailMessage]:
    conn = conn_factory()
    try:
        conn.select("INBOX")
        _, data = conn.fetch("1:*", "(RFC822)") if conn.select("INBOX")[1][0] != b"0" else ("OK", [])
        parser = email.parser.BytesParser(policy=email.policy.default)
        found = [parser.parsebytes(part[1]) for part in data if isinstance(part, tuple)]
        return [m for m in found if isinstance(m, EmailMessage)]
    finally:
        conn.logout()


async def wait_inbox(conn_factory: Callable[[], imaplib.IMAP4], within: float = 20) -> EmailMessage:
    async with asyncio.timeout(within):
        while True:
            found = await asyncio.to_thread(inbox, conn_factory)
            if found:
                (only,) = found
                return only
            await asyncio.sleep(0.3)


async def logged(sink: SmtpSink, text: str, within: float) -> None:
    async with asyncio.timeout(within):
        while text not in sink.log_path.read_text():  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(0.2)


async def submit(sink: SmtpSink, msg: EmailMessage, **login: Any) -> None:
    await aiosmtplib.send(msg, hostname=sink.host, port=sink.port, start_tls=False, timeout=10, **login)


def part(report: EmailMessage, content_type: str) -> EmailMessage:
    found = next(p for p in report.walk() if p.get_content_type() == content_type)
    assert isinstance(found, EmailMessage)
    return found


async def test_late_bounce_is_an_rfc3464_report_in_the_senders_inbox(
    smtp_sink: SmtpSink, imap_server: ImapServer
) -> None:
    user, password = mailbox(imap_server)
    msg = outgoing(user, "late-bounce-ann@example.test")
    began = time.monotonic()
    await submit(smtp_sink, msg, username=user, password=password)
    assert inbox(lambda: imap_server.client(user, password)) == []  # later, not at once
    bounce = await wait_inbox(lambda: imap_server.client(user, password))
    assert time.monotonic() - began >= smtp_sink.late_delay
    assert bounce.get_content_type() == "multipart/report"
    assert bounce.get_param("report-type") == "delivery-status"
    assert "MAILER-DAEMON@" in str(bounce["From"]) and bounce["Return-Path"] == "<>"
    status = part(bounce, "message/delivery-status").as_string()
    assert "Status: 5.1.1" in status and "Action: failed" in status
    assert "Final-Recipient: rfc822; late-bounce-ann@example.test" in status
    headers = part(bounce, "text/rfc822-headers").get_content()
    assert f"Message-ID: {msg['Message-ID']}" in headers and "Subject: Quick question" in headers


async def test_complaint_is_an_arf_report_with_the_original(
    smtp_sink: SmtpSink, imap_server: ImapServer
) -> None:
    user, password = mailbox(imap_server)
    msg = outgoing(user, "complain-bo@example.test")
    await submit(smtp_sink, msg, username=user, password=password)
    report = await wait_inbox(lambda: imap_server.client(user, password))
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "feedback-report"
    feedback = part(report, "message/feedback-report").as_string()
    assert "Feedback-Type: abuse" in feedback and "Original-Rcpt-To: <complain-bo@example.test>" in feedback
    (original,) = part(report, "message/rfc822").iter_parts()
    assert original["Message-ID"] == msg["Message-ID"]


async def test_out_of_office_is_an_rfc3834_auto_reply(smtp_sink: SmtpSink, imap_server: ImapServer) -> None:
    user, password = mailbox(imap_server)
    msg = outgoing(user, "ooo-cy@example.test")
    await submit(smtp_sink, msg, username=user, password=password)
    answer = await wait_inbox(lambda: imap_server.client(user, password))
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"] == msg["Message-ID"]
    assert str(answer["From"]) == "ooo-cy@example.test" and answer["Return-Path"] == "<>"


async def test_reply_threads_under_the_original_and_quotes_it(
    smtp_sink: SmtpSink, imap_server: ImapServer
) -> None:
    user, password = mailbox(imap_server)
    msg = outgoing(user, "reply-dee@example.test")
    await submit(smtp_sink, msg, sender=user)  # unauthenticated: the envelope sender's inbox
    reply = await wait_inbox(lambda: imap_server.client(user, password))
    assert reply["Subject"] == f"Re: {msg['Subject']}"
    assert reply["In-Reply-To"] == msg["Message-ID"]
    assert reply["References"] == f"<earlier@acme-mail.test> {msg['Message-ID']}"
    assert reply["Auto-Submitted"] is None and str(reply["From"]) == "reply-dee@example.test"
    text = reply.get_content()
    assert text.index("could we talk") < text.index("> would you like a demo?")


async def test_unknown_inbox_is_dropped_and_the_sink_goes_on(
    smtp_sink: SmtpSink, imap_server: ImapServer
) -> None:
    stranger = f"stranger-{uuid.uuid4().hex[:8]}@acme-mail.test"  # not an IMAP user
    await submit(smtp_sink, outgoing(stranger, "reply-eve@example.test"), username=stranger, password="x")
    await logged(
        smtp_sink, f"Dropped late message kind=reply rcpt=reply-eve@example.test inbox={stranger}", 15
    )
    user, password = mailbox(imap_server)
    await submit(smtp_sink, outgoing(user, "reply-fay@example.test"), username=user, password=password)
    assert (await wait_inbox(lambda: imap_server.client(user, password)))["Subject"].startswith("Re: ")


def xoauth2_client(imap_server: ImapServer, user: str, token: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=30)
    conn.authenticate("XOAUTH2", lambda _: f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
    return conn


@pytest.mark.parametrize("token_url", ["token", "tenant"])
async def test_an_oauth_mailbox_sends_and_reads_its_late_reply(
    smtp_sink: SmtpSink, imap_server: ImapServer, oauth_server: OAuthServer, token_url: str
) -> None:
    user = f"oauth-{uuid.uuid4().hex[:8]}@acme-mail.test"
    imap_server.add_user(user)  # no password: XOAUTH2 only
    oauth_server.register(user, "client-o", "secret-o", f"rt-{user}", tenant="tenant-o")
    url = oauth_server.token_url if token_url == "token" else oauth_server.tenant_token_url("tenant-o")
    form = {"grant_type": "refresh_token", "refresh_token": f"rt-{user}"}
    async with httpx.AsyncClient() as http:
        answer = await http.post(url, data={**form, "client_id": "client-o", "client_secret": "secret-o"})
    token = str(answer.json()["access_token"])

    async def tokens() -> str:
        return token

    msg = outgoing(user, "reply-gus@example.test")
    await submit(smtp_sink, msg, username=user, oauth_token_generator=tokens)
    reply = await wait_inbox(lambda: xoauth2_client(imap_server, user, token))
    assert reply["In-Reply-To"] == msg["Message-ID"]
    assert smtp_sink.messages()[-1].auth_mechanism == "XOAUTH2"


def test_late_kinds_by_prefix() -> None:
    from pot_stack.late_mail import late_kind

    assert late_kind("late-bounce-a@x.test") == "bounce"
    assert late_kind("<Complain-b@x.test>") == "complaint"
    assert late_kind("ooo-c@x.test") == "auto-reply"
    assert late_kind("REPLY-d@x.test") == "reply"
    assert late_kind("bounce-e@x.test") is None  # refused at RCPT instead
    assert late_kind("someone@late-bounce.test") is None


async def test_in_process_sink_without_imap_drops_late_mail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    controller = build_controller(SinkConfig(maildir=tmp_path / "mail", late_delay=0.1))
    controller.start()
    try:
        caplog.set_level(logging.INFO, logger="pot_stack.late_mail")
        msg = outgoing("me@acme-mail.test", "ooo-zed@example.test")
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=controller.port, start_tls=False, timeout=10)
        async with asyncio.timeout(10):
            while "Dropped late message" not in caplog.text:  # noqa: ASYNC110 - the sink's thread logs it
                await asyncio.sleep(0.05)
        assert "no IMAP server configured" in caplog.text
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=controller.port, start_tls=False, timeout=10)
    finally:
        controller.stop()
    assert len(read_maildir(tmp_path / "mail")) == 2
