"""Helpers for the multi-process tests: start real `pot-worker` processes and check the invariants."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<pot\.(\d+)\.(\d+)\.(\d+)@", re.MULTILINE | re.IGNORECASE)

FINAL = {"sent", "bounced", "failed", "suppressed", "unknown"}


@dataclass
class Fleet:
    """Worker processes sharing one scaled clock."""

    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]]

    @classmethod
    def start(cls, count: int, env: dict[str, str], log_dir: Path) -> Fleet:
        fleet = cls(env, log_dir, [])
        for _ in range(count):
            fleet.spawn()
        return fleet

    def spawn(self) -> subprocess.Popen[bytes]:
        index = len(self.procs)
        with open(self.log_dir / f"worker-{index}.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from pot_worker.cli import main; main()"],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self, timeout: float = 30) -> None:
        for p in self.alive():
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def wait_final(db: asyncpg.Connection, total: int, within: float) -> dict[str, int]:
    """Wait until every job is final (or the timeout); returns the state counts."""
    deadline = time.monotonic() + within
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = dict(await db.fetch("SELECT state::text, count(*) FROM send_jobs GROUP BY state"))
        if sum(v for k, v in counts.items() if k in FINAL) == total:
            return counts
        await _sleep(0.5)
    return counts


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def delivered(maildir: Path) -> Counter[int]:
    """How many times the sink stored each job (by the job id in our Message-ID)."""
    counts: Counter[int] = Counter()
    new = maildir / "new"
    for path in new.iterdir() if new.is_dir() else []:
        head = path.read_bytes()[:4096]
        match = _MESSAGE_ID.search(head)
        assert match is not None, f"message without a POT Message-ID: {path}"
        counts[int(match.group(2))] += 1
    return counts


OVERSHOOT_SQL = """
WITH counted AS (
    SELECT j.mailbox_id, j.recipient_domain, j.campaign_id, j.reserved_at,
           date_trunc('day', j.reserved_at AT TIME ZONE 'UTC') AS day,
           date_trunc('hour', j.reserved_at AT TIME ZONE 'UTC') AS hour
    FROM send_jobs j WHERE j.state IN ('sent', 'unknown', 'sending')
)
SELECT 'mailbox_day' AS level, c.mailbox_id::text AS key, c.day AS bucket, count(*) AS n,
       max(m.daily_cap) AS cap
  FROM counted c JOIN mailboxes m ON m.id = c.mailbox_id GROUP BY 1, 2, 3
UNION ALL
SELECT 'mailbox_hour', c.mailbox_id::text, c.hour, count(*), max(m.hourly_cap)
  FROM counted c JOIN mailboxes m ON m.id = c.mailbox_id GROUP BY 1, 2, 3
UNION ALL
SELECT 'domain_hour', c.recipient_domain, c.hour, count(*), max(p.domain_hourly_limit)
  FROM counted c JOIN campaigns k ON k.id = c.campaign_id JOIN pools p ON p.id = k.pool_id GROUP BY 1, 2, 3
UNION ALL
SELECT 'campaign_day', c.campaign_id::text, c.day, count(*), max(k.daily_limit)
  FROM counted c JOIN campaigns k ON k.id = c.campaign_id GROUP BY 1, 2, 3
UNION ALL
SELECT 'campaign_hour', c.campaign_id::text, c.hour, count(*), max(k.hourly_limit)
  FROM counted c JOIN campaigns k ON k.id = c.campaign_id GROUP BY 1, 2, 3
"""


async def limit_report(db: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    """For each level: (buckets over their cap, buckets exactly at their cap)."""
    report: dict[str, tuple[int, int]] = {}
    for r in await db.fetch(OVERSHOOT_SQL):
        if r["cap"] is None:  # no limit at this level for this campaign
            continue
        over, full = report.get(r["level"], (0, 0))
        report[r["level"]] = (over + (r["n"] > r["cap"]), full + (r["n"] == r["cap"]))
    return report


async def spacing_violations(db: asyncpg.Connection) -> int:
    rows = await db.fetch(
        "SELECT j.mailbox_id, m.min_spacing_seconds AS spacing, j.reserved_at FROM send_jobs j"
        " JOIN mailboxes m ON m.id = j.mailbox_id WHERE j.state IN ('sent', 'unknown') ORDER BY 1, 3"
    )
    bad = 0
    for prev, cur in itertools.pairwise(rows):
        if prev["mailbox_id"] == cur["mailbox_id"] and cur["reserved_at"] - prev["reserved_at"] < timedelta(
            seconds=cur["spacing"]
        ):
            bad += 1
    return bad
