"""Unit tests for the warmup curve, the held warmup day and today's effective cap."""

import datetime as dt

import pytest
from pot_operator.warmup import (
    CurveShape,
    WarmupCurve,
    WarmupProgress,
    advance_warmup,
    effective_daily_cap,
    warmup_cap,
)

LINEAR = WarmupCurve(days=20, start=5, maximum=45)
GENTLE = WarmupCurve(days=20, start=5, maximum=45, shape=CurveShape.GENTLE)


def test_linear_curve_starts_at_start_and_reaches_maximum_on_last_day() -> None:
    assert warmup_cap(LINEAR, 0) == 5
    assert warmup_cap(LINEAR, 10) == 25
    assert warmup_cap(LINEAR, 20) == 45
    assert warmup_cap(LINEAR, 400) == 45
    assert warmup_cap(LINEAR, -3) == 5


def test_gentle_curve_is_below_linear_in_between_and_meets_it_at_the_ends() -> None:
    for day in range(1, 20):
        assert warmup_cap(GENTLE, day) <= warmup_cap(LINEAR, day)
    assert warmup_cap(GENTLE, 5) < warmup_cap(LINEAR, 5)
    assert warmup_cap(GENTLE, 0) == 5
    assert warmup_cap(GENTLE, 20) == 45


@pytest.mark.parametrize("curve", [LINEAR, GENTLE])
def test_curves_never_decrease(curve: WarmupCurve) -> None:
    caps = [warmup_cap(curve, d) for d in range(0, 30)]
    assert caps == sorted(caps)


def test_invalid_curves_are_rejected() -> None:
    with pytest.raises(ValueError):
        WarmupCurve(days=0, start=1, maximum=2)
    with pytest.raises(ValueError):
        WarmupCurve(days=10, start=30, maximum=20)


def test_day_counts_from_the_start_date() -> None:
    start = dt.date(2026, 3, 1)
    assert advance_warmup(start, dt.date(2026, 3, 11), None, held=False).day == 10
    assert advance_warmup(start, start, None, held=False).day == 0
    future = advance_warmup(start, dt.date(2026, 2, 20), None, held=False)
    assert future.day == 0 and future.held_days == 0


def test_day_does_not_advance_while_held_and_resumes_afterwards() -> None:
    start = dt.date(2026, 3, 1)
    p = advance_warmup(start, dt.date(2026, 3, 5), None, held=False)
    assert p.day == 4
    p = advance_warmup(start, dt.date(2026, 3, 8), p, held=True)
    assert (p.day, p.held_days) == (4, 3)
    # Re-evaluating the same day while still held adds nothing.
    p = advance_warmup(start, dt.date(2026, 3, 8), p, held=True)
    assert (p.day, p.held_days) == (4, 3)
    p = advance_warmup(start, dt.date(2026, 3, 10), p, held=False)
    assert (p.day, p.held_days) == (6, 3)


def test_effective_cap_is_bounded_by_the_inbox_cap_and_zero_while_held() -> None:
    assert effective_daily_cap(LINEAR, 20, 30, held=False) == 30
    assert effective_daily_cap(LINEAR, 0, 30, held=False) == 5
    assert effective_daily_cap(LINEAR, 20, 30, held=True) == 0


def test_reduced_factor_after_cooldown_keeps_at_least_one() -> None:
    assert effective_daily_cap(LINEAR, 20, 40, held=False, reduced_factor=0.5) == 20
    assert (
        effective_daily_cap(WarmupCurve(days=5, start=1, maximum=1), 0, 40, held=False, reduced_factor=0.1)
        == 1
    )
    assert effective_daily_cap(LINEAR, 20, 0, held=False, reduced_factor=0.5) == 0


def test_progress_is_plain_data() -> None:
    p = WarmupProgress(day=1, held_days=0, evaluated_on=dt.date(2026, 1, 1))
    assert p == WarmupProgress(1, 0, dt.date(2026, 1, 1))
