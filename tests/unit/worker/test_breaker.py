"""The circuit breaker state machine (pot_worker.breaker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pot_worker.breaker import Breakers, BreakerState, CircuitBreaker, Permits

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


# ---- permits: one place takes, one place settles --------------------------------------------------


def test_a_permit_is_refused_while_the_circuit_is_open() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    breakers.get("google").record_failure(T0)
    assert breakers.permit("google", T0) is None
    assert Permits(breakers).retry_at("google", T0) == T0 + COOL


def test_the_half_open_probe_permit_is_the_only_one_until_settled() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    breakers.get("google").record_failure(T0)
    probe = breakers.permit("google", T0 + COOL)
    assert probe is not None
    assert breakers.permit("google", T0 + COOL) is None
    probe.release()
    assert breakers.permit("google", T0 + COOL) is not None


def test_recording_a_reply_settles_the_permit_once() -> None:
    breakers = Breakers(threshold=2, cooloff=COOL)
    permit = breakers.permit("google", T0)
    assert permit is not None
    permit.record(failure=True, success=False, now=T0)
    permit.record(failure=True, success=False, now=T0)  # settled: not counted twice
    permit.release()
    assert breakers.get("google").failures == 1 and permit.settled


def test_a_probe_reply_that_says_neither_frees_the_slot() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    breakers.get("google").record_failure(T0)
    probe = breakers.permit("google", T0 + COOL)
    assert probe is not None
    probe.record(
        failure=False, success=False, now=T0 + COOL
    )  # e.g. a hard bounce: says nothing of the provider
    assert breakers.get("google").state is BreakerState.HALF_OPEN
    assert breakers.permit("google", T0 + COOL) is not None


def test_a_probe_success_closes_the_circuit() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    breakers.get("google").record_failure(T0)
    probe = breakers.permit("google", T0 + COOL)
    assert probe is not None
    probe.record(failure=False, success=True, now=T0 + COOL)
    assert breakers.get("google").state is BreakerState.CLOSED


def test_a_permit_taken_while_closed_never_frees_a_later_probe() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    early = breakers.permit("google", T0)
    assert early is not None
    breakers.get("google").record_failure(T0)  # another message's reply opened the circuit
    probe = breakers.permit("google", T0 + COOL)
    assert probe is not None
    early.release()  # its message did not go; the probe is still out
    assert breakers.permit("google", T0 + COOL) is None


def test_permits_hands_back_every_unsettled_permit_of_a_batch() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    for provider in ("google", "yahoo"):
        breakers.get(provider).record_failure(T0)
    batch = Permits(breakers)
    sent = batch.take("google", T0 + COOL)
    refused = batch.take("yahoo", T0 + COOL)
    assert sent is not None and refused is not None
    assert batch.take("google", T0 + COOL) is None  # its probe is out
    sent.record(failure=True, success=False, now=T0 + COOL)
    batch.release_unsettled()
    assert breakers.get("google").state is BreakerState.OPEN  # the recorded failure stands
    assert breakers.permit("yahoo", T0 + COOL) is not None  # the unsent probe's slot came back


def test_circuit_open_says_the_circuit_opened_after_the_permit_was_taken() -> None:
    breakers = Breakers(threshold=1, cooloff=COOL)
    permit = breakers.permit("google", T0)
    assert permit is not None and not permit.circuit_open
    breakers.get("google").record_failure(T0)
    assert permit.circuit_open and permit.retry_at(T0) == T0 + COOL
