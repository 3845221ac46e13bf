"""Reply classification: SMTP phase + basic and enhanced status code -> outcome -> what to do with the job.

Pure functions; the sender calls `classify` on every reply and `decide` to turn it into a job transition.
The table is in docs/worker.md ("Reply classification").
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from pot_worker.retry import RetryPolicy

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class Phase(enum.StrEnum):
    """Where in the SMTP dialogue the reply (or the failure) came."""

    CONNECT = "connect"  # no connection, TLS failure, greeting refused: nothing sent
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the server answered the DATA command or the end of data
    DATA_LOST = "data_lost"  # the connection broke after DATA began: the server may have accepted it


class Outcome(enum.StrEnum):
    """Delivery outcomes; the values are the `outcome` label of pot_sends_total and delivery_events."""

    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    SOFT_BOUNCED = "soft_bounced"
    POLICY = "policy"
    FAILED = "failed"
    UNKNOWN = "unknown"
    AUTH_FAILED = "auth_failed"


def enhanced_code(message: str) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text, e.g. '5.1.1'."""
    match = _ENHANCED.match(message)
    return ".".join(match.groups()) if match else None


_AUTH_REFUSED = {530, 534, 535, 538}
_BAD_MAILBOX_BASIC = {550, 551, 553}


def classify(phase: Phase, code: int | None, enhanced: str | None) -> Outcome:
    """Map one reply to an outcome. `code` is None when there was no reply (connection failure)."""
    if phase is Phase.DATA_LOST:
        return Outcome.UNKNOWN
    if code is None:
        return Outcome.DEFERRED  # could not talk to the server: nothing was sent, try again later
    klass = code // 100
    if phase is Phase.AUTH:
        if klass == 4:
            return Outcome.DEFERRED
        if code in _AUTH_REFUSED or klass == 5:
            return Outcome.AUTH_FAILED
    if klass == 2:
        return Outcome.SENT
    # Enhanced codes are more specific than basic ones but must agree on the class (RFC 3463 §3).
    detail = enhanced if enhanced and enhanced[0] == str(klass) else None
    if klass == 4:
        return Outcome.DEFERRED
    if klass != 5:
        return Outcome.FAILED
    if phase is Phase.MAIL:
        # The sender was refused: a fact about the mailbox, not the recipient.
        return Outcome.POLICY
    if detail is not None:
        subject = detail.split(".")[1]
        if detail == "5.2.2":
            return Outcome.SOFT_BOUNCED
        if subject == "1":
            return Outcome.BOUNCED
        if subject == "7":
            return Outcome.POLICY
        return Outcome.FAILED
    if phase is Phase.RCPT and code == 552:
        return Outcome.SOFT_BOUNCED
    if phase is Phase.RCPT and code in _BAD_MAILBOX_BASIC:
        return Outcome.BOUNCED
    return Outcome.FAILED


class JobState(enum.StrEnum):
    """The send_jobs.state enum (common/pot_common/db/schema.sql)."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Decision:
    """What one attempt's outcome does to its job, its reservation and the world around it."""

    state: JobState
    next_attempt_at: datetime | None  # set for a retry
    attempts: int  # the job's attempt count after this decision
    release: bool  # give the limit reservation back: the server did not take the message
    suppress: bool  # add the address to the tenant's suppression list
    mailbox_bad: bool  # the mailbox's credentials were refused
    breaker_failure: bool  # a temporary failure the recipient's provider is answered for
    breaker_success: bool  # the provider answered normally


def returned_state(attempts: int) -> JobState:
    """The state of a job handed back without an attempt counted."""
    return JobState.QUEUED if attempts == 0 else JobState.DEFERRED


def decide(outcome: Outcome, phase: Phase, attempts: int, policy: RetryPolicy, now: datetime) -> Decision:
    """Turn an outcome into a job transition. `attempts` counts this attempt already."""
    provider_phase = phase in (Phase.MAIL, Phase.RCPT, Phase.DATA)
    if outcome is Outcome.SENT:
        return Decision(JobState.SENT, None, attempts, False, False, False, False, True)
    if outcome is Outcome.UNKNOWN:
        # Never retried: the server may hold the message. The reservation stays counted.
        return Decision(JobState.UNKNOWN, None, attempts, False, False, False, False, False)
    if outcome is Outcome.AUTH_FAILED:
        # The recipient was never reached: hand the job back uncounted for another mailbox.
        return Decision(returned_state(attempts - 1), now, attempts - 1, True, False, True, False, False)
    if outcome in (Outcome.DEFERRED, Outcome.SOFT_BOUNCED):
        retry_at = policy.next_attempt_at(attempts, now)
        state = JobState.FAILED if retry_at is None else JobState.DEFERRED
        failure = outcome is Outcome.DEFERRED and provider_phase
        return Decision(
            state, retry_at, attempts, True, False, False, failure, not failure and provider_phase
        )
    if outcome is Outcome.BOUNCED:
        return Decision(JobState.BOUNCED, None, attempts, True, True, False, False, True)
    return Decision(JobState.FAILED, None, attempts, True, False, False, False, provider_phase)
