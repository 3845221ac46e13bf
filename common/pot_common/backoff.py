"""The one backoff schedule: exponential growth with full jitter, an injected random source.

Used wherever POT waits before trying again: the worker's job retries (pot_worker.retry) and its
loops that reconnect to Postgres or Redis, the operator's Vault and database retries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Attempt n (1-based) waits uniform(0, min(cap, base * factor**(n-1))).

    Full jitter (AWS architecture blog, "Exponential Backoff And Jitter") spreads the retries of
    callers that failed together instead of sending them back in a lump.
    """

    base: float
    cap: float
    factor: float = 2.0
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False, repr=False)

    def ceiling(self, attempt: int) -> float:
        """The largest delay before attempt `attempt` + 1."""
        exponent = min(max(attempt - 1, 0), 60)  # 2**60 seconds is already past any cap
        return float(min(self.cap, self.base * self.factor**exponent))

    def delay(self, attempt: int) -> float:
        return self.uniform(0.0, self.ceiling(attempt))
