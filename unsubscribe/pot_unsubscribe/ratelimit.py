"""Token buckets per client address and for everyone together; the endpoint's app asks before each request.

In memory, so each replica limits on its own: with two replicas a client may make twice the rate.
The time comes in as an argument, so the decisions are pure and tested without waiting.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; starts full."""

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = max(self.at, now)

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now); takes nothing."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class RateLimiter:
    """A bucket per client address (at most `max_clients` remembered) and one for all of them."""

    def __init__(
        self,
        per_client_rate: float,
        per_client_burst: int,
        global_rate: float,
        global_burst: int,
        max_clients: int = 50_000,
    ) -> None:
        self.per_client_rate = per_client_rate
        self.per_client_burst = per_client_burst
        self.max_clients = max_clients
        self.everyone = TokenBucket(global_rate, global_burst)
        self._clients: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, client: str, now: float) -> float:
        """0 and a token taken from both buckets when the request may go on, else the seconds to wait.

        The client's bucket is asked first, so a client over its own limit spends nobody else's tokens.
        """
        bucket = self._clients.get(client)
        if bucket is None:
            bucket = TokenBucket(self.per_client_rate, self.per_client_burst, at=now)
            self._clients[client] = bucket
            self._forget(now, keep=client)
        else:
            self._clients.move_to_end(client)
        wait = bucket.wait(now)
        if wait:
            return wait
        wait = self.everyone.wait(now)
        if wait:
            return wait
        bucket.take()
        self.everyone.take()
        return 0.0

    def _forget(self, now: float, keep: str) -> None:
        """Past `max_clients`, drop the least recently seen; a full bucket is the same as a new one."""
        if len(self._clients) > self.max_clients // 2:
            oldest = itertools.islice(self._clients.items(), 64)
            for key in [k for k, b in oldest if k != keep and b.full(now)]:
                del self._clients[key]
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)  # the newest (`keep`) is last, never dropped here

    def __len__(self) -> int:
        return len(self._clients)
