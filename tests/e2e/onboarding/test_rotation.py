"""A password rotated with `potctl mailboxes rotate` in the middle of a campaign: no send fails, the
worker is never restarted, and the new password is in use within a minute (issue 18's acceptance).

The Mailbox and its secret come from `potctl mailboxes import` against a real apiserver and OpenBao;
its row, a campaign and its jobs are written into Postgres as the operator would, and one real
`pot-worker` process sends them through a sink that, like a provider during a changeover, accepts the
old and the new password. The sink stamps each message with a short hash of the password it went out
under (pot_stack.smtp_sink.auth_key), so the test sees which one every send used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pot_common.db import apply_schema
from pot_stack.e2e import sql, wait_for
from pot_stack.fixtures import run_sync
from pot_stack.smtp_sink import SmtpSink, auth_key
from potctl.main import app
from typer.testing import CliRunner, Result

ADDRESS = "rotating@acme-mail.test"
NAME = "rotating-acme-mail-test"  # the Mailbox potctl names after the address
OLD, NEW = "canary-pw-rot-old", "canary-pw-rot-new"
JOBS = 80
SPACING = 1  # seconds between two sends of the mailbox: the campaign takes about JOBS seconds
ROTATE_AFTER = 20  # messages stored before the rotation
BUDGET_SECONDS = 60.0  # "the new secret version in use within a minute"


def potctl(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), input=stdin, env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert OLD not in result.output and NEW not in result.output, "a password was echoed"
    return result


@pytest.fixture
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    """The provider during the changeover: the old and the new password both work."""
    root = tmp_path_factory.mktemp("rotation-sink")
    users = root / "users"
    users.write_text(f"{ADDRESS}:{OLD}\n{ADDRESS}:{NEW}\n")
    server = SmtpSink(root, auth_file=users)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def seed(database: str, namespace: str, sink: SmtpSink) -> None:
    """The rows the operator writes for a pool, this Mailbox and a running campaign of JOBS jobs."""
    import asyncpg

    conn = await asyncpg.connect(database)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval(
            "INSERT INTO pools (namespace, name, time_zone) VALUES ($1, 'fleet', 'UTC') RETURNING id",
            namespace,
        )
        await conn.execute(
            "INSERT INTO mailboxes (pool_id, namespace, name, address, display_name, smtp_host, smtp_port,"
            " smtp_tls, credentials_ref, daily_cap, hourly_cap, min_spacing_seconds, state)"
            " VALUES ($1, $2, $3, $4, 'Rotating', $5, $6, 'starttls', $7, 1000, 1000, $8, 'active')",
            pool_id,
            namespace,
            NAME,
            ADDRESS,
            sink.host,
            sink.port,
            f"vault:pot/{namespace}/mailboxes/{NAME}",
            SPACING,
        )
        campaign_id = await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template,"
            " html_template, unsubscribe_url, unsubscribe_mailto, state)"
            " VALUES ($1, $2, 'spring', $2, 'Hello {{ first_name }}', 'Hi {{ first_name }}',"
            " '<p>Hi {{ first_name }}</p>', 'https://unsub.acme.test/u?e={{ email }}', 'unsub@acme.test',"
            " 'running') RETURNING id",
            pool_id,
            namespace,
        )
        await conn.copy_records_to_table(
            "send_jobs",
            records=[
                (campaign_id, f"r{i:03d}@example.test", json.dumps({"first_name": f"r{i}"}))
                for i in range(JOBS)
            ],
            columns=["campaign_id", "recipient", "variables"],
        )
    finally:
        await conn.close()


def test_a_password_rotated_mid_campaign_is_used_within_a_minute_with_no_failed_send(
    crds_installed: Any,
    vault: Any,
    namespace: str,
    fresh_database: str,
    fresh_redis: str,
    dns_server: Any,
    sink: SmtpSink,
    tmp_path: Path,
) -> None:
    env = {
        "KUBECONFIG": str(crds_installed.admin_kubeconfig),
        **vault.env(),
        "POT_DNS_RESOLVER": "127.0.0.1:53",  # only read as "the local stack": .test addresses allowed
    }
    source = tmp_path / "one.csv"
    source.write_text(
        "address,display_name,smtp_host,smtp_port,smtp_tls,password,pool\n"
        f"{ADDRESS},Rotating,{sink.host},{sink.port},starttls,{OLD},fleet\n"
    )
    potctl(env, "mailboxes", "import", str(source), "-n", namespace, "--apply")
    run_sync(seed(fresh_database, namespace, sink))

    log_path = tmp_path / "worker.log"
    worker_env = {
        **vault.env(),
        "POT_POOL": f"{namespace}/fleet",
        "POT_DATABASE_URL": fresh_database,
        "POT_REDIS_URL": fresh_redis,
        "POT_SMTP_CA_FILE": str(sink.cert_path),
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_METRICS_PORT": "0",
        "POT_REFRESH_SECONDS": "1",
    }
    # The worker's own default credentials lifetime: the test holds the default to the minute.
    with log_path.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", "from pot_worker.cli import main; main()"],
            env={k: v for k, v in {**os.environ, **worker_env}.items() if k != "POT_CREDENTIALS_TTL_SECONDS"},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    pid = worker.pid

    def logs() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])

    def check_alive() -> None:
        assert worker.poll() is None, f"the worker exited:\n{logs()}"

    try:
        wait_for(lambda: len(sink.messages()) >= ROTATE_AFTER, 120, "the campaign sending", logs)
        check_alive()
        rotated = potctl(env, "mailboxes", "rotate", NAME, "-n", namespace, stdin=f"{NEW}\n")
        rotated_at = time.time()
        assert "wrote version 2" in rotated.stdout

        def done() -> bool:
            check_alive()
            rows = sql(fresh_database, "SELECT count(*) AS n FROM send_jobs WHERE state = 'sent'")
            return int(rows[0]["n"]) == JOBS

        wait_for(done, JOBS * SPACING + 120, "every job sent", logs)
        assert worker.pid == pid and worker.poll() is None  # the same process all along
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    states = Counter(r["state"] for r in sql(fresh_database, "SELECT state::text AS state FROM send_jobs"))
    outcomes = Counter(r["outcome"] for r in sql(fresh_database, "SELECT outcome FROM delivery_events"))
    assert states == {"sent": JOBS}, states
    assert outcomes == {"sent": JOBS}, outcomes  # no failed, deferred or auth_failed attempt, ever
    assert sql(fresh_database, "SELECT state::text AS state FROM mailboxes")[0]["state"] == "active"

    stored = sink.messages()  # oldest first
    assert Counter(m.rcpt_to for m in stored) == Counter(f"r{i:03d}@example.test" for i in range(JOBS))
    old, new = auth_key(OLD), auth_key(NEW)
    assert {m.auth_user for m in stored} == {ADDRESS}
    at = [m.path.stat().st_mtime for m in stored]
    first_new = next((i for i, m in enumerate(stored) if m.auth_key == new), None)
    assert first_new is not None, "no message went out under the new password"
    # Once the new password is in use, the old one never is again; before the rotation it was the only one.
    assert all(m.auth_key == new for m in stored[first_new:])
    assert all(m.auth_key == old for m, t in zip(stored, at, strict=True) if t < rotated_at)
    in_use_after = at[first_new] - rotated_at
    sent_after = sum(t >= rotated_at for t in at)
    print(
        f"rotation_to_new_password_seconds={in_use_after:.1f} sent_before_rotation={JOBS - sent_after} "
        f"sent_after_rotation={sent_after} old_after_rotation={first_new - (JOBS - sent_after)}"
    )
    assert in_use_after <= BUDGET_SECONDS
    assert first_new < JOBS - 5, "the campaign ended before the new password was used"
    assert {m.auth_key for m in stored} == {old, new}
