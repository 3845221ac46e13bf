"""What a transcript shows of an SMTP session: commands and replies as they went, AUTH redacted
(pot_worker.transcript; the session itself against the real sink is in tests/integration/worker)."""

from __future__ import annotations

import aiosmtplib
import pytest
from pot_worker.transcript import REDACTED, RecordingSMTP, Tape, command_text, reply_text


def test_commands_show_as_sent_outside_auth() -> None:
    assert command_text((b"MAIL", b"FROM:<a@b.test>"), False) == "MAIL FROM:<a@b.test>"
    assert command_text((b"RCPT", b"TO:<r@c.test>"), False) == "RCPT TO:<r@c.test>"
    assert command_text((b"EHLO", b"pot-worker.local"), False) == "EHLO pot-worker.local"


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ((b"AUTH", b"PLAIN", b"AHVzZXIAY2FuYXJ5"), f"AUTH PLAIN {REDACTED}"),
        ((b"AUTH", b"LOGIN", b"dXNlcg=="), f"AUTH LOGIN {REDACTED}"),
        ((b"AUTH", b"CRAM-MD5"), "AUTH CRAM-MD5"),
        ((b"Y2FuYXJ5",), REDACTED),  # a continuation: the encoded password
        ((b"EHLO",), REDACTED),  # even one that looks like a verb
    ],
)
def test_auth_keeps_only_the_mechanism(args: tuple[bytes, ...], shown: str) -> None:
    assert command_text(args, True) == shown


def test_replies_keep_code_and_text_but_not_an_auth_challenge() -> None:
    assert reply_text(250, "2.1.5 Ok", False) == "250 2.1.5 Ok"
    assert reply_text(334, "VXNlcm5hbWU6", True) == f"334 {REDACTED}"
    assert reply_text(535, "5.7.8 Authentication credentials invalid", True).startswith("535 5.7.8")
    assert len(reply_text(250, "x" * 10_000, False)) == 2000
    # aiosmtplib joins a multi-line reply's texts; the tape shows the lines as the server sent them.
    assert reply_text(250, "sink.test\nSIZE 1000\nHELP", False) == "250-sink.test\n250-SIZE 1000\n250 HELP"


def test_every_auth_mechanism_aiosmtplib_may_try_is_redacted() -> None:
    """aiosmtplib.login() calls auth_<name> for each mechanism; each must run with redaction on."""
    theirs = {
        n for n in dir(aiosmtplib.SMTP) if n.startswith("auth_") and callable(getattr(aiosmtplib.SMTP, n))
    }
    ours = {n for n in vars(RecordingSMTP) if n.startswith("auth_")}
    assert theirs == ours


def test_a_tape_keeps_the_order_and_the_clock_it_was_given() -> None:
    ticks = iter([1.0, 2.0, 3.0])
    tape = Tape(lambda: next(ticks))
    tape.note("connect smtp.test:25 (no TLS)")
    tape.sent("QUIT")
    tape.received("221 Bye")
    assert tape.lines == [
        (1.0, "*", "connect smtp.test:25 (no TLS)"),
        (2.0, ">", "QUIT"),
        (3.0, "<", "221 Bye"),
    ]
