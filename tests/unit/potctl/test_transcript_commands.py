"""How potctl finds a job's transcript among the day's objects and words retention rules, pure
(potctl.transcript_commands; against the real store in tests/integration/transcripts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, Rule
from potctl.transcript_commands import (
    LOOKBACK,
    Candidate,
    candidate,
    days,
    line_text,
    ordered,
    retention_target,
    rules_after,
)

DAY = date(2026, 3, 2)


def at(hms: str, day: date = DAY) -> datetime:
    return datetime.strptime(f"{day} {hms}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_a_key_is_a_candidate_only_when_its_job_range_holds_the_job() -> None:
    key = "acme/outreach/2026-03-02/100000-100005-7-42-host-1-abc123-000003.jsonl.gz"
    assert candidate(key, DAY, 7) == Candidate(key, at("10:00:00"))
    assert candidate(key, DAY, 42) is not None
    assert candidate(key, DAY, 43) is None and candidate(key, DAY, 6) is None
    assert candidate("acme/outreach/2026-03-02/something-else.json", DAY, 7) is None


def test_candidates_that_began_just_before_an_attempt_come_first_and_later_ones_not_at_all() -> None:
    attempts = [at("10:00:30"), at("12:00:00")]
    near = Candidate("a", at("10:00:25"))
    second = Candidate("b", at("11:59:58"))
    far = Candidate("c", at("09:00:00"))
    after = Candidate("d", at("12:05:00"))  # began after every attempt: cannot hold one
    too_old = Candidate("e", at("10:00:30") - LOOKBACK - timedelta(minutes=5))
    assert ordered([far, after, second, near, too_old], attempts) == [second, near, far]


def test_the_days_searched_reach_back_one_lookback_from_each_attempt() -> None:
    assert days([at("00:10:00")]) == [date(2026, 3, 1), DAY]
    assert days([at("10:00:00"), at("10:00:00", date(2026, 3, 4))]) == [
        date(2026, 3, 1),
        DAY,
        date(2026, 3, 3),
        date(2026, 3, 4),
    ]


def test_a_tape_line_prints_utc_microseconds_and_one_line_per_reply_line() -> None:
    stamp = at("10:00:00").timestamp() + 0.25
    assert list(line_text([stamp, ">", "MAIL FROM:<a@b.test>"])) == [
        "2026-03-02T10:00:00.250000Z > MAIL FROM:<a@b.test>"
    ]
    assert list(line_text([stamp, "<", "250-smtp.test\n250 SIZE 1000"])) == [
        "2026-03-02T10:00:00.250000Z < 250-smtp.test",
        "2026-03-02T10:00:00.250000Z < 250 SIZE 1000",
    ]
    assert list(line_text([stamp, "<", "550 \x1b[2Jgone"])) == [
        "2026-03-02T10:00:00.250000Z < 550 \\x1b[2Jgone"
    ]


def test_retention_rules_are_one_per_prefix_set_replaced_or_removed() -> None:
    other = Rule(
        ENABLED, rule_filter=Filter(prefix="beta/"), rule_id="someone-else", expiration=Expiration(days=3)
    )
    rules = rules_after([other], retention_target("acme"), 30)
    assert [(r.rule_id, r.rule_filter.prefix, r.expiration.days) for r in rules] == [
        ("someone-else", "beta/", 3),
        ("pot-retention-acme", "acme/", 30),
    ]
    rules = rules_after(rules, retention_target("acme"), 7)
    assert [r.expiration.days for r in rules if r.rule_id == "pot-retention-acme"] == [7]
    pool = rules_after(rules, retention_target("acme/outreach"), 2)
    assert {r.rule_filter.prefix for r in pool} == {"beta/", "acme/", "acme/outreach/"}
    assert [r.rule_id for r in rules_after(pool, "acme/", None)] == [
        "someone-else",
        "pot-retention-acme.outreach",
    ]
