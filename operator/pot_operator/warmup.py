"""Warmup progress and today's effective cap of a mailbox; pure functions used by the Mailbox controller.

The curve itself (shape, cap per warmup day) is pot_common.warmup, which the console draws too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from pot_common.warmup import WarmupCurve, warmup_cap


@dataclasses.dataclass(frozen=True)
class WarmupProgress:
    """Where a mailbox is on its curve; kept in status so a held day survives operator restarts."""

    day: int
    held_days: int
    evaluated_on: dt.date


def advance_warmup(
    start: dt.date, today: dt.date, previous: WarmupProgress | None, *, held: bool
) -> WarmupProgress:
    """The warmup day for `today`: 1 on the start date, plus the days since, minus the days held.

    A mailbox is held while it is paused or cooling down. Days between two evaluations count as
    held when the mailbox is held at the later one; the operator evaluates far more often than
    daily, so the error is at most the part of one day. Before the start date the day is 0; days
    before the first evaluation count as warming.
    """
    if today < start:
        return WarmupProgress(day=0, held_days=0, evaluated_on=today)
    held_days = previous.held_days if previous is not None else 0
    if held:
        # Nothing is known about the days before the first evaluation: they count as warming.
        since = max(previous.evaluated_on, start) if previous is not None else today
        held_days += max(0, (today - since).days)
    elapsed = (today - start).days
    held_days = min(held_days, elapsed)
    return WarmupProgress(day=elapsed - held_days + 1, held_days=held_days, evaluated_on=today)


def effective_daily_cap(
    curve: WarmupCurve,
    day: int,
    inbox_daily_cap: int,
    *,
    held: bool,
    reduced_factor: float | None = None,
) -> int:
    """Today's cap: the curve's volume, never above the pool's per-inbox cap; 0 while held.

    `reduced_factor` (0 to 1) applies after a cooldown: the mailbox resumes at a fraction of its cap,
    at least one message a day so it can prove it recovered.
    """
    if held:
        return 0
    cap = min(warmup_cap(curve, day), max(0, inbox_daily_cap))
    if reduced_factor is not None and cap > 0:
        cap = max(1, math.floor(cap * min(1.0, max(0.0, reduced_factor))))
    return cap
