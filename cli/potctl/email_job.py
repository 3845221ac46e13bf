"""`potctl check-emails --job RUN`: the program of the checker Job (pot_deliverability.emailcheck.job).

Started in the cluster by the operator (a Campaign's spec.verification) or by `potctl check-emails
--in-cluster`. It reads run RUN's addresses from Postgres (POT_DATABASE_URL), checks those without a
result it may reuse, writes each result for the run's tenant and counts its progress on the run; a Job
that is retried goes on where the last attempt stopped. Logs are one key=value line per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sys
from typing import Any

import asyncpg
from pot_deliverability import emailcheck

BATCH = 200  # results written to Postgres at once
FLUSH_SECONDS = 1.0  # and at least this often, so progress moves while slow probes run

RUN = "SELECT tenant, mode, max_age, created_at, state FROM verification_runs WHERE id = $1"
# A result is reused when it is younger than max_age, not `unknown` (a server that would not say may
# say next time), and for mode smtp only when it was probed; results written by this run's earlier
# attempts (checked_at at or after the run was made) count as checked, not reused.
PENDING = """
SELECT a.line, a.address FROM verification_run_addresses a
WHERE a.run_id = $1 AND NOT EXISTS (
    SELECT 1 FROM verification_results r
    WHERE r.tenant = $2 AND r.address = lower(a.address)
      AND (r.checked_at >= $5
           OR (r.checked_at > now() - $3::interval AND r.verdict <> 'unknown'
               AND ($4 <> 'smtp' OR r.mode = 'smtp'))))
ORDER BY a.line
"""
PROGRESS = """
SELECT count(*) FILTER (WHERE r.checked_at >= $5) AS checked,
       count(*) FILTER (WHERE r.checked_at < $5
                          AND r.checked_at > now() - $3::interval AND r.verdict <> 'unknown'
                          AND ($4 <> 'smtp' OR r.mode = 'smtp')) AS reused
FROM verification_run_addresses a
JOIN verification_results r ON r.tenant = $2 AND r.address = lower(a.address)
WHERE a.run_id = $1
"""
# The run's verdicts once it is done, so they outlive its addresses; not on a run given up meanwhile
# (potctl or the sweep deleted its addresses: its counts would be zeros).
TALLY = """
UPDATE verification_runs v SET
    valid = t.valid, invalid = t.invalid, risky = t.risky, unknown = t.unknown, used_mode = t.used_mode
FROM (SELECT count(*) FILTER (WHERE r.verdict = 'valid') AS valid,
             count(*) FILTER (WHERE r.verdict = 'invalid') AS invalid,
             count(*) FILTER (WHERE r.verdict = 'risky') AS risky,
             count(*) FILTER (WHERE r.verdict = 'unknown') AS unknown,
             max(r.mode) FILTER (WHERE r.checked_at >= $3 AND r.mode <> 'auto') AS used_mode
      FROM verification_run_addresses a
      JOIN verification_results r ON r.tenant = $2 AND r.address = lower(a.address)
      WHERE a.run_id = $1) t
WHERE v.id = $1 AND v.state <> 'failed'
"""
SAVE = """
INSERT INTO verification_results (tenant, address, verdict, reason, smtp_reply, mode, checked_at)
SELECT $1, lower(t.address), t.verdict, t.reason, t.reply, t.mode, now()
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS t(address, verdict, reason, reply, mode)
ON CONFLICT (tenant, address) DO UPDATE
SET verdict = excluded.verdict, reason = excluded.reason, smtp_reply = excluded.smtp_reply,
    mode = excluded.mode, checked_at = excluded.checked_at
"""


def log(message: str, **values: Any) -> None:
    pairs = " ".join(f"{k}={v}" for k, v in values.items())
    print(f"{message}: {pairs}" if pairs else message, flush=True)


async def run_job(url: str, run_id: int, settings: emailcheck.CheckerSettings, resolver: Any) -> int:
    """Check run `run_id`; 0 when it is done, 2 when there is no such run."""
    conn = await asyncpg.connect(url, timeout=15)
    try:
        run = await conn.fetchrow(RUN, run_id)
        if run is None:
            log("Found no verification run", run=run_id)
            return 2
        if run["state"] == "failed":  # its caller gave up and deleted its addresses: nothing to check
            log("Skipped verification run given up", run=run_id)
            return 0
        tenant, mode, max_age, created = run["tenant"], run["mode"], run["max_age"], run["created_at"]
        args = (run_id, tenant, max_age, mode, created)
        await conn.execute(
            "UPDATE verification_runs SET state = 'running' WHERE id = $1 AND state <> 'failed'", run_id
        )
        progress = await conn.fetchrow(PROGRESS, *args)
        checked, reused = int(progress["checked"]), int(progress["reused"])
        await conn.execute(
            "UPDATE verification_runs SET checked = $2, reused = $3 WHERE id = $1", run_id, checked, reused
        )
        pending = [(int(r["line"]), str(r["address"])) for r in await conn.fetch(PENDING, *args)]
        log("Started checking addresses", run=run_id, mode=mode, pending=len(pending), reused=reused)
        settings.mode = emailcheck.Mode(mode)
        checker = emailcheck.EmailChecker(resolver, settings)
        held: list[emailcheck.EmailResult] = []
        writing = asyncio.Lock()  # one connection: the ticker's and the loop's writes take turns

        async def flush() -> None:
            nonlocal checked
            async with writing:
                batch = held.copy()  # results finishing while it is written wait for the next one
                held.clear()
                if batch:
                    await conn.execute(
                        SAVE,
                        tenant,
                        [r.address for r in batch],
                        [r.result.value for r in batch],
                        [r.reason for r in batch],
                        [r.smtp_reply for r in batch],
                        [r.mode for r in batch],
                    )
                    checked += len(batch)
                    await conn.execute(
                        "UPDATE verification_runs SET checked = $2 WHERE id = $1", run_id, checked
                    )

        async def tick() -> None:
            # On a clock, not on the next result: a result that finished just before a long greylist
            # wait would otherwise sit unwritten (lost to a kill, the progress standing still).
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                await flush()

        ticker = asyncio.create_task(tick())
        try:
            async for result in checker.check_many(pending):
                held.append(result)
                if ticker.done():  # it failed (Postgres gone): stop checking, the Job is retried
                    ticker.result()
                if len(held) >= BATCH:
                    await flush()
        finally:
            async with writing:  # never cancelled halfway through a write: its batch would be lost
                ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await flush()
        async with conn.transaction():
            await conn.execute(TALLY, run_id, tenant, created)
            await conn.execute(
                "UPDATE verification_runs SET state = 'done', notice = $2, finished_at = now()"
                " WHERE id = $1 AND state <> 'failed'",
                run_id,
                checker.notice,
            )
        log("Checked addresses", run=run_id, mode=checker.mode.value, checked=checked, reused=reused)
        if checker.notice:
            log("Fell back", run=run_id, notice=checker.notice)
        return 0
    finally:
        await conn.close()


def main(run_id: int, settings: emailcheck.CheckerSettings, resolver: Any) -> int:
    url = os.environ.get("POT_DATABASE_URL")
    if not url:
        print("error: the checker Job needs POT_DATABASE_URL", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    try:
        code = asyncio.run(run_job(url, run_id, settings, resolver))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # One line without the URL (it holds a password); the Job is retried.
        print(f"error: Postgres: {exc.__class__.__name__}", file=sys.stderr)
        return 1
    log("Finished", run=run_id, seconds=round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1))
    return code
