"""The classifier's decisions one rule at a time (pot_feedback.classify): statuses in prose, reasons and
hardness, addresses, the reply's own text, and the precedence between kinds."""

from __future__ import annotations

import pytest
from pot_feedback.classify import Verdict, classify, mime, reply, status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("said: 550 5.1.1 <a@b.example>: User unknown", "5.1.1"),
        ("550-5.7.26 Unauthenticated email", "5.7.26"),
        ("#550 5.1.10 RESOLVER.ADR.RecipientNotFound", "5.1.10"),
        ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"),
        ("host 203.0.5.1.1.example said 554 no code", None),  # dotted runs are no status
        ("Postfix 3.5.1 released", None),  # a version number is no reply status (3.x.x is no class)
        ("421 4.7.0 [TSS04] deferred", "4.7.0"),
        ("nothing here", None),
    ],
)
def test_the_status_in_a_diagnostic(text: str, expected: str | None) -> None:
    assert status.status_in(text) == expected


def test_a_generic_dsn_status_gives_way_to_the_diagnostics_specific_one() -> None:
    assert status.better_status("5.0.0", "smtp; 550 5.1.1 user unknown") == "5.1.1"
    assert status.better_status("5.1.1", "smtp; 550 5.7.1 blocked") == "5.1.1"
    assert status.better_status("5.0.0", "smtp; 452 4.2.2 full") == "5.0.0"  # another class: not it
    assert status.better_status(None, "550 5.2.2 full") == "5.2.2"


@pytest.mark.parametrize(
    ("code", "text", "reason", "hard"),
    [
        ("5.1.1", "", "no-such-user", True),
        ("5.1.10", "", "no-such-user", True),
        ("5.2.2", "", "mailbox-full", False),  # a full mailbox is soft even with a 5
        ("4.2.2", "", "mailbox-full", False),
        ("5.7.1", "", "policy", True),
        ("5.7.26", "", "policy", True),
        ("5.4.4", "", "bad-domain", True),
        ("4.4.7", "", "expired", False),
        ("5.0.0", "This user doesn't have a yahoo.com account", "no-such-user", True),
        ("5.5.0", "Requested action not taken: mailbox unavailable", "no-such-user", True),
        ("5.0.0", "This mailbox is disabled (554.30)", "mailbox-disabled", True),
        (None, "Unrouteable address", "bad-domain", True),
        (None, "550 Administrative prohibition - envelope blocked", "policy", True),
        (None, "retry timeout exceeded", "expired", False),
        (None, "something odd happened", "unknown", False),
        (None, "554 something odd happened", "unknown", True),  # a 5xx reply is permanent
    ],
)
def test_reason_and_hardness(code: str | None, text: str, reason: str, hard: bool) -> None:
    got = status.reason_for(code, text)
    assert got == reason
    assert status.is_hard(code, got, text) is hard


def test_addresses_are_found_in_order_lower_case_and_without_their_brackets() -> None:
    text = "<Jo.Smith@Example.COM>: host said ... rfc822;bob+tag@sub.example.org. mailto:x@y"
    assert mime.addresses(text) == ["jo.smith@example.com", "bob+tag@sub.example.org"]
    assert mime.addresses("no at sign here") == []
    assert mime.addresses("@" * 1000 + "a@b") == []


def test_only_the_new_text_of_a_reply_counts_for_unsubscribe() -> None:
    quoted = "Sounds good, call me.\n\nOn Tue, Anna wrote:\n> reply STOP to opt out\n> unsubscribe here"
    assert not reply.asks_to_stop(quoted)
    outlook = "Yes, let's talk.\n\nFrom: Anna <a@b.example>\nSent: Monday\nunsubscribe"
    assert not reply.asks_to_stop(outlook)
    for text in ("STOP", "Please remove me.", "unsubscribe", "Stop emailing me", "opt me out please"):
        assert reply.asks_to_stop(text), text
    for text in ("Who is this?", "Let's stop by your booth at the fair.", "I adopt out puppies"):
        assert not reply.asks_to_stop(text), text


def _message(headers: str, body: str = "Hello.") -> bytes:
    return f"From: Pat <pat@x.example>\nTo: me@y.example\n{headers}\n\n{body}\n".encode()


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    verdict = classify(_message("Subject: Re: hi\nIn-Reply-To: <m1@y.example>\nAuto-Submitted: no"))
    assert (verdict.kind, verdict.reason, verdict.recipient) == ("reply", "human-reply", "pat@x.example")
    assert verdict.references == ("<m1@y.example>",)


def test_auto_replied_wins_over_a_re_subject() -> None:
    verdict = classify(_message("Subject: Re: hi\nIn-Reply-To: <m1@y.example>\nAuto-Submitted: auto-replied"))
    assert verdict.kind == "auto-reply"


def test_a_bounce_is_never_an_auto_reply() -> None:
    raw = _message(
        "From: Mail Delivery System <MAILER-DAEMON@x.example>\nSubject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied",
        "<gone@z.example>: host said: 550 5.1.1 User unknown",
    )
    verdict = classify(raw)
    assert (verdict.kind, verdict.status, verdict.recipient) == ("bounce", "5.1.1", "gone@z.example")


def test_a_newsletter_or_a_new_thread_is_unknown() -> None:
    assert classify(_message("Subject: Our news\nList-Unsubscribe: <https://x.example/u>")).kind == "unknown"
    assert classify(_message("Subject: Lunch?")).kind == "unknown"


def test_a_plain_unsubscribe_mail_is_an_unsubscribe_request() -> None:
    verdict = classify(_message("Subject: unsubscribe", ""))
    assert (verdict.kind, verdict.unsubscribe, verdict.recipient) == ("reply", True, "pat@x.example")


def test_references_keep_their_order_without_repeats() -> None:
    raw = _message("Subject: Re: x\nIn-Reply-To: <b@h>\nReferences: <a@h> <b@h>\n <c@h>")
    assert classify(raw).references == ("<b@h>", "<a@h>", "<c@h>")


def test_to_json_is_the_issues_shape() -> None:
    verdict = Verdict("bounce", "5.1.1", True, "no-such-user", "a@b.example", ("<x@y>",), False)
    assert verdict.to_json("in/1.eml") == {
        "file": "in/1.eml",
        "kind": "bounce",
        "status": "5.1.1",
        "hard": True,
        "reason": "no-such-user",
        "recipient": "a@b.example",
    }


def test_empty_and_non_mail_input_is_unknown() -> None:
    for raw in (b"", b"\x00\xff" * 100, b"just text", b"\n\n\n"):
        assert classify(raw).kind == "unknown"
