"""Circuit breakers per recipient provider (grouped by MX); the worker asks before reserving limits.

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
        """The half-open probe was not sent after all (limits refused it): let another one go."""
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
