"""The checker's pure parts: syntax and RFC 5321 lengths, reply classification, pacing, input rows, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pot_common.addresses import check_syntax
from pot_deliverability import emailcheck
from pot_deliverability.emailcheck import BadRow, EmailResult, Verdict
from pot_deliverability.emailcheck.pacing import DomainPacer, Politeness, as_finished
from pot_deliverability.emailcheck.probe import classify_rcpt


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
        (550, "5.7.1 Blocked", Verdict.UNKNOWN),
        (450, "4.7.1 Greylisted", Verdict.UNKNOWN),
        (421, "Try later", Verdict.UNKNOWN),
        (554, "5.0.0 Rejected", Verdict.INVALID),
    ],
)
def test_rcpt_replies_are_classified(code: int, message: str, verdict: Verdict) -> None:
    assert classify_rcpt(code, message)[0] is verdict


def test_pacer_spaces_starts_per_domain() -> None:
    now = [100.0]
    pacer = DomainPacer(2.0, clock=lambda: now[0])
    assert [pacer.reserve("a.example") for _ in range(3)] == [0.0, 2.0, 4.0]
    assert pacer.reserve("b.example") == 0.0
    now[0] = 110.0
    assert pacer.reserve("a.example") == 0.0


async def test_politeness_holds_at_most_the_domain_s_slots() -> None:
    politeness = Politeness(concurrency=2, interval=0.0)
    inside = {"a.example": 0, "b.example": 0}
    most = {"a.example": 0, "b.example": 0}

    async def session(domain: str) -> None:
        async with politeness.turn(domain):
            inside[domain] += 1
            most[domain] = max(most[domain], inside[domain])
            await asyncio.sleep(0.001)
            inside[domain] -= 1

    await asyncio.gather(*(session(d) for d in ["a.example"] * 6 + ["b.example"]))
    assert most == {"a.example": 2, "b.example": 1}


async def test_as_finished_runs_every_item_with_bounded_workers() -> None:
    running = [0, 0]  # now, most

    async def work(n: int) -> int:
        running[0] += 1
        running[1] = max(running[1], running[0])
        await asyncio.sleep(0.001 * (n % 3))
        running[0] -= 1
        return n * n

    results = [r async for r in as_finished(range(20), work, workers=4)]
    assert sorted(results) == [n * n for n in range(20)]
    assert running[1] == 4


def test_text_rows_skip_blanks_and_comments() -> None:
    rows = list(emailcheck.read_rows(b"# list\na@x.example\n\n  b@x.example  \n"))
    assert rows == [(2, "a@x.example"), (4, "b@x.example")]


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
