"""Unit tests for the warmup curve, the held warmup day and today's effective cap."""

import datetime as dt

import pytest
from pot_common.warmup import CurveShape, WarmupCurve, warmup_cap
from pot_operator.warmup import WarmupProgress, advance_warmup, effective_daily_cap

LINEAR = WarmupCurve(days=20, start=5, maximum=45)
GENTLE = WarmupCurve(days=20, start=5, maximum=45, shape=CurveShape.GENTLE)


def test_linear_curve_starts_on_day_one_and_reaches_maximum_on_the_last_day() -> None:
    assert warmup_cap(LINEAR, 1) == 5
    assert warmup_cap(LINEAR, 11) == 5 + (40 * 10) // 19
    assert warmup_cap(LINEAR, 20) == 45
    assert warmup_cap(LINEAR, 400) == 45


def test_nothing_before_warmup_starts() -> None:
    assert warmup_cap(LINEAR, 0) == 0
    assert warmup_cap(LINEAR, -3) == 0


def test_one_day_curve_jumps_to_maximum() -> None:
    one = WarmupCurve(days=1, start=5, maximum=45)
    assert (warmup_cap(one, 1), warmup_cap(one, 2)) == (5, 45)


def test_gentle_curve_is_below_linear_in_between_and_meets_it_at_the_ends() -> None:
    for day in range(1, 21):
        assert warmup_cap(GENTLE, day) <= warmup_cap(LINEAR, day)
    assert warmup_cap(GENTLE, 6) < warmup_cap(LINEAR, 6)
    assert warmup_cap(GENTLE, 1) == 5
    assert warmup_cap(GENTLE, 20) == 45


@pytest.mark.parametrize("curve", [LINEAR, GENTLE])
def test_curves_never_decrease(curve: WarmupCurve) -> None:
    caps = [warmup_cap(curve, d) for d in range(0, 30)]
    assert caps[1] == curve.start
    assert caps == sorted(caps)


def test_invalid_curves_are_rejected() -> None:
    with pytest.raises(ValueError):
        WarmupCurve(days=0, start=1, maximum=2)
    with pytest.raises(ValueError):
        WarmupCurve(days=10, start=30, maximum=20)


def test_day_counts_from_the_start_date() -> None:
    start = dt.date(2026, 3, 1)
    assert advance_warmup(start, dt.date(2026, 3, 11), None, held=False).day == 11
    assert advance_warmup(start, start, None, held=False).day == 1
    future = advance_warmup(start, dt.date(2026, 2, 20), None, held=False)
    assert future.day == 0 and future.held_days == 0


def test_day_does_not_advance_while_held_and_resumes_afterwards() -> None:
    start = dt.date(2026, 3, 1)
    p = advance_warmup(start, dt.date(2026, 3, 5), None, held=False)
    assert p.day == 5
    p = advance_warmup(start, dt.date(2026, 3, 8), p, held=True)
    assert (p.day, p.held_days) == (5, 3)
    # Re-evaluating the same day while still held adds nothing.
    p = advance_warmup(start, dt.date(2026, 3, 8), p, held=True)
    assert (p.day, p.held_days) == (5, 3)
    p = advance_warmup(start, dt.date(2026, 3, 10), p, held=False)
    assert (p.day, p.held_days) == (7, 3)


def test_days_before_the_first_evaluation_count_as_warming() -> None:
    p = advance_warmup(dt.date(2026, 3, 1), dt.date(2026, 3, 4), None, held=True)
    assert (p.day, p.held_days) == (4, 0)
    p = advance_warmup(dt.date(2026, 3, 1), dt.date(2026, 3, 6), p, held=True)
    assert (p.day, p.held_days) == (4, 2)


def test_effective_cap_is_bounded_by_the_inbox_cap_and_zero_while_held() -> None:
    assert effective_daily_cap(LINEAR, 20, 30, held=False) == 30
    assert effective_daily_cap(LINEAR, 1, 30, held=False) == 5
    assert effective_daily_cap(LINEAR, 20, 30, held=True) == 0


def test_reduced_factor_after_cooldown_keeps_at_least_one() -> None:
    assert effective_daily_cap(LINEAR, 20, 40, held=False, reduced_factor=0.5) == 20
    assert (
        effective_daily_cap(WarmupCurve(days=5, start=1, maximum=1), 1, 40, held=False, reduced_factor=0.1)
        == 1
    )
    assert effective_daily_cap(LINEAR, 20, 0, held=False, reduced_factor=0.5) == 0


def test_progress_is_plain_data() -> None:
    p = WarmupProgress(day=1, held_days=0, evaluated_on=dt.date(2026, 1, 1))
    assert p == WarmupProgress(1, 0, dt.date(2026, 1, 1))
