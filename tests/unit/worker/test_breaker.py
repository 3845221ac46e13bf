"""The circuit breaker state machine (pot_worker.breaker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pot_worker.breaker import Breakers, BreakerState, CircuitBreaker

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COOL = timedelta(seconds=60)


def opened() -> CircuitBreaker:
    b = CircuitBreaker(threshold=3, cooloff=COOL)
    for _ in range(3):
        b.record_failure(T0)
    return b


def test_opens_after_threshold_consecutive_failures() -> None:
    b = CircuitBreaker(threshold=3, cooloff=COOL)
    b.record_failure(T0)
    b.record_failure(T0)
    assert b.state is BreakerState.CLOSED and b.allow(T0)
    b.record_failure(T0)
    assert b.state is BreakerState.OPEN and not b.allow(T0)


def test_a_success_resets_the_run() -> None:
    b = CircuitBreaker(threshold=3, cooloff=COOL)
    b.record_failure(T0)
    b.record_failure(T0)
    b.record_success()
    b.record_failure(T0)
    b.record_failure(T0)
    assert b.state is BreakerState.CLOSED


def test_half_open_after_cooloff_lets_exactly_one_probe() -> None:
    b = opened()
    assert not b.allow(T0 + COOL - timedelta(seconds=1))
    assert b.retry_at(T0) == T0 + COOL
    assert b.allow(T0 + COOL)
    assert b.state is BreakerState.HALF_OPEN
    assert not b.allow(T0 + COOL)  # the probe is out


def test_probe_success_closes() -> None:
    b = opened()
    assert b.allow(T0 + COOL)
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow(T0 + COOL)


def test_probe_failure_reopens_for_another_cooloff() -> None:
    b = opened()
    later = T0 + COOL
    assert b.allow(later)
    b.record_failure(later)
    assert b.state is BreakerState.OPEN
    assert not b.allow(later + COOL - timedelta(seconds=1))
    assert b.allow(later + COOL)


def test_a_probe_not_sent_frees_the_slot() -> None:
    b = opened()
    assert b.allow(T0 + COOL)
    b.release_probe()
    assert b.allow(T0 + COOL)


def test_providers_are_independent() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    breakers.get("google").record_failure(T0)
    assert not breakers.get("google").allow(T0)
    assert breakers.get("microsoft365").allow(T0)
    assert breakers.open_providers() == {"google"}
