"""Verification runs on real Postgres, DNS and an SMTP server answering RCPT: the checker Job's program
(potctl.email_job) checks, reuses per tenant within max age (never `unknown`, never format+mx for smtp),
resumes a retried Job without probing again; the operator stages a CSV or an imported list as a run and
materialises send jobs without what the check found, counting each address once beside suppression."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from pot_common.api.campaign import CampaignSpec
from pot_deliverability.emailcheck import CheckerSettings
from pot_operator.verification.apply import create_run, materialise_verified
from potctl.email_job import run_job

HOUR = dt.timedelta(hours=1)
ADDRESSES = [
    "alice@acme.probe.test",
    "nobody@acme.probe.test",
    "anyone@catchall.probe.test",
    "x@nullmx.probe.test",
    "someone@deadonly.probe.test",
]


def settings(port: int) -> CheckerSettings:
    return CheckerSettings(
        probe_port=port, allow_test_domains=True, per_host_interval_s=0, greylist_retries=0
    )


async def new_run(
    conn: asyncpg.Connection, tenant: str, mode: str, max_age: dt.timedelta, addresses: list[str]
) -> int:
    run_id = int(
        await conn.fetchval(
            "INSERT INTO verification_runs (tenant, owner, mode, max_age, total)"
            " VALUES ($1, 'test', $2, $3, $4) RETURNING id",
            tenant,
            mode,
            max_age,
            len(addresses),
        )
    )
    await conn.executemany(
        "INSERT INTO verification_run_addresses (run_id, line, address) VALUES ($1, $2, $3)",
        [(run_id, i, a) for i, a in enumerate(addresses, 1)],
    )
    return run_id


async def verdicts(conn: asyncpg.Connection, tenant: str) -> dict[str, tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT address, verdict, mode FROM verification_results WHERE tenant = $1", tenant
    )
    return {r["address"]: (r["verdict"], r["mode"]) for r in rows}


async def run_row(conn: asyncpg.Connection, run_id: int) -> asyncpg.Record:
    return await conn.fetchrow("SELECT state, checked, reused FROM verification_runs WHERE id = $1", run_id)


async def test_results_are_reused_per_tenant_within_max_age_and_unknown_never(
    database: str, probe_server: Any, resolver: Any
) -> None:
    conn = await asyncpg.connect(database)
    try:
        first = await new_run(conn, "acme", "smtp", HOUR, ADDRESSES)
        assert await run_job(database, first, settings(probe_server.port), resolver) == 0
        assert await verdicts(conn, "acme") == {
            "alice@acme.probe.test": ("valid", "smtp"),
            "nobody@acme.probe.test": ("invalid", "smtp"),
            "anyone@catchall.probe.test": ("risky", "smtp"),
            "x@nullmx.probe.test": ("invalid", "smtp"),
            "someone@deadonly.probe.test": ("unknown", "smtp"),
        }
        assert dict(await run_row(conn, first)) == {"state": "done", "checked": 5, "reused": 0}
        tally = await conn.fetchrow(
            "SELECT valid, invalid, risky, unknown, used_mode FROM verification_runs WHERE id = $1", first
        )
        assert tuple(tally) == (1, 2, 1, 1, "smtp")
        probed = list(probe_server.rcpt_log)

        # The same tenant within max age: all reused but the unknown one, which is asked again.
        again = await new_run(conn, "acme", "smtp", HOUR, ADDRESSES)
        assert await run_job(database, again, settings(probe_server.port), resolver) == 0
        assert dict(await run_row(conn, again)) == {"state": "done", "checked": 1, "reused": 4}
        assert probe_server.rcpt_log == probed, "deadonly has no MX that answers: nothing reaches the server"

        # Another tenant (a canary address only acme checked): nothing of acme's is reused or touched.
        other = await new_run(conn, "globex", "smtp", HOUR, ["nobody@acme.probe.test"])
        assert await run_job(database, other, settings(probe_server.port), resolver) == 0
        assert dict(await run_row(conn, other)) == {"state": "done", "checked": 1, "reused": 0}
        assert (
            probe_server.rcpt_log.count("nobody@acme.probe.test")
            == probed.count("nobody@acme.probe.test") + 1
        )
        assert set(await verdicts(conn, "globex")) == {"nobody@acme.probe.test"}
        assert len(await verdicts(conn, "acme")) == 5

        # Max age 0 s checks everything again.
        fresh = await new_run(conn, "acme", "smtp", dt.timedelta(0), ADDRESSES[:2])
        assert await run_job(database, fresh, settings(probe_server.port), resolver) == 0
        assert dict(await run_row(conn, fresh)) == {"state": "done", "checked": 2, "reused": 0}
    finally:
        await conn.close()


async def test_format_mx_results_serve_auto_but_not_smtp(
    database: str, probe_server: Any, resolver: Any
) -> None:
    conn = await asyncpg.connect(database)
    try:
        shallow = await new_run(conn, "acme", "format+mx", HOUR, ["nobody@acme.probe.test"])
        assert await run_job(database, shallow, settings(probe_server.port), resolver) == 0
        assert await verdicts(conn, "acme") == {"nobody@acme.probe.test": ("valid", "format+mx")}
        assert probe_server.rcpt_log == []
        auto = await new_run(conn, "acme", "auto", HOUR, ["nobody@acme.probe.test"])
        assert await run_job(database, auto, settings(probe_server.port), resolver) == 0
        assert dict(await run_row(conn, auto))["reused"] == 1 and probe_server.rcpt_log == []
        deep = await new_run(conn, "acme", "smtp", HOUR, ["nobody@acme.probe.test"])
        assert await run_job(database, deep, settings(probe_server.port), resolver) == 0
        assert dict(await run_row(conn, deep)) == {"state": "done", "checked": 1, "reused": 0}
        assert await verdicts(conn, "acme") == {"nobody@acme.probe.test": ("invalid", "smtp")}
    finally:
        await conn.close()


async def test_a_retried_job_goes_on_where_the_last_attempt_stopped(
    database: str, probe_server: Any, resolver: Any
) -> None:
    conn = await asyncpg.connect(database)
    try:
        run_id = await new_run(
            conn, "acme", "smtp", dt.timedelta(0), ["alice@acme.probe.test", "bob@acme.probe.test"]
        )
        # What the first attempt wrote before it was killed: alice, after the run was made.
        await conn.execute(
            "INSERT INTO verification_results (tenant, address, verdict, mode)"
            " VALUES ('acme', 'alice@acme.probe.test', 'valid', 'smtp')"
        )
        assert await run_job(database, run_id, settings(probe_server.port), resolver) == 0
        assert dict(await run_row(conn, run_id)) == {"state": "done", "checked": 2, "reused": 0}
        assert (
            "alice@acme.probe.test" not in probe_server.rcpt_log
            and "bob@acme.probe.test" in probe_server.rcpt_log
        )
    finally:
        await conn.close()


def spec(**recipients: Any) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "recipients": recipients,
            "template": {"subject": "Hi", "text": "Hello"},
            "verification": {"mode": "smtp", "maxAge": "1h"},
        }
    )


async def test_materialisation_skips_what_the_check_found_and_counts_each_address_once(database: str) -> None:
    pool = await asyncpg.create_pool(database, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            pool_id = await conn.fetchval(
                "INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id"
            )
            campaign_id = await conn.fetchval(
                "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template)"
                " VALUES ($1, 'acme', 'c', 'acme', 'Hi', 'Hello') RETURNING id",
                pool_id,
            )
            await conn.executemany(
                "INSERT INTO verification_results (tenant, address, verdict, mode)"
                " VALUES ($1, $2, $3, 'smtp')",
                [
                    ("acme", "good@x.test", "valid"),
                    ("acme", "bad@x.test", "invalid"),
                    ("acme", "gone@x.test", "invalid"),
                    ("acme", "maybe@x.test", "risky"),
                    ("acme", "shrug@x.test", "unknown"),
                    ("globex", "fresh@x.test", "invalid"),  # another tenant's verdict: never applies here
                ],
            )
            await conn.execute(
                "INSERT INTO suppressions (tenant, address, reason) VALUES ('acme', 'gone@x.test', 'manual')"
            )
        rows = [
            (a, {})
            for a in (
                "good@x.test",
                "BAD@x.test",
                "bad@x.test",
                "gone@x.test",
                "maybe@x.test",
                "shrug@x.test",
                "fresh@x.test",
            )
        ]
        kept = await create_run(pool, "acme", "Campaign/c/u/0", spec(configMapRef={"name": "l"}), rows)
        done = await materialise_verified(pool, campaign_id, "acme", rows, None, True, kept)
        inserted, suppressed, invalid, risky = done
        assert (inserted, suppressed, invalid, risky) == (2, 1, 1, 2)
        jobs = {
            r["recipient"]
            for r in await pool.fetch("SELECT recipient FROM send_jobs WHERE campaign_id = $1", campaign_id)
        }
        assert jobs == {"good@x.test", "fresh@x.test"}
        assert (
            await pool.fetchval("SELECT count(*) FROM verification_run_addresses WHERE run_id = $1", kept)
            == 0
        )

        # The operator stages a CSV's or an imported list's addresses as the run's, once each.
        csv_run = await create_run(pool, "acme", "Campaign/c/u/1", spec(configMapRef={"name": "l"}), rows)
        staged = await pool.fetch(
            "SELECT line, address FROM verification_run_addresses WHERE run_id = $1 ORDER BY line", csv_run
        )
        assert [(r["line"], r["address"]) for r in staged][:3] == [
            (1, "good@x.test"),
            (2, "BAD@x.test"),
            (4, "gone@x.test"),
        ]
        await pool.executemany(
            "INSERT INTO recipients (tenant, list_name, address) VALUES ($1, 'spring', $2)",
            [
                ("acme", "one@x.test"),
                ("acme", "ONE@x.test"),
                ("acme", "two@x.test"),
                ("globex", "canary@x.test"),
            ],
        )
        imported = await create_run(pool, "acme", "Campaign/c/u/2", spec(importName="spring"), None)
        staged = await pool.fetch(
            "SELECT line, address FROM verification_run_addresses WHERE run_id = $1 ORDER BY line", imported
        )
        assert [r["address"].lower() for r in staged] == ["one@x.test", "two@x.test"]
        assert await pool.fetchval("SELECT total FROM verification_runs WHERE id = $1", imported) == 2
    finally:
        await pool.close()
