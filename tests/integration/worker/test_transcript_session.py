"""A recorded SMTP session against the real sink: greeting, EHLO, STARTTLS, AUTH redacted, the envelope
and the replies, in order, each with a time; and a connection reused for the next message says so
(pot_worker.smtp with pot_worker.transcript)."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator

import pytest
from pot_stack.smtp_sink import SmtpSink
from pot_worker.credentials import Credentials
from pot_worker.smtp import Endpoint, MailboxConnection
from pot_worker.transcript import REDACTED, RecordingSMTP, Tape
from pydantic import SecretStr

USER, PASSWORD = "canary-user", "canary-Pa55-7f3e9c"


def secret_forms() -> list[str]:
    """The password as it could leak: plain, and base64 as AUTH PLAIN and LOGIN send it."""
    return [
        PASSWORD,
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(),
        base64.b64encode(USER.encode()).decode(),
    ]


@pytest.fixture(scope="module")
def canary_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    root = tmp_path_factory.mktemp("transcript-sink")
    users = root / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    server = SmtpSink(root, auth_file=users)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connection(sink: SmtpSink, tls: str = "starttls") -> MailboxConnection:
    context = ssl.create_default_context(cafile=str(sink.cert_path))
    port = sink.tls_port if tls == "implicit" else sink.port
    return MailboxConnection(Endpoint(sink.host, port, tls), "pot-worker.test", 5, context, record=True)


def texts(tape: Tape) -> list[tuple[str, str]]:
    return [(direction, text) for _, direction, text in tape.lines]


async def test_a_session_is_recorded_in_order_with_auth_redacted(canary_sink: SmtpSink) -> None:
    conn = connection(canary_sink)
    creds = Credentials(USER, SecretStr(PASSWORD))
    first, second = Tape(), Tape()
    try:
        sent = await conn.send(
            "mb@acme-outreach.test", "ok-1@good.test", b"Subject: hi\r\n\r\nhello\r\n", creds, first
        )
        deferred = await conn.send("mb@acme-outreach.test", "defer-1@good.test", b"x", creds, second)
    finally:
        await conn.quit()
    assert sent.code == 250 and deferred.code == 451
    lines = texts(first)
    kinds = [d for d, _ in lines]
    assert lines[0] == ("*", f"connect {canary_sink.host}:{canary_sink.port} (STARTTLS)")
    assert lines[1][0] == "<" and lines[1][1].startswith("220 ")  # the greeting
    verbs = [t.split(" ", 1)[0] for d, t in lines if d == ">"]
    assert verbs == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA"]
    assert ("*", "TLS established") in lines
    assert (">", f"AUTH PLAIN {REDACTED}") in lines and ("<", "235 2.7.0 Authentication successful") in lines
    assert (">", "MAIL FROM:<mb@acme-outreach.test>") in lines and (">", "RCPT TO:<ok-1@good.test>") in lines
    assert lines[-2] == (">", "DATA (22 bytes of message)") and lines[-1][1].startswith("250 ")
    assert kinds.count(">") == kinds.count("<") - 1  # every command answered, plus the greeting
    stamps = [t for t, _, _ in first.lines]
    assert stamps == sorted(stamps)
    # The next message reuses the connection: no greeting or AUTH again, the refusal recorded.
    assert texts(second) == [
        ("*", "connection reused"),
        (">", "MAIL FROM:<mb@acme-outreach.test>"),
        ("<", "250 OK"),
        (">", "RCPT TO:<defer-1@good.test>"),
        ("<", "451 4.7.1 Try again later"),
        (">", "RSET"),
        ("<", "250 OK"),
    ]
    everything = repr(first.lines) + repr(second.lines)
    assert not [form for form in secret_forms() if form in everything]


async def test_auth_login_and_a_refused_password_are_redacted_too(canary_sink: SmtpSink) -> None:
    smtp = RecordingSMTP(hostname=canary_sink.host, port=canary_sink.port, start_tls=False, timeout=5)
    smtp.tape = tape = Tape()
    await smtp.connect()
    try:
        await smtp.ehlo()
        await smtp.auth_login(USER, PASSWORD)
    finally:
        smtp.close()
    refused = connection(canary_sink)
    refusal = Tape()
    attempt = await refused.send(
        "mb@acme.test", "ok@good.test", b"x", Credentials(USER, SecretStr("wrong-Pa55")), refusal
    )
    assert attempt.code == 535
    assert (">", f"AUTH LOGIN {REDACTED}") in texts(tape) and ("<", f"334 {REDACTED}") in texts(tape)
    assert (">", REDACTED) in texts(tape)
    assert ("<", "535 5.7.8 Authentication credentials invalid") in texts(refusal)
    everything = repr(tape.lines) + repr(refusal.lines)
    assert not [form for form in [*secret_forms(), "wrong-Pa55"] if form in everything]


async def test_a_connection_that_cannot_be_made_is_recorded() -> None:
    from pot_stack.service import free_port

    port = free_port()  # nothing listens there
    conn = MailboxConnection(
        Endpoint("127.0.0.1", port, "none"), "w.test", 2, ssl.create_default_context(), True
    )
    tape = Tape()
    attempt = await conn.send("a@b.test", "c@d.test", b"x", None, tape)
    assert attempt.code is None
    assert texts(tape)[0] == ("*", f"connect 127.0.0.1:{port} (no TLS)")
    assert texts(tape)[1][0] == "*" and "SMTPConnectError" in texts(tape)[1][1]
