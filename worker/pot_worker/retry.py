"""The job retry policy: pot_common.backoff's schedule (exponential, full jitter) with bounded attempts.

Pure: the clock's `now` and the random source are passed in, so tests check schedules without sleeping.
Used by pot_worker.classify.decide.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pot_common.backoff import Backoff


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1-based) that failed temporarily waits uniform(0, min(cap, base * 2**(n-1)));
    after `max_attempts` attempts there is no retry."""

    base_seconds: float = 300.0
    cap_seconds: float = 6 * 3600.0
    max_attempts: int = 6
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False)
    _backoff: Backoff = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_backoff", Backoff(self.base_seconds, self.cap_seconds, uniform=self.uniform)
        )

    def ceiling(self, attempts: int) -> float:
        """The largest delay after `attempts` attempts."""
        return self._backoff.ceiling(attempts)

    def delay(self, attempts: int) -> float:
        return self._backoff.delay(attempts)

    def next_attempt_at(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` attempts, or None when the job has had its last one."""
        if attempts >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay(attempts))
