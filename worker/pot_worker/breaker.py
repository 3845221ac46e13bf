"""Circuit breakers per recipient provider (grouped by MX); the planner takes permits, the dispatcher records.

pot_worker.planner takes a `Permit` per message before reserving its limits; pot_worker.dispatcher
records the reply on it; the runner releases, in one place, every permit whose message did not go.

State lives in each worker process, not in Redis: the breaker is advisory (the limits are what keep
caps), keeping it local costs no round trip on the hot path, and every worker sees a sample of each
provider's replies, so each opens its own circuit after a few failures of its own. A shared breaker
would open a little sooner across 16 workers, at one more Redis call per send.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Closed -> (threshold consecutive temporary failures) -> open -> (cool-off) -> half-open.

    Half-open lets one probe through: success closes the circuit, failure opens it for another cool-off.
    Pure: time comes in as an argument.
    """

    threshold: int
    cooloff: timedelta
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: datetime | None = None
    probe_out: bool = False

    def allow(self, now: datetime) -> bool:
        """May a message go to this provider now? Taking the half-open probe slot counts as a yes."""
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now < self.opened_at + self.cooloff:
                return False
            self.state = BreakerState.HALF_OPEN
            self.probe_out = False
        if self.state is BreakerState.HALF_OPEN:
            if self.probe_out:
                return False
            self.probe_out = True
        return True

    def retry_at(self, now: datetime) -> datetime:
        """When a job refused by `allow` should come back."""
        if self.state is BreakerState.OPEN and self.opened_at is not None:
            return max(now, self.opened_at + self.cooloff)
        return now + timedelta(seconds=1)

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = None
        self.probe_out = False

    def record_failure(self, now: datetime) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self.failures += 1
        if self.state is BreakerState.CLOSED and self.failures >= self.threshold:
            self._open(now)

    def release_probe(self) -> None:
        """The half-open probe was not sent after all (limits refused it): let another one go.

        Called only through a Permit, which knows whether it holds the probe."""
        self.probe_out = False

    def _open(self, now: datetime) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self.failures = 0
        self.probe_out = False


@dataclass
class Breakers:
    """One breaker per provider, created on first use."""

    threshold: int
    cooloff: timedelta
    by_provider: dict[str, CircuitBreaker] = field(default_factory=dict)

    def get(self, provider: str) -> CircuitBreaker:
        breaker = self.by_provider.get(provider)
        if breaker is None:
            breaker = self.by_provider[provider] = CircuitBreaker(self.threshold, self.cooloff)
        return breaker

    def open_providers(self) -> set[str]:
        return {p for p, b in self.by_provider.items() if b.state is not BreakerState.CLOSED}

    def permit(self, provider: str, now: datetime) -> Permit | None:
        """Leave for one message to `provider`, or None while its circuit refuses (see `retry_at`)."""
        breaker = self.get(provider)
        if not breaker.allow(now):
            return None
        return Permit(breaker, probe=breaker.state is BreakerState.HALF_OPEN)


class Permit:
    """One message's leave to go to a provider; holds the half-open probe slot when it took it.

    Settled once: `record` the reply when the message went, `release` when it did not. Both are
    idempotent, so a batch settles whatever is left in one place (`Permits.release_unsettled`).
    """

    __slots__ = ("_breaker", "_probe", "settled")

    def __init__(self, breaker: CircuitBreaker, *, probe: bool) -> None:
        self._breaker = breaker
        self._probe = probe
        self.settled = False

    @property
    def circuit_open(self) -> bool:
        """The circuit opened since the permit was taken (an earlier reply of the same batch)."""
        return self._breaker.state is BreakerState.OPEN

    def retry_at(self, now: datetime) -> datetime:
        return self._breaker.retry_at(now)

    def record(self, *, failure: bool, success: bool, now: datetime) -> None:
        """The reply's verdict for the provider; a reply that says neither frees the probe slot."""
        if self.settled:
            return
        if failure:
            self.settled = True
            self._breaker.record_failure(now)
        elif success:
            self.settled = True
            self._breaker.record_success()
        else:
            self.release()

    def release(self) -> None:
        """The message did not go: a probe slot taken goes back, so another message may probe."""
        if self.settled:
            return
        self.settled = True
        # Only the probe's own permit frees the slot: a permit taken while the circuit was closed must
        # not let a second probe out after the circuit opened and half-opened meanwhile.
        if self._probe and self._breaker.state is BreakerState.HALF_OPEN:
            self._breaker.release_probe()


class Permits:
    """The permits one batch took: `take` one per job; `release_unsettled` hands back, in one place,
    every one whose message did not go (refused, held back, not reached, or the batch failed)."""

    def __init__(self, breakers: Breakers) -> None:
        self._breakers = breakers
        self._taken: list[Permit] = []

    def take(self, provider: str, now: datetime) -> Permit | None:
        permit = self._breakers.permit(provider, now)
        if permit is not None:
            self._taken.append(permit)
        return permit

    def retry_at(self, provider: str, now: datetime) -> datetime:
        """When a job refused by `take` should come back."""
        return self._breakers.get(provider).retry_at(now)

    def release_unsettled(self) -> None:
        for permit in self._taken:
            permit.release()
        self._taken.clear()
