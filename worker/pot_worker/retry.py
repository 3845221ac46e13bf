"""The one retry policy (STYLE.md 11): exponential backoff with full jitter, bounded attempts.

Pure: the clock's `now` and the random source are passed in, so tests check schedules without sleeping.
Used by pot_worker.classify.decide.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1-based) that failed temporarily waits uniform(0, min(cap, base * 2**(n-1))).

    Full jitter (AWS architecture blog, "Exponential Backoff And Jitter") spreads retries of a batch
    that failed together instead of sending them back in a lump.
    """

    base_seconds: float = 300.0
    cap_seconds: float = 6 * 3600.0
    max_attempts: int = 6
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def ceiling(self, attempts: int) -> float:
        """The largest delay after `attempts` attempts."""
        exponent = min(max(attempts - 1, 0), 60)  # 2**60 seconds is already past any cap
        return float(min(self.cap_seconds, self.base_seconds * 2**exponent))

    def delay(self, attempts: int) -> float:
        return self.uniform(0.0, self.ceiling(attempts))

    def next_attempt_at(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` attempts, or None when the job has had its last one."""
        if attempts >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay(attempts))
