"""Verification runs leave nothing behind and lose no work, on real Postgres, DNS and an SMTP server
answering RCPT: potctl giving up deletes its own run's address list only (the run failed, with why);
the sweep removes what a dead caller left by the documented rules (failed at once, done after an hour,
unfinished once no Job can still be on it), per tenant for potctl and for all from the operator; the
checker Job writes its results while it runs, so a Job killed half-way and run again probes only the
rest, and it leaves a run given up alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import asyncpg
from pot_deliverability.emailcheck import CheckerSettings
from pot_deliverability.emailcheck.job import GIVEN_UP, SWEEP_RUN_ADDRESSES, sweep_arguments
from pot_operator.verification.apply import sweep_run_addresses
from pot_stack.probe_server import ProbeServer
from potctl.email_cluster import give_up
from potctl.email_job import run_job

from .conftest import USERS


async def add_run(
    conn: asyncpg.Connection,
    tenant: str,
    state: str = "pending",
    created: str = "0s",
    finished: str | None = None,
    addresses: tuple[str, ...] = ("a@x.test", "b@x.test"),
) -> int:
    """A run made `created` ago (finished `finished` ago) with its address list."""
    run_id = int(
        await conn.fetchval(
            "INSERT INTO verification_runs (tenant, owner, mode, max_age, state, total, created_at,"
            " finished_at) VALUES ($1, 'test', 'smtp', '0s', $2, $3, now() - $4::text::interval,"
            " now() - $5::text::interval) RETURNING id",
            tenant,
            state,
            len(addresses),
            created,
            finished,
        )
    )
    await conn.executemany(
        "INSERT INTO verification_run_addresses (run_id, line, address) VALUES ($1, $2, $3)",
        [(run_id, i, a) for i, a in enumerate(addresses, 1)],
    )
    return run_id


async def listed(conn: asyncpg.Connection) -> set[int]:
    return {r["run_id"] for r in await conn.fetch("SELECT DISTINCT run_id FROM verification_run_addresses")}


async def test_potctl_giving_up_deletes_its_own_list_only_and_says_why(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        mine = await add_run(conn, "acme", "running")
        neighbour = await add_run(conn, "acme", "running")  # the same namespace's other run
        other = await add_run(conn, "globex", "pending")
        await give_up(database, mine, "interrupted (Ctrl-C) while waiting for the checker Job")
        assert await listed(conn) == {neighbour, other}
        row = await conn.fetchrow(
            "SELECT state, failure, finished_at FROM verification_runs WHERE id = $1", mine
        )
        assert row["state"] == "failed" and row["failure"].startswith("interrupted (Ctrl-C)")
        assert row["finished_at"] is not None
        states = await conn.fetch(
            "SELECT state FROM verification_runs WHERE id = ANY($1)", [neighbour, other]
        )
        assert {r["state"] for r in states} == {"running", "pending"}

        # A run whose Job finished and only the reading back failed stays done: its results were written.
        done = await add_run(conn, "acme", "done", finished="0s")
        await give_up(database, done, "BrokenPipeError while reading the results")
        assert await conn.fetchval("SELECT state FROM verification_runs WHERE id = $1", done) == "done"
        assert done not in await listed(conn)
    finally:
        await conn.close()


async def test_the_sweep_removes_what_a_dead_caller_left_by_its_rules(database: str) -> None:
    pool = await asyncpg.create_pool(database, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            failed = await add_run(conn, "acme", "failed", finished="1m")
            done_long_ago = await add_run(conn, "acme", "done", created="3h", finished="2h")
            done_just_now = await add_run(conn, "acme", "done", created="1h", finished="10m")
            abandoned = await add_run(conn, "acme", "running", created="73h")
            checking = await add_run(conn, "acme", "running", created="47h")  # a Job may still be on it
            waiting = await add_run(conn, "acme", "pending", created="5m")
            elsewhere = await add_run(conn, "globex", "failed", finished="1m")

            # potctl sweeps its own namespace's only.
            assert await conn.fetchval(SWEEP_RUN_ADDRESSES, *sweep_arguments("acme")) == 3
            assert await listed(conn) == {done_just_now, checking, waiting, elsewhere}
            row = await conn.fetchrow("SELECT state, failure FROM verification_runs WHERE id = $1", abandoned)
            assert (row["state"], row["failure"]) == ("failed", GIVEN_UP)
            assert await conn.fetchval("SELECT state FROM verification_runs WHERE id = $1", checking) == (
                "running"
            )
            assert failed not in await listed(conn) and done_long_ago not in await listed(conn)

        # The operator sweeps every tenant's; the runs themselves (their counts) stay.
        assert await sweep_run_addresses(pool) == 1
        assert await listed(pool) == {done_just_now, checking, waiting}  # type: ignore[arg-type]
        assert await pool.fetchval("SELECT count(*) FROM verification_runs") == 7
    finally:
        await pool.close()


async def test_the_job_leaves_a_run_given_up_alone(database: str, probe_server: Any, resolver: Any) -> None:
    conn = await asyncpg.connect(database)
    try:
        run_id = await add_run(conn, "acme", "failed", addresses=("alice@acme.probe.test",))
        settings = CheckerSettings(probe_port=probe_server.port, allow_test_domains=True)
        assert await run_job(database, run_id, settings, resolver) == 0
        assert await conn.fetchval("SELECT state FROM verification_runs WHERE id = $1", run_id) == "failed"
        assert probe_server.rcpt_log == []
    finally:
        await conn.close()


def start_job(
    database: str, dns_server: Any, server: ProbeServer, run_id: int, greylist_delay: str
) -> subprocess.Popen[bytes]:
    """The checker Job's program in its own process (so it can be killed), probing `server`."""
    env = {
        **os.environ,
        "POT_DATABASE_URL": database,
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_SMTP_PROBE_PORT": str(server.port),
    }
    args = ["check-emails", "--job", str(run_id), "--interval", "0", "--greylist-delay", greylist_delay]
    return subprocess.Popen([sys.executable, "-m", "potctl.main", *args], env=env)


HALF = 20
MANY = [f"user{i:02d}@acme.probe.test" for i in range(2 * HALF)]


async def test_a_job_killed_half_way_keeps_its_work_and_the_retry_probes_only_the_rest(
    database: str, dns_server: Any, resolver: Any
) -> None:
    """The Job's own program in its own process, killed with SIGKILL (no chance to write anything at
    exit) once half the list was probed; each RCPT takes 0.2 s, so results must have been written as
    they came."""
    server = ProbeServer(users=USERS, rcpt_delay=0.2).start()
    conn = await asyncpg.connect(database)
    try:
        run_id = await add_run(conn, "acme", addresses=tuple(MANY))
        job = start_job(database, dns_server, server, run_id, greylist_delay="0")
        deadline = time.monotonic() + 60
        # The probe server records RCPTs in its own thread: polled, there is nothing to await.
        while len(server.rcpt_log) < HALF and job.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        job.send_signal(signal.SIGKILL)
        job.wait(10)
        probed_first = set(server.rcpt_log)
        assert HALF <= len(probed_first) < len(MANY), "killed half-way"

        stored = {
            r["address"]
            for r in await conn.fetch("SELECT address FROM verification_results WHERE tenant = 'acme'")
        }
        run = await conn.fetchrow("SELECT state, checked FROM verification_runs WHERE id = $1", run_id)
        assert stored and stored <= probed_first, "results were written while the Job ran"
        assert run["state"] == "running" and run["checked"] == len(stored), "progress moved with them"

        # The Job's retry: only what has no result is probed; the run ends with every address checked.
        server.rcpt_log.clear()
        settings = CheckerSettings(
            probe_port=server.port, allow_test_domains=True, per_host_interval_s=0, greylist_retries=0
        )
        assert await run_job(database, run_id, settings, resolver) == 0
        assert set(server.rcpt_log) == set(MANY) - stored
        run = await conn.fetchrow(
            "SELECT state, checked, reused FROM verification_runs WHERE id = $1", run_id
        )
        assert tuple(run) == ("done", len(MANY), 0)
    finally:
        await conn.close()
        server.stop()


async def test_a_result_is_written_within_seconds_even_while_nothing_else_finishes(
    database: str, dns_server: Any
) -> None:
    """alice answers at once, grey is greylisted and asked again only 30 s later: alice's result must
    not wait for grey's (a Job killed meanwhile would lose it, and the progress would stand still)."""
    grey = "grey@acme.probe.test"
    server = ProbeServer(users={"acme.probe.test": {"alice", "grey"}}, greylist={grey}).start()
    conn = await asyncpg.connect(database)
    job = None
    try:
        run_id = await add_run(conn, "acme", addresses=("alice@acme.probe.test", grey))
        job = start_job(database, dns_server, server, run_id, greylist_delay="30")
        deadline = time.monotonic() + 30
        asked = {"alice@acme.probe.test", grey}  # (and a made-up address: the catch-all test)
        while not asked <= set(server.rcpt_log) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert asked <= set(server.rcpt_log)
        await asyncio.sleep(3)  # the flush interval (1 s) and then some
        assert job.poll() is None, "still waiting to ask grey again"
        stored = await conn.fetch("SELECT address, verdict FROM verification_results WHERE tenant = 'acme'")
        assert [tuple(r) for r in stored] == [("alice@acme.probe.test", "valid")]
        assert await conn.fetchval("SELECT checked FROM verification_runs WHERE id = $1", run_id) == 1
    finally:
        if job is not None and job.poll() is None:
            job.send_signal(signal.SIGKILL)
            job.wait(10)
        await conn.close()
        server.stop()
