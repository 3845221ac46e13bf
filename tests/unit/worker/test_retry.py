"""The retry policy: exponential ceiling, full jitter, bounded attempts (pot_worker.retry)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pot_worker.retry import RetryPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_ceiling_doubles_until_the_cap() -> None:
    policy = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=10)
    assert [policy.ceiling(n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    calls: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        calls.append((a, b))
        return (a + b) / 2

    policy = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=10, uniform=uniform)
    assert policy.next_attempt_at(3, NOW) == NOW + timedelta(seconds=20)
    assert calls == [(0.0, 40.0)]


def test_real_jitter_stays_within_bounds() -> None:
    rng = random.Random(7)
    policy = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=10, uniform=rng.uniform)
    delays = [policy.delay(4) for _ in range(200)]
    assert all(0 <= d <= 80 for d in delays)
    assert max(delays) - min(delays) > 40  # actually spread, not a constant


def test_no_retry_after_max_attempts() -> None:
    policy = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=3, uniform=lambda a, b: b)
    assert policy.next_attempt_at(2, NOW) is not None
    assert policy.next_attempt_at(3, NOW) is None


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(base_seconds=10, cap_seconds=100, max_attempts=10_000)
    assert policy.ceiling(5000) == 100
