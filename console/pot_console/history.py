"""Campaign counts over time, for the Campaign page's chart.

With a database the history is the delivery events themselves (cumulative per outcome, whatever
happened before the console started); without one it is the campaign's status.counts as the console's
watch saw them change. `cumulative` is pure; `History` is fed by the campaigns informer.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from pot_common.sql import load_sql

Key = tuple[str, str]
Point = tuple[float, float]
OUTCOMES = ("sent", "bounced", "deferred", "replied")
SAMPLES = 720  # per campaign: at one change every few seconds, the last hour or more
MAX_POINTS = 300


def counts_of(obj: dict[str, Any]) -> dict[str, int]:
    counts = (obj.get("status") or {}).get("counts") or {}
    return {k: int(v) for k, v in counts.items() if isinstance(v, int)}


class History:
    """Each campaign's counts each time they changed, newest last (thread-safe: the watch thread writes)."""

    def __init__(self, limit: int = SAMPLES, clock: Any = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self._samples: dict[Key, deque[tuple[float, dict[str, int]]]] = {}
        self._lock = threading.Lock()

    def seen(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        counts = counts_of(obj)
        if not counts:
            return
        with self._lock:
            samples = self._samples.setdefault(key, deque(maxlen=self.limit))
            if not samples or samples[-1][1] != counts:
                samples.append((self.clock(), counts))

    def series(self, key: Key) -> dict[str, list[Point]]:
        with self._lock:
            samples = list(self._samples.get(key, ()))
        present = [o for o in OUTCOMES if any(o in counts for _, counts in samples)]
        return {o: [(t, float(counts.get(o, 0))) for t, counts in samples] for o in present}


def bucket_seconds(first: float, last: float, points: int = MAX_POINTS) -> int:
    """A bucket width (whole minutes, at least one) that gives at most `points` buckets over the span."""
    span = max(0.0, last - first)
    minutes = max(1, -(-int(span) // (60 * points)))
    return 60 * minutes


def cumulative(rows: Iterable[tuple[float, str, int]]) -> dict[str, list[Point]]:
    """(bucket, outcome, count) rows, ordered by bucket, as running totals per outcome."""
    totals: dict[str, float] = {}
    series: dict[str, list[Point]] = {}
    for bucket, outcome, count in rows:
        totals[outcome] = totals.get(outcome, 0.0) + count
        series.setdefault(outcome, []).append((float(bucket), totals[outcome]))
    return {o: series[o] for o in OUTCOMES if o in series}


async def from_database(url: str, key: Key) -> dict[str, list[Point]] | None:
    """The campaign's delivery events as cumulative series; None when it has none (or no row yet)."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        span = await conn.fetchrow(load_sql("pot_console", "campaign_span"), *key)
        if span is None or span["first"] is None:
            return None
        width = bucket_seconds(float(span["first"]), float(span["last"]))
        rows = await conn.fetch(load_sql("pot_console", "campaign_timeline"), key[0], key[1], float(width))
    finally:
        await conn.close()
    return cumulative((float(r["bucket"]), str(r["outcome"]), int(r["n"])) for r in rows)


async def recent_deliveries(url: str, key: Key, limit: int = 20) -> list[dict[str, Any]]:
    """A mailbox's newest delivery events, for its page."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(load_sql("pot_console", "mailbox_deliveries"), key[0], key[1], limit)
    finally:
        await conn.close()
    return [dict(r) for r in rows]
