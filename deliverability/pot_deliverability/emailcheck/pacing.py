"""When the checker may talk to a recipient domain, and how many checks run at once; for checker.py.

Politeness per recipient domain: at most `concurrency` sessions at once and at least `interval`
between session starts. `DomainPacer` is pure, with an injected clock for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class DomainPacer:
    """Start times per domain at least `interval` apart; pure, with an injected clock for tests."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._next: dict[str, float] = {}

    def reserve(self, domain: str) -> float:
        """Book the next start for `domain`; returns how long to wait before starting."""
        now = self.clock()
        start = max(now, self._next.get(domain, now))
        self._next[domain] = start + self.interval
        return start - now


class Politeness:
    """Per domain: a slot among `concurrency`, then the pacer's start time; one per checker run."""

    def __init__(self, concurrency: int, interval: float) -> None:
        self.concurrency = concurrency
        self.pacer = DomainPacer(interval)
        self._slots: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def turn(self, domain: str) -> AsyncIterator[None]:
        """Hold one of the domain's slots for the session, starting it no sooner than the pacer allows."""
        slot = self._slots.get(domain)
        if slot is None:
            slot = self._slots[domain] = asyncio.Semaphore(self.concurrency)
        async with slot:
            await asyncio.sleep(self.pacer.reserve(domain))
            yield


async def as_finished(
    items: Iterable[T], work: Callable[[T], Awaitable[R]], workers: int
) -> AsyncIterator[R]:
    """`work(item)` for every item, at most `workers` at once; results as they finish, not in input order."""
    queue: asyncio.Queue[T | None] = asyncio.Queue()
    results: asyncio.Queue[R | None] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    for _ in range(workers):
        queue.put_nowait(None)

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            await results.put(await work(item))
        await results.put(None)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        done = 0
        while done < workers:
            result = await results.get()
            if result is None:
                done += 1
            else:
                yield result
    finally:
        for task in tasks:
            task.cancel()
