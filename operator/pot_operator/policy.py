"""Translates a MailboxPool spec (pot_common.api) into the pure policy objects; used by both controllers."""

from __future__ import annotations

import dataclasses

from pot_common.api.pool import MailboxPoolSpec

from pot_operator.health import Thresholds
from pot_operator.warmup import CurveShape, WarmupCurve


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
