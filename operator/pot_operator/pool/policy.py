"""A pool's policy and its pure decisions: the spec as policy objects, auto-pause and resume, worker replicas.

Called by the pool controller's observe and plan steps and, for the pool's policy, by the campaign
controller. No I/O here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Mapping
from typing import Any

from pot_common.api.pool import MailboxPoolSpec
from pot_common.warmup import CurveShape, WarmupCurve

from pot_operator.conditions import parse_rfc3339
from pot_operator.db import PoolRow
from pot_operator.health import Thresholds, WindowCounts, breached, cooling_fraction_exceeded

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclasses.dataclass(frozen=True)
class PoolPolicy:
    """What a mailbox needs from its pool to compute its status and limits."""

    name: str
    curve: WarmupCurve
    thresholds: Thresholds
    per_inbox_per_day: int
    per_inbox_per_hour: int
    min_spacing_seconds: int
    cooldowns_enabled: bool
    resume_after_cooldown: bool
    paused: bool


def thresholds_from_spec(spec: MailboxPoolSpec) -> Thresholds:
    h = spec.health
    deferral_pause = h.deferral_rate_pause_basis_points / 10000
    return Thresholds(
        bounce_warn=h.bounce_rate_warn_basis_points / 10000,
        bounce_pause=h.bounce_rate_pause_basis_points / 10000,
        complaint_warn=h.complaint_rate_warn_basis_points / 10000,
        complaint_pause=h.complaint_rate_pause_basis_points / 10000,
        # The API has no deferral warning level: warn at a third of the pause level.
        deferral_warn=deferral_pause / 3,
        deferral_pause=deferral_pause,
        min_sample=h.min_sample,
        window_seconds=h.window_seconds,
        cooldown_seconds=h.cooldown_seconds,
        resume_cap_factor=h.cooldown_cap_percent / 100,
        # The reduced cap after a cooldown lasts as long as the cooldown did.
        recovery_seconds=h.cooldown_seconds,
        max_cooling_fraction=h.max_cooling_percent / 100,
    )


def policy_from_spec(name: str, spec: MailboxPoolSpec, *, paused: bool) -> PoolPolicy:
    w = spec.warmup
    return PoolPolicy(
        name=name,
        curve=WarmupCurve(
            days=w.days,
            start=min(w.start_volume, w.max_volume),
            maximum=w.max_volume,
            shape=CurveShape(w.curve),
        ),
        thresholds=thresholds_from_spec(spec),
        per_inbox_per_day=spec.limits.per_inbox_per_day,
        per_inbox_per_hour=spec.limits.per_inbox_per_hour,
        min_spacing_seconds=spec.limits.min_spacing_seconds,
        cooldowns_enabled=spec.auto_pause.enabled and spec.health.cooldown_seconds > 0,
        resume_after_cooldown=spec.auto_pause.resume == "afterCooldown",
        paused=paused,
    )


def pool_row(namespace: str, name: str, spec: MailboxPoolSpec, paused: bool) -> PoolRow:
    """The pool's limits, sending window and pause state as its workers read them from Postgres."""
    w = spec.sending_window
    return PoolRow(
        namespace=namespace,
        name=name,
        domain_hourly_limit=spec.limits.per_recipient_domain_per_hour,
        window_start=dt.time.fromisoformat(w.start) if w else None,
        window_end=dt.time.fromisoformat(w.end) if w else None,
        time_zone=w.time_zone if w else "UTC",
        window_days=[WEEKDAYS.index(d) + 1 for d in w.days] if w else [1, 2, 3, 4, 5, 6, 7],
        paused=paused,
    )


class ResumePolicy(enum.StrEnum):
    """How an auto-paused pool comes back."""

    # A person looks first: resume when spec.resumeAfter (or the acknowledgement) is at or past the pause.
    MANUAL = "manual"
    # Resume by itself `resume_after_seconds` after the pause.
    AFTER_DELAY = "after-delay"


@dataclasses.dataclass(frozen=True)
class PauseState:
    """What the operator remembers about an automatic pause (kept in Postgres across restarts)."""

    paused_at: dt.datetime | None = None
    reason: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pausedAt": self.paused_at.isoformat() if self.paused_at else None,
            "reason": self.reason,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PauseState:
        return cls(
            paused_at=parse_rfc3339(data.get("pausedAt")),
            reason=data.get("reason"),
            message=data.get("message"),
        )


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


Recommendation = tuple[dt.datetime, int]


def stabilized_replicas(
    recommended: int,
    *,
    current: int | None,
    history: tuple[Recommendation, ...],
    now: dt.datetime,
    window_seconds: float,
    max_replicas: int,
    paused: bool,
) -> tuple[int, tuple[Recommendation, ...]]:
    """The replicas to run, and the recommendations to remember, stabilized as the HorizontalPodAutoscaler's
    scale-down is.

    Up at once; never down while work remains (a recommendation above zero); and once none remains, down
    to the recommendation only when no recommendation of the last `window_seconds` asked for work: one
    scale-down, at the end. A burst of claims that empties the due queue for a moment must not stop the
    workers the next minute needs. A pause stops them at once.
    """
    kept = tuple((at, r) for at, r in history if (now - at).total_seconds() < window_seconds)
    kept += ((now, recommended),)
    if paused:
        return recommended, kept
    target = recommended
    running = current or 0
    if recommended > 0 or any(r > 0 for _, r in kept):
        target = max(recommended, running)
    return min(target, max(0, max_replicas)), kept
