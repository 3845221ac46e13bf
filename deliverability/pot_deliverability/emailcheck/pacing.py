"""When the checker may open a session to an MX host: the politeness rules, pure; for scheduler.py.

Per MX host: at most `per_host` sessions at once, and starts at least `interval` apart, the host's
first session at once. Per provider (every MX host of one mailbox provider): at most `per_provider`
at once. Overall: at most `total`. The caller passes the clock's reading, so tests need no sleeping.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

BLOCKED = -1.0  # what `wait` says when only a session's end can free a slot


@dataclass
class Politeness:
    """The open sessions and last starts; `most` keeps the highest concurrency each host saw."""

    per_host: int
    interval: float
    per_provider: int
    total: int
    open_hosts: Counter[str] = field(default_factory=Counter)
    open_providers: Counter[str] = field(default_factory=Counter)
    last_start: dict[str, float] = field(default_factory=dict)
    most: Counter[str] = field(default_factory=Counter)

    @property
    def open_total(self) -> int:
        return sum(self.open_hosts.values())

    def wait(self, host: str, provider: str, now: float) -> float:
        """0 when a session to `host` may start now, the seconds until the interval allows it, or
        BLOCKED when a concurrency limit is reached."""
        if (
            self.open_hosts[host] >= self.per_host
            or self.open_providers[provider] >= self.per_provider
            or self.open_total >= self.total
        ):
            return BLOCKED
        last = self.last_start.get(host)
        if last is None:
            return 0.0  # no pacing before a host's first connection
        return max(0.0, last + self.interval - now)

    def start(self, host: str, provider: str, now: float) -> None:
        self.open_hosts[host] += 1
        self.open_providers[provider] += 1
        self.last_start[host] = now
        self.most[host] = max(self.most[host], self.open_hosts[host])

    def connected(self, host: str, now: float) -> None:
        """The session's connection is up: the interval counts from here when that is later than its
        start (a connection slowed by a busy machine must not bring the next one closer on the wire)."""
        self.last_start[host] = max(self.last_start.get(host, now), now)

    def end(self, host: str, provider: str) -> None:
        self.open_hosts[host] -= 1
        self.open_providers[provider] -= 1
