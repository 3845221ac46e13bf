"""The checker's pure parts: syntax and RFC 5321 lengths, reply classification, politeness, flags, input
rows, resume; and its scheduler against a scripted SMTP session (no network)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pot_common.addresses import check_syntax
from pot_deliverability import emailcheck
from pot_deliverability.emailcheck import BadRow, EmailResult, Verdict, flags
from pot_deliverability.emailcheck.pacing import BLOCKED, Politeness
from pot_deliverability.emailcheck.probe import classify_rcpt, too_many_recipients


def test_syntax_normalises_the_domain() -> None:
    result = check_syntax("  Alice@Example.COM ")
    assert (result.ok, result.normalized, result.domain) == (True, "Alice@example.com", "example.com")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("no-at-sign", "bad syntax"),
        ("a@b@c.com", "bad syntax"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("a@" + ".".join(["b" * 60] * 5) + ".com", "bad syntax"),
        ("a@good.test", "bad syntax"),  # special-use names are refused unless the run allows them
    ],
)
def test_syntax_rejections(address: str, why: str) -> None:
    result = check_syntax(address)
    assert not result.ok and why in result.reason


def test_test_domains_allowed_when_asked() -> None:
    assert check_syntax("a@good.test", allow_test_domains=True).ok


@pytest.mark.parametrize(
    ("code", "message", "verdict"),
    [
        (250, "2.1.5 OK", Verdict.VALID),
        (251, "User not local; will forward", Verdict.VALID),
        (550, "5.1.1 No such user", Verdict.INVALID),
        (550, "No such user", Verdict.INVALID),
        (553, "5.1.3 Bad address syntax", Verdict.INVALID),
        (552, "5.2.2 Mailbox full", Verdict.RISKY),
        (452, "4.2.2 Mailbox full", Verdict.RISKY),  # full now, so risky, however temporary
        (452, "Mailbox is full, try later", Verdict.RISKY),
        (550, "User over quota", Verdict.RISKY),
        (552, "Requested mail action aborted: exceeded storage allocation", Verdict.RISKY),
        (451, "4.3.0 Try again later", Verdict.UNKNOWN),
        (550, "5.7.1 Blocked", Verdict.UNKNOWN),
        (450, "4.7.1 Greylisted", Verdict.UNKNOWN),
        (421, "Try later", Verdict.UNKNOWN),
        (554, "5.0.0 Rejected", Verdict.INVALID),
    ],
)
def test_rcpt_replies_are_classified(code: int, message: str, verdict: Verdict) -> None:
    assert classify_rcpt(code, message)[0] is verdict


def test_a_host_s_first_session_starts_at_once_the_next_ones_an_interval_apart() -> None:
    rules = Politeness(per_host=2, interval=1.0, per_provider=10, total=20)
    assert rules.wait("mx.a.example", "a.example", 100.0) == 0.0  # no pacing before the first connection
    rules.start("mx.a.example", "a.example", 100.0)
    assert rules.wait("mx.a.example", "a.example", 100.25) == 0.75
    assert rules.wait("mx.b.example", "b.example", 100.25) == 0.0  # another host is not held back
    assert rules.wait("mx.a.example", "a.example", 101.0) == 0.0
    rules.connected("mx.a.example", 100.5)  # its connection came up late: count from there
    assert rules.wait("mx.a.example", "a.example", 101.0) == 0.5


def test_concurrency_is_limited_per_host_per_provider_and_overall() -> None:
    rules = Politeness(per_host=2, interval=0.0, per_provider=3, total=4)
    for host in ("mx1.p.example", "mx1.p.example", "mx2.p.example"):
        rules.start(host, "p.example", 0.0)
    assert rules.wait("mx1.p.example", "p.example", 0.0) == BLOCKED  # the host has its 2
    assert rules.wait("mx3.p.example", "p.example", 0.0) == BLOCKED  # the provider has its 3
    assert rules.wait("mx.q.example", "q.example", 0.0) == 0.0
    rules.start("mx.q.example", "q.example", 0.0)
    assert rules.wait("mx.r.example", "r.example", 0.0) == BLOCKED  # 4 open overall
    rules.end("mx1.p.example", "p.example")
    assert rules.wait("mx3.p.example", "p.example", 0.0) == 0.0
    assert rules.most["mx1.p.example"] == 2


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("gmail-smtp-in.l.google.com", "google"),
        ("aspmx.l.google.com", "google"),
        ("acme-com.mail.protection.outlook.com", "microsoft365"),
        ("mx1.hotmail.com", "hotmail.com"),
        ("mx.a.co.uk", "a.co.uk"),
        ("MX2.Mail.Example.NET.", "example.net"),
    ],
)
def test_mx_hosts_group_into_providers(host: str, provider: str) -> None:
    from pot_deliverability.mx import provider_group

    assert provider_group(host) == provider


@pytest.mark.parametrize(
    ("code", "message"),
    [(452, "4.5.3 Too many recipients"), (452, "Too many recipients in this transaction")],
)
def test_too_many_recipients_is_the_session_s_limit_not_the_address(code: int, message: str) -> None:
    assert too_many_recipients(code, message)
    assert not too_many_recipients(452, "4.2.2 Mailbox full")


@pytest.mark.parametrize(
    ("address", "free", "role", "disposable", "suggestion"),
    [
        ("alice@gmail.com", True, False, False, ""),
        ("Info@acme.example", False, True, False, ""),
        ("sales+eu@acme.example", False, True, False, ""),
        ("x@mailinator.com", False, False, True, ""),
        ("x@sub.mailinator.com", False, False, True, ""),  # a listed service's subdomains too
        ("bob@gmial.com", False, False, True, "gmail.com"),  # typo domains are listed as disposable
        ("bob@hotmial.co", False, False, False, "hotmail.com"),  # two slips in a long name
        ("bob@outlok.com", False, False, False, "outlook.com"),
        ("bob@gmai.com", False, False, False, "gmail.com"),
        ("bob@yahooo.com", False, False, False, "yahoo.com"),
        ("bob@acme.example", False, False, False, ""),
        ("bob@mail.com", True, False, False, ""),  # a real provider one edit from gmail.com is no typo
    ],
)
def test_address_flags(address: str, free: bool, role: bool, disposable: bool, suggestion: str) -> None:
    local, _, domain = address.rpartition("@")
    assert flags.is_free(domain) is free
    assert flags.is_role(local) is role
    assert flags.is_disposable(domain) is disposable
    assert flags.suggest_domain(domain) == suggestion


def test_the_disposable_list_is_the_maintained_one() -> None:
    assert len(flags.DISPOSABLE_DOMAINS) > 5000
    assert {"mailinator.com", "yopmail.com", "guerrillamail.com"} <= flags.DISPOSABLE_DOMAINS
    assert not flags.FREE_DOMAINS & flags.DISPOSABLE_DOMAINS


def test_text_rows_skip_blanks_but_not_lines_starting_with_hash() -> None:
    rows = list(emailcheck.read_rows(b"#tag@x.example\na@x.example\n\n  b@x.example  \r\n"))
    assert rows == [(1, "#tag@x.example"), (2, "a@x.example"), (4, "b@x.example")]


def test_a_huge_line_is_a_bad_row_and_the_next_lines_still_count() -> None:
    data = b"a@x.example\n" + b"x" * (3 * emailcheck.MAX_LINE) + b"\nb@x.example\n"
    rows = list(emailcheck.read_rows(io.BytesIO(data)))
    assert rows == [
        (1, "a@x.example"),
        BadRow(2, f"line longer than {emailcheck.MAX_LINE} bytes, skipped"),
        (3, "b@x.example"),
    ]


def test_rows_stream_from_a_file_without_reading_it_all() -> None:
    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = b"someone@x.example\n" * (len(buffer) // 18)
            buffer[: len(chunk)] = chunk
            return len(chunk)

    rows = emailcheck.read_rows(io.BufferedReader(Endless()), csv_format=False)
    assert [next(rows) for _ in range(3)] == [
        (1, "someone@x.example"),
        (2, "someone@x.example"),
        (3, "someone@x.example"),
    ]


def test_csv_rows_use_the_email_column_and_report_bad_rows_with_line_numbers() -> None:
    data = b"name,email\nAlice,a@x.example\nBob\nCarol,\nDan,d@x.example\n\xff\xfe,e@x.example\n"
    rows = sorted(emailcheck.read_rows(data), key=lambda r: r.line if isinstance(r, BadRow) else r[0])
    assert rows == [
        (2, "a@x.example"),
        BadRow(3, "1 columns where the header has 2"),
        BadRow(4, "no address in the email column"),
        (5, "d@x.example"),
        BadRow(6, "not UTF-8 (invalid start byte at byte 0)"),
    ]


def test_csv_without_header_uses_the_first_column() -> None:
    assert list(emailcheck.read_rows(b"a@x.example,Alice\nb@x.example,Bob\n")) == [
        (1, "a@x.example"),
        (2, "b@x.example"),
    ]


def test_resume_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    state = emailcheck.ResumeState(path)
    state.record(EmailResult("a@x.example", Verdict.INVALID, "mailbox does not exist", line=3))
    state.close()
    path.open("a").write("{truncated by a crash\n")
    again = emailcheck.ResumeState(path)
    assert list(again.done) == [(3, "a@x.example")]
    assert again.done[(3, "a@x.example")].result is Verdict.INVALID
    again.close()
