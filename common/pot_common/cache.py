"""The one time-to-live cache: values kept for a while, by a clock the caller may inject.

Used by the preflight gate (domain reports), the operator's credential checks and the worker's
credential store. Not thread-safe: each owner uses it from one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """`get` returns a value younger than `ttl` seconds (or than `max_age`, when given), else None."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K, max_age: float | None = None) -> V | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self.clock() - stored_at >= (self.ttl if max_age is None else max_age):
            return None
        return value

    def age(self, key: K) -> float | None:
        """Seconds since `key` was stored, or None."""
        entry = self._items.get(key)
        return None if entry is None else self.clock() - entry[0]

    def put(self, key: K, value: V) -> None:
        self._items[key] = (self.clock(), value)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
