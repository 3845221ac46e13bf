"""Reply classification and the job transitions it leads to (pot_worker.classify)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pot_worker.classify import JobState, Outcome, Phase, classify, decide, enhanced_code
from pot_worker.retry import RetryPolicy

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=60, cap_seconds=3600, max_attempts=3, uniform=lambda a, b: b)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("5.1.1 Recipient address rejected", "5.1.1"),
        ("  4.7.0 Too many", "4.7.0"),
        ("2.0.0 Ok: queued", "2.0.0"),
        ("Mailbox full", None),
        ("5.1 almost", None),
        ("3.1.1 not a class", None),
    ],
)
def test_enhanced_code_is_read_from_the_start_of_the_reply(reply: str, expected: str | None) -> None:
    assert enhanced_code(reply) == expected


@pytest.mark.parametrize(
    ("phase", "code", "enhanced", "outcome"),
    [
        (Phase.DATA, 250, "2.0.0", Outcome.SENT),
        (Phase.RCPT, 550, "5.1.1", Outcome.BOUNCED),  # sink bounce-*
        (Phase.RCPT, 552, "5.2.2", Outcome.SOFT_BOUNCED),  # sink full-*
        (Phase.RCPT, 451, "4.7.1", Outcome.DEFERRED),  # sink defer-*
        (Phase.RCPT, 421, "4.7.0", Outcome.DEFERRED),  # sink throttle-*
        (Phase.RCPT, 550, "5.7.1", Outcome.POLICY),  # sink spam-*
        (Phase.DATA_LOST, None, None, Outcome.UNKNOWN),  # sink drop-*
        (Phase.RCPT, 450, None, Outcome.DEFERRED),
        (Phase.RCPT, 452, "4.2.2", Outcome.DEFERRED),
        (Phase.DATA, 554, "5.7.515", Outcome.POLICY),  # Outlook's authentication requirement
        (Phase.RCPT, 550, None, Outcome.BOUNCED),  # no enhanced code: basic 550 at RCPT
        (Phase.RCPT, 553, None, Outcome.BOUNCED),
        (Phase.RCPT, 552, None, Outcome.SOFT_BOUNCED),
        (Phase.DATA, 552, None, Outcome.FAILED),  # message too big: not the mailbox being full
        (Phase.RCPT, 554, "5.3.4", Outcome.FAILED),
        (Phase.RCPT, 550, "4.1.1", Outcome.BOUNCED),  # enhanced class disagrees: basic code wins
        (Phase.MAIL, 550, "5.1.8", Outcome.POLICY),  # the sender was refused, not the recipient
        (Phase.MAIL, 451, "4.3.0", Outcome.DEFERRED),
        (Phase.AUTH, 535, "5.7.8", Outcome.AUTH_FAILED),
        (Phase.AUTH, 534, None, Outcome.AUTH_FAILED),
        (Phase.AUTH, 454, "4.7.0", Outcome.DEFERRED),  # temporary authentication failure
        (Phase.CONNECT, None, None, Outcome.DEFERRED),
        (Phase.DATA, 354, None, Outcome.FAILED),  # nonsense at the end of data is not success
    ],
)
def test_classify(phase: Phase, code: int | None, enhanced: str | None, outcome: Outcome) -> None:
    assert classify(phase, code, enhanced) is outcome


def test_sent_keeps_the_reservation_and_closes_the_circuit() -> None:
    d = decide(Outcome.SENT, Phase.DATA, 1, POLICY, NOW)
    assert (d.state, d.release, d.suppress, d.breaker_success) == (JobState.SENT, False, False, True)


def test_deferred_retries_on_the_policy_schedule_then_fails() -> None:
    first = decide(Outcome.DEFERRED, Phase.RCPT, 1, POLICY, NOW)
    assert first.state is JobState.DEFERRED
    assert first.next_attempt_at == NOW + timedelta(seconds=60)
    assert first.release and first.breaker_failure
    second = decide(Outcome.DEFERRED, Phase.RCPT, 2, POLICY, NOW)
    assert second.next_attempt_at == NOW + timedelta(seconds=120)
    last = decide(Outcome.DEFERRED, Phase.RCPT, 3, POLICY, NOW)
    assert last.state is JobState.FAILED and last.next_attempt_at is None


def test_connection_failure_to_the_submission_server_does_not_blame_the_recipient_provider() -> None:
    d = decide(Outcome.DEFERRED, Phase.CONNECT, 1, POLICY, NOW)
    assert d.state is JobState.DEFERRED and not d.breaker_failure


def test_hard_bounce_suppresses_and_releases() -> None:
    d = decide(Outcome.BOUNCED, Phase.RCPT, 1, POLICY, NOW)
    assert (d.state, d.suppress, d.release) == (JobState.BOUNCED, True, True)


def test_soft_bounce_is_retried_without_suppression_and_without_opening_the_circuit() -> None:
    d = decide(Outcome.SOFT_BOUNCED, Phase.RCPT, 1, POLICY, NOW)
    assert d.state is JobState.DEFERRED and not d.suppress and not d.breaker_failure


def test_policy_rejection_is_final_but_not_suppressed() -> None:
    d = decide(Outcome.POLICY, Phase.RCPT, 1, POLICY, NOW)
    assert (d.state, d.suppress, d.release) == (JobState.FAILED, False, True)


def test_unknown_is_final_and_keeps_its_reservation() -> None:
    d = decide(Outcome.UNKNOWN, Phase.DATA_LOST, 1, POLICY, NOW)
    assert (d.state, d.release, d.next_attempt_at) == (JobState.UNKNOWN, False, None)


def test_auth_failure_hands_the_job_back_uncounted_and_flags_the_mailbox() -> None:
    fresh = decide(Outcome.AUTH_FAILED, Phase.AUTH, 1, POLICY, NOW)
    assert (fresh.state, fresh.attempts, fresh.mailbox_bad, fresh.release) == (JobState.QUEUED, 0, True, True)
    retried = decide(Outcome.AUTH_FAILED, Phase.AUTH, 3, POLICY, NOW)
    assert (retried.state, retried.attempts) == (JobState.DEFERRED, 2)
