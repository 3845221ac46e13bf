"""The SMTP sink answers by recipient, stores what it accepts, speaks STARTTLS/TLS/AUTH, handles load."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from pot_stack.smtp_sink import (
    SinkConfig,
    SmtpSink,
    auth_key,
    build_controller,
    make_self_signed,
    read_auth_file,
    read_maildir,
    server_tls_context,
)


def message(rcpt: str, subject: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sender@acme-mail.test"
    msg["To"] = rcpt
    msg["Subject"] = subject or f"test {uuid.uuid4().hex}"
    msg.set_content("Hello from a test.\n")
    return msg


def client_tls(sink: SmtpSink) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sink.cert_path))


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    smtp_sink.clear()
    yield smtp_sink


@pytest.mark.parametrize(
    ("local", "code", "enhanced"),
    [
        ("bounce-x", 550, "5.1.1"),
        ("full-x", 552, "5.2.2"),
        ("defer-x", 451, "4.7.1"),
        ("throttle-x", 421, "4.7.0"),
        ("spam-x", 550, "5.7.1"),
    ],
)
async def test_recipient_rules_refuse_at_rcpt(sink: SmtpSink, local: str, code: int, enhanced: str) -> None:
    rcpt = f"{local}@example.test"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(message(rcpt), hostname=sink.host, port=sink.port, start_tls=False, timeout=10)
    error = refused.value.recipients[0]
    assert (error.code, error.message.split()[0]) == (code, enhanced)
    assert sink.messages() == []


async def test_throttle_closes_the_connection_after_421(sink: SmtpSink) -> None:
    client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, start_tls=False, timeout=10)
    await client.connect()
    await client.mail("sender@acme-mail.test")
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await client.rcpt("throttle-1@example.test")
    assert refused.value.code == 421
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await client.noop()


async def test_accepted_message_is_stored_once_per_recipient_with_its_envelope(sink: SmtpSink) -> None:
    msg = message("alice@example.test", subject="stored")
    response, _ = await aiosmtplib.send(
        msg,
        sender="bounces@acme-mail.test",
        recipients=["alice@example.test", "bob@example.test", "bounce-carol@example.test"],
        hostname=sink.host,
        port=sink.port,
        start_tls=False,
    )
    assert set(response) == {"bounce-carol@example.test"}  # refused one; the others accepted
    stored = sink.messages()
    assert sorted(m.rcpt_to for m in stored) == ["alice@example.test", "bob@example.test"]
    for mail in stored:
        assert mail.mail_from == "bounces@acme-mail.test"
        assert mail.message["Subject"] == "stored"
        assert mail.message.get_content() == "Hello from a test.\n"
        assert mail.path.parent == sink.maildir / "new"  # delivered atomically from tmp/
        assert mail.auth_user is None and mail.auth_key is None and mail.tls is False
    assert list((sink.maildir / "tmp").iterdir()) == []


async def test_drop_stores_the_message_but_never_answers_data(sink: SmtpSink) -> None:
    client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, start_tls=False, timeout=10)
    await client.connect()
    await client.mail("sender@acme-mail.test")
    await client.rcpt("drop-1@example.test")
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await client.data(message("drop-1@example.test", subject="dropped").as_bytes())
    # The data arrived: the at-most-once case a sender must not retry blindly.
    assert [m.message["Subject"] for m in sink.messages()] == ["dropped"]


async def test_slow_answers_after_the_delay() -> None:
    # In-process sink with a short delay, so the test measures the rule rather than waiting 2 s.
    with build_sink(slow_delay=0.4) as (host, port, _):
        began = time.monotonic()
        await aiosmtplib.send(message("slow-1@example.test"), hostname=host, port=port, start_tls=False)
        slow = time.monotonic() - began
        began = time.monotonic()
        await aiosmtplib.send(message("fast@example.test"), hostname=host, port=port, start_tls=False)
        fast = time.monotonic() - began
    assert slow >= 0.4
    assert fast < slow


async def test_starttls_with_auth_records_the_user_never_the_password(sink: SmtpSink) -> None:
    await aiosmtplib.send(
        message("tls@example.test"),
        hostname=sink.host,
        port=sink.port,
        start_tls=True,
        tls_context=client_tls(sink),
        username="mailbox-1@acme-mail.test",
        password="Sup3r-secret-pw",
    )
    [mail] = sink.messages()
    assert mail.tls is True
    assert mail.auth_user == "mailbox-1@acme-mail.test"
    assert mail.auth_key == auth_key("Sup3r-secret-pw") and len(mail.auth_key) == 12
    assert b"Sup3r-secret-pw" not in mail.path.read_bytes()
    assert "Sup3r-secret-pw" not in sink.log_path.read_text()


async def test_implicit_tls_port(sink: SmtpSink) -> None:
    await aiosmtplib.send(
        message("implicit@example.test"),
        hostname=sink.host,
        port=sink.tls_port,
        use_tls=True,
        tls_context=client_tls(sink),
        username="u",
        password="any",
    )
    [mail] = sink.messages()
    assert (mail.rcpt_to, mail.tls, mail.auth_user) == ("implicit@example.test", True, "u")


async def test_auth_file_checks_credentials(tmp_path: Path) -> None:
    with build_sink(auth_users={"good@acme-mail.test": frozenset({"right"})}) as (host, port, maildir):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await aiosmtplib.send(
                message("x@example.test"),
                hostname=host,
                port=port,
                start_tls=False,
                username="good@acme-mail.test",
                password="wrong",
            )
        assert (refused.value.code, refused.value.message.split()[0]) == (535, "5.7.8")
        await aiosmtplib.send(
            message("x@example.test"),
            hostname=host,
            port=port,
            start_tls=False,
            username="good@acme-mail.test",
            password="right",
        )
        assert len(list((maildir / "new").iterdir())) == 1


async def test_a_user_with_several_passwords_may_log_in_with_each_and_the_key_tells_which(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users"
    users.write_text("alice:old-pw\nbob:bob-pw\n# the changeover\nalice:new-pw\n")
    accepted = read_auth_file(users)
    assert accepted == {"alice": frozenset({"old-pw", "new-pw"}), "bob": frozenset({"bob-pw"})}
    with build_sink(auth_users=accepted) as (host, port, maildir):
        for password in ("old-pw", "new-pw"):
            await aiosmtplib.send(
                message(f"{password}@example.test"),
                hostname=host,
                port=port,
                start_tls=False,
                username="alice",
                password=password,
            )
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):  # another user's password is not one
            await aiosmtplib.send(
                message("x@example.test"),
                hostname=host,
                port=port,
                start_tls=False,
                username="alice",
                password="bob-pw",
            )
        keys = {m.rcpt_to: m.auth_key for m in read_maildir(maildir)}
    assert keys == {"old-pw@example.test": auth_key("old-pw"), "new-pw@example.test": auth_key("new-pw")}
    assert auth_key("old-pw") != auth_key("new-pw")


async def test_sixteen_concurrent_senders_all_stored(sink: SmtpSink) -> None:
    workers, per_worker = 16, 25

    async def worker(n: int) -> None:
        client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, start_tls=False, timeout=30)
        async with client:
            for i in range(per_worker):
                await client.send_message(message(f"w{n}-m{i}@example.test"))

    await asyncio.gather(*(worker(n) for n in range(workers)))
    stored = sink.messages()
    assert len(stored) == workers * per_worker
    assert len({m.rcpt_to for m in stored}) == workers * per_worker


class build_sink:  # used as a context manager: reads like a function
    """An in-process sink (build_controller) in a temporary maildir."""

    def __init__(self, **config: object) -> None:
        self.dir = Path(__import__("tempfile").mkdtemp(prefix="pot-sink-"))
        self.config = SinkConfig(maildir=self.dir / "mail", **config)  # type: ignore[arg-type]

    def __enter__(self) -> tuple[str, int, Path]:
        cert, key = make_self_signed(self.dir)
        self.controller = build_controller(self.config, tls_context=server_tls_context(cert, key))
        self.controller.start()
        return self.controller.hostname, self.controller.port, self.config.maildir

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
        __import__("shutil").rmtree(self.dir, ignore_errors=True)
