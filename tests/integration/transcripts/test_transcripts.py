"""A sent, a bounced and a deferred job each have their SMTP transcript in the real object store, and
`potctl transcript JOB` prints it; the canary mailbox password is in no object in any form.

Real Postgres, Redis, OpenBao (the password), DNS, the SMTP sink (which accepts only the canary's
credentials, over STARTTLS) and SeaweedFS; the worker runs in-process with a manual clock, potctl as a
process.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from pot_stack.s3_server import S3Server
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker

from .conftest import START, potctl, secret_forms, seed, transcripts_on, worker_settings

JOBS = ["ok-1@good.test", "bounce-1@good.test", "defer-1@good.test"]


async def test_sent_bounced_and_deferred_jobs_have_their_transcript_and_no_secret(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    canary_sink: SmtpSink,
    canary_secret: str,
    vault: Any,
    dns_server: Any,
    store: S3Server,
) -> None:
    await seed(db, canary_sink, canary_secret, JOBS)
    clock = ManualClock(START)
    worker = Worker(
        worker_settings(fresh_database, fresh_redis, canary_sink, dns_server, vault, **transcripts_on(store)),
        clock=clock,
        uniform=lambda a, b: b,
    )
    await worker.start()
    try:
        await worker.run_once()
        clock.advance(3600)  # past the deferral: a second attempt, deferred again
        await worker.run_once()
        assert await worker.archive.flush()
    finally:
        await worker.close()
    ids = {
        r["recipient"]: (r["id"], r["state"])
        for r in await db.fetch("SELECT id, recipient, state::text FROM send_jobs")
    }
    assert {rcpt: state for rcpt, (_, state) in ids.items()} == {
        "ok-1@good.test": "sent",
        "bounce-1@good.test": "bounced",
        "defer-1@good.test": "deferred",
    }

    env = {"POT_DATABASE_URL": fresh_database, **store.env()}
    shown = {}
    for rcpt, (job_id, _) in ids.items():
        done = potctl("transcript", str(job_id), env=env)
        assert done.returncode == 0, done.stderr
        shown[rcpt] = done.stdout
    sent, bounced, deferred = (shown[r] for r in JOBS)
    assert f"job {ids['ok-1@good.test'][0]} ok-1@good.test (sent) pool acme/outreach" in sent
    assert "attempt 1 sent mailbox acme/canary message-id <pot." in sent
    assert "> MAIL FROM:<canary@acme-outreach.test>" in sent and "> RCPT TO:<ok-1@good.test>" in sent
    assert "> DATA (" in sent and "< 250 " in sent.split("> DATA (")[1]
    assert "attempt 1 bounced" in bounced and "< 550 5.1.1 Recipient address rejected" in bounced
    assert "attempt 1 deferred" in deferred and "attempt 2 deferred" in deferred
    assert deferred.count("< 451 4.7.1 Try again later") == 2
    # The first message of the connection carries its opening: greeting, STARTTLS, AUTH redacted.
    everything = "".join(shown.values())
    assert everything.count("> STARTTLS") == 1 and everything.count("> AUTH PLAIN [redacted]") == 1
    assert "< 235 " in everything
    for line in (line for text in shown.values() for line in text.splitlines()[2:]):
        if not line.startswith("attempt "):
            stamp, direction, _ = line.split(" ", 2)
            assert stamp.startswith("2026-03-02T1") and stamp.endswith("Z") and direction in "<>*"

    # What the store holds: one object for these attempts' batch, under the tenant, pool and day.
    objects = store.objects()
    assert objects and all(key.startswith("acme/outreach/2026-03-02/") for key in objects)
    records = [json.loads(line) for body in objects.values() for line in body.splitlines()]
    assert sorted((r["to"], r["attempt"], r["outcome"]) for r in records) == [
        ("bounce-1@good.test", 1, "bounced"),
        ("defer-1@good.test", 1, "deferred"),
        ("defer-1@good.test", 2, "deferred"),
        ("ok-1@good.test", 1, "sent"),
    ]
    leaked = [form for body in objects.values() for form in secret_forms() if form in body]
    assert leaked == []
    assert not [form for form in secret_forms() if form.decode() in everything]

    as_json = potctl("transcript", str(ids["defer-1@good.test"][0]), "--json", env=env)
    assert [json.loads(line)["attempt"] for line in as_json.stdout.splitlines()] == [1, 2]


async def test_potctl_says_in_one_line_why_there_is_no_transcript(
    db: asyncpg.Connection, fresh_database: str, canary_sink: SmtpSink, store: S3Server
) -> None:
    await seed(db, canary_sink, None, ["ok-9@good.test"])
    job_id = await db.fetchval("SELECT id FROM send_jobs")
    env = {"POT_DATABASE_URL": fresh_database, **store.env()}
    cases = [
        (("transcript", "999999"), env, "no job 999999 in Postgres"),
        (("transcript", str(job_id)), env, f"job {job_id} (queued) has not been attempted yet"),
        (("transcript", str(job_id)), {"POT_DATABASE_URL": fresh_database}, "no object store"),
        (("transcript", "0"), env, "JOB_ID"),
    ]
    for args, case_env, says in cases:
        done = potctl(*args, env=case_env)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
    # Attempted, but nothing in the store (transcripts were off): said so, exit 2.
    await db.execute(
        "INSERT INTO delivery_events (job_id, attempt, recipient, outcome, at)"
        " VALUES ($1, 1, 'ok-9@good.test', 'sent', $2)",
        job_id,
        START,
    )
    done = potctl("transcript", str(job_id), env=env)
    assert done.returncode == 2 and "no transcript of job" in done.stderr and "past retention" in done.stderr


async def test_in_a_cluster_the_store_keys_come_from_the_tenants_vault_folder(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    canary_sink: SmtpSink,
    vault: Any,
    dns_server: Any,
    store: S3Server,
) -> None:
    """POT_TRANSCRIPTS_VAULT_PATH names a path in the namespace's folder (pot/acme/...): read with the
    worker's own Vault login. Until it holds the keys, transcripts wait and sends go on."""
    await seed(db, canary_sink, None, ["ok-1@good.test", "ok-2@good.test"])
    on = {k: v for k, v in transcripts_on(store).items() if not k.endswith(("_access_key", "_secret_key"))}
    settings = worker_settings(
        fresh_database,
        fresh_redis,
        canary_sink,
        dns_server,
        vault,
        transcripts_vault_path="transcripts",
        **on,
    )
    worker = Worker(settings, clock=ManualClock(START))
    vault.put_secret("pot/acme/transcripts", {"access_key": store.access_key})  # no secret_key yet
    await worker.start()
    try:
        assert await worker.run_once() == 2
        assert not await worker.archive.flush() and worker.archive.waiting == 2
        vault.put_secret(
            "pot/acme/transcripts", {"access_key": store.access_key, "secret_key": store.secret_key}
        )
        assert await worker.archive.flush() and worker.archive.written == 2
    finally:
        await worker.close()
    assert [key.split("/")[:2] for key in store.objects()] == [["acme", "outreach"]]
