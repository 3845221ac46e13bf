"""Pool decisions: auto-pause, resume and worker replicas; pure functions called by the pool controller."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math

from pot_operator.health import Thresholds, WindowCounts, breached, cooling_fraction_exceeded


class ResumePolicy(enum.StrEnum):
    """How an auto-paused pool comes back."""

    # A person looks first: resume when spec.resumeAfter (or the acknowledgement) is at or past the pause.
    MANUAL = "manual"
    # Resume by itself `resume_after_seconds` after the pause.
    AFTER_DELAY = "after-delay"


@dataclasses.dataclass(frozen=True)
class PauseState:
    """What status remembers about an automatic pause."""

    paused_at: dt.datetime | None = None
    reason: str | None = None
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class PauseDecision:
    state: PauseState
    started: bool  # the pool paused now: Event + alert
    resumed: bool  # the pool resumed now: Event + alert

    @property
    def paused(self) -> bool:
        return self.state.paused_at is not None


def decide_auto_pause(
    counts: WindowCounts,
    thresholds: Thresholds,
    *,
    mailboxes_total: int,
    mailboxes_cooling: int,
    previous: PauseState,
    now: dt.datetime,
    policy: ResumePolicy,
    resume_after_seconds: int,
    acknowledged_at: dt.datetime | None,
) -> PauseDecision:
    """Pause on a breached threshold or too many cooling mailboxes; resume by policy or acknowledgment."""
    if previous.paused_at is not None:
        acknowledged = acknowledged_at is not None and acknowledged_at >= previous.paused_at
        waited = policy is ResumePolicy.AFTER_DELAY and now - previous.paused_at >= dt.timedelta(
            seconds=resume_after_seconds
        )
        if acknowledged or waited:
            return PauseDecision(PauseState(), started=False, resumed=True)
        return PauseDecision(previous, started=False, resumed=False)
    reasons = breached(counts, thresholds)
    if reasons:
        message = _rates_message(counts)
        return PauseDecision(PauseState(now, reasons[0], message), started=True, resumed=False)
    if cooling_fraction_exceeded(mailboxes_total, mailboxes_cooling, thresholds):
        message = f"{mailboxes_cooling} of {mailboxes_total} mailboxes are cooling down"
        return PauseDecision(PauseState(now, "TooManyMailboxesCooling", message), started=True, resumed=False)
    return PauseDecision(previous, started=False, resumed=False)


def _rates_message(counts: WindowCounts) -> str:
    n = max(1, counts.attempted)
    return (
        f"bounce {counts.bounced / n:.2%}, complaint {counts.complained / n:.2%}, "
        f"deferral {counts.deferred / n:.2%} over {counts.attempted} attempts"
    )


def warnings(counts: WindowCounts, thresholds: Thresholds) -> list[str]:
    """Rates over a warn threshold: a Degraded condition, not yet a pause."""
    return breached(counts, thresholds, level="warn")


def desired_replicas(
    *,
    due_jobs: int,
    capacity_remaining: int,
    sends_per_worker: int,
    min_replicas: int,
    max_replicas: int,
    paused: bool,
) -> int:
    """Workers for the sendable backlog (due jobs the pool may still send today), within min and max.

    Zero when paused or nothing is sendable: an idle worker costs a pod and a database connection.
    """
    if paused or max_replicas <= 0:
        return 0
    sendable = min(max(0, due_jobs), max(0, capacity_remaining))
    if sendable == 0:
        return 0
    wanted = math.ceil(sendable / max(1, sends_per_worker))
    return max(1, min(max_replicas, max(min_replicas, wanted)))
