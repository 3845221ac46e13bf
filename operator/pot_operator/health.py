"""Mailbox health: window rates, the 0-100 score and the cooldown decision; pure, used by the controllers.

Health score (documented in docs/operator.md):

    score = round(100 * (1 - sum(weight_k * min(1, rate_k / pause_threshold_k))))

with weights bounce 0.5, complaint 0.35, deferral 0.15. A rate at or above its pause threshold
takes its whole weight. Below the minimum sample (`attempted < min_sample`) the rates are not yet
meaningful: the score is 100 and `sample_sufficient` is false.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

SCORE_WEIGHTS = {"bounce": 0.5, "complaint": 0.35, "deferral": 0.15}


@dataclasses.dataclass(frozen=True)
class WindowCounts:
    """Delivery outcomes in a rolling window; `attempted` is the denominator of every rate."""

    attempted: int = 0
    bounced: int = 0
    complained: int = 0
    deferred: int = 0
    # Accepted by the recipient's server; shown in status, not part of any rate.
    sent: int = 0

    def __add__(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(
            attempted=self.attempted + other.attempted,
            bounced=self.bounced + other.bounced,
            complained=self.complained + other.complained,
            deferred=self.deferred + other.deferred,
            sent=self.sent + other.sent,
        )


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """A pool's health thresholds; defaults follow mailbox-provider guidance (docs/operator.md)."""

    bounce_warn: float = 0.02
    bounce_pause: float = 0.05
    complaint_warn: float = 0.001
    complaint_pause: float = 0.003
    deferral_warn: float = 0.10
    deferral_pause: float = 0.30
    min_sample: int = 20
    window_seconds: int = 7 * 86400
    cooldown_seconds: int = 86400
    resume_cap_factor: float = 0.5
    recovery_seconds: int = 86400
    max_cooling_fraction: float = 0.25


@dataclasses.dataclass(frozen=True)
class Rates:
    bounce: float
    complaint: float
    deferral: float


def rates(counts: WindowCounts) -> Rates:
    """Fractions 0-1 of the attempts; all zero when nothing was attempted."""
    if counts.attempted <= 0:
        return Rates(0.0, 0.0, 0.0)
    n = counts.attempted
    return Rates(
        bounce=min(1.0, counts.bounced / n),
        complaint=min(1.0, counts.complained / n),
        deferral=min(1.0, counts.deferred / n),
    )


def basis_points(r: Rates) -> dict[str, int]:
    """The rates as status shows them, in whole basis points (CRD schemas handle floats badly)."""
    return {
        "bounceRateBasisPoints": round(r.bounce * 10000),
        "complaintRateBasisPoints": round(r.complaint * 10000),
        "deferralRateBasisPoints": round(r.deferral * 10000),
    }


@dataclasses.dataclass(frozen=True)
class Health:
    score: int
    rates: Rates
    sample_sufficient: bool


def _share(rate: float, pause: float) -> float:
    if pause <= 0:
        return 1.0 if rate > 0 else 0.0
    return min(1.0, rate / pause)


def health_score(counts: WindowCounts, thresholds: Thresholds) -> Health:
    """The score of the module docstring, with the rates it was computed from."""
    r = rates(counts)
    if counts.attempted < thresholds.min_sample:
        return Health(score=100, rates=r, sample_sufficient=False)
    penalty = (
        SCORE_WEIGHTS["bounce"] * _share(r.bounce, thresholds.bounce_pause)
        + SCORE_WEIGHTS["complaint"] * _share(r.complaint, thresholds.complaint_pause)
        + SCORE_WEIGHTS["deferral"] * _share(r.deferral, thresholds.deferral_pause)
    )
    return Health(score=max(0, min(100, round(100 * (1 - penalty)))), rates=r, sample_sufficient=True)


def breached(counts: WindowCounts, thresholds: Thresholds, *, level: str = "pause") -> list[str]:
    """CamelCase reasons whose rate is at or over the `pause` (or `warn`) threshold; none under min sample."""
    if counts.attempted < thresholds.min_sample:
        return []
    r = rates(counts)
    limits = {
        "BounceRateHigh": (r.bounce, getattr(thresholds, f"bounce_{level}")),
        "ComplaintRateHigh": (r.complaint, getattr(thresholds, f"complaint_{level}")),
        "DeferralRateHigh": (r.deferral, getattr(thresholds, f"deferral_{level}")),
    }
    return [reason for reason, (rate, limit) in limits.items() if rate >= limit]


@dataclasses.dataclass(frozen=True)
class CooldownState:
    """What status remembers about cooldowns: when one ends and when the last one ended."""

    until: dt.datetime | None = None
    reason: str | None = None
    resumed_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class CooldownDecision:
    state: CooldownState
    started: bool  # a new cooldown began now (emit an Event)
    ended: bool  # a cooldown ended now (emit an Event)

    @property
    def cooling(self) -> bool:
        return self.state.until is not None


def window_start(now: dt.datetime, thresholds: Thresholds, resumed_at: dt.datetime | None) -> dt.datetime:
    """Events before the last resume do not count again: they caused the cooldown that just ended."""
    start = now - dt.timedelta(seconds=thresholds.window_seconds)
    return max(start, resumed_at) if resumed_at is not None else start


def decide_cooldown(
    counts: WindowCounts, thresholds: Thresholds, previous: CooldownState, now: dt.datetime
) -> CooldownDecision:
    """Cool down when a rate breaches its pause threshold (with min sample); end at `until`."""
    if previous.until is not None:
        if now < previous.until:
            return CooldownDecision(previous, started=False, ended=False)
        return CooldownDecision(CooldownState(None, None, previous.until), started=False, ended=True)
    reasons = breached(counts, thresholds)
    if reasons:
        until = now + dt.timedelta(seconds=thresholds.cooldown_seconds)
        return CooldownDecision(
            CooldownState(until=until, reason=reasons[0], resumed_at=previous.resumed_at),
            started=True,
            ended=False,
        )
    return CooldownDecision(previous, started=False, ended=False)


def reduced_cap_factor(
    thresholds: Thresholds, resumed_at: dt.datetime | None, now: dt.datetime
) -> float | None:
    """The cap factor while the mailbox recovers after a cooldown; None once it has recovered."""
    if resumed_at is None:
        return None
    if now - resumed_at < dt.timedelta(seconds=thresholds.recovery_seconds):
        return thresholds.resume_cap_factor
    return None


def cooling_fraction_exceeded(total: int, cooling: int, thresholds: Thresholds) -> bool:
    """Too many of a pool's mailboxes cooling at once points at the pool (content, list), not one inbox."""
    if total <= 0:
        return False
    return cooling / total > thresholds.max_cooling_fraction and cooling >= max(
        1, math.ceil(total * thresholds.max_cooling_fraction)
    )
