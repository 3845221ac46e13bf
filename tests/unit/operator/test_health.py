"""Unit tests for rates, the health score and the cooldown decision."""

import datetime as dt

from pot_operator.health import (
    CooldownState,
    Thresholds,
    WindowCounts,
    breached,
    cooling_fraction_exceeded,
    decide_cooldown,
    health_score,
    rates,
    reduced_cap_factor,
    window_start,
)

T = Thresholds()
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def test_rates_are_zero_without_attempts() -> None:
    r = rates(WindowCounts())
    assert (r.bounce, r.complaint, r.deferral) == (0.0, 0.0, 0.0)


def test_clean_window_scores_100() -> None:
    h = health_score(WindowCounts(attempted=100), T)
    assert h.score == 100 and h.sample_sufficient


def test_below_min_sample_scores_100_and_says_so() -> None:
    h = health_score(WindowCounts(attempted=19, bounced=19), T)
    assert h.score == 100 and not h.sample_sufficient
    assert h.rates.bounce == 1.0


def test_bounce_at_pause_threshold_takes_its_whole_weight() -> None:
    assert health_score(WindowCounts(attempted=100, bounced=5), T).score == 50
    assert health_score(WindowCounts(attempted=100, bounced=50), T).score == 50


def test_everything_at_or_over_threshold_scores_zero() -> None:
    counts = WindowCounts(attempted=100, bounced=10, complained=1, deferred=40)
    assert health_score(counts, T).score == 0


def test_score_falls_as_rates_rise() -> None:
    scores = [health_score(WindowCounts(attempted=200, bounced=b), T).score for b in range(0, 12)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]


def test_breached_names_each_rate_and_honours_min_sample() -> None:
    counts = WindowCounts(attempted=100, bounced=5, complained=1, deferred=30)
    assert breached(counts, T) == ["BounceRateHigh", "ComplaintRateHigh", "DeferralRateHigh"]
    assert breached(WindowCounts(attempted=100, bounced=2), T, level="warn") == ["BounceRateHigh"]
    assert breached(WindowCounts(attempted=10, bounced=10), T) == []


def test_cooldown_starts_on_breach_with_end_time() -> None:
    d = decide_cooldown(WindowCounts(attempted=40, bounced=4), T, CooldownState(), NOW)
    assert d.started and d.cooling
    assert d.state.until == NOW + dt.timedelta(seconds=T.cooldown_seconds)
    assert d.state.reason == "BounceRateHigh"


def test_no_cooldown_under_min_sample_or_threshold() -> None:
    assert not decide_cooldown(WindowCounts(attempted=10, bounced=10), T, CooldownState(), NOW).cooling
    assert not decide_cooldown(WindowCounts(attempted=100, bounced=4), T, CooldownState(), NOW).cooling


def test_cooldown_holds_until_its_end_then_resumes_with_resume_time() -> None:
    until = NOW + dt.timedelta(hours=1)
    state = CooldownState(until=until, reason="BounceRateHigh")
    held = decide_cooldown(WindowCounts(), T, state, NOW)
    assert held.cooling and not held.started and not held.ended
    ended = decide_cooldown(WindowCounts(attempted=100, bounced=50), T, state, until)
    assert ended.ended and not ended.cooling
    assert ended.state.resumed_at == until


def test_events_before_a_resume_do_not_count_again() -> None:
    resumed = NOW - dt.timedelta(hours=2)
    assert window_start(NOW, T, resumed) == resumed
    assert window_start(NOW, T, None) == NOW - dt.timedelta(seconds=T.window_seconds)
    old = NOW - dt.timedelta(days=30)
    assert window_start(NOW, T, old) == NOW - dt.timedelta(seconds=T.window_seconds)


def test_reduced_cap_only_during_recovery() -> None:
    assert reduced_cap_factor(T, None, NOW) is None
    assert reduced_cap_factor(T, NOW - dt.timedelta(hours=1), NOW) == T.resume_cap_factor
    assert reduced_cap_factor(T, NOW - dt.timedelta(seconds=T.recovery_seconds), NOW) is None


def test_cooling_fraction() -> None:
    assert not cooling_fraction_exceeded(0, 0, T)
    assert not cooling_fraction_exceeded(8, 2, T)
    assert cooling_fraction_exceeded(8, 3, T)
    assert cooling_fraction_exceeded(1, 1, T)
