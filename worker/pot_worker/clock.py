"""Clocks the worker reads time from; tests inject a manual or scaled one instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time, timezone-aware UTC. Everything the worker stores or compares goes through it."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """Time running `speed` times faster from a shared real origin.

    Multi-process tests set the same origin in every worker so they agree on the time while hours of
    rate-limit windows pass in seconds.
    """

    def __init__(self, speed: float, origin: float, start: float | None = None) -> None:
        self.speed = speed
        self.origin = origin
        self.start = origin if start is None else start

    def now(self) -> datetime:
        elapsed = (time.time() - self.origin) * self.speed
        return datetime.fromtimestamp(self.start + elapsed, UTC)


class ManualClock:
    """A clock that moves only when told (unit and in-process integration tests)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when
