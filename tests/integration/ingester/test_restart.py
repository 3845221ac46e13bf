"""Killing `pot-ingester` (SIGKILL) in the middle of an inbox and starting it again loses nothing and
counts nothing twice: the checkpoint moves only with a message's effects."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from .conftest import add_job, seed_tenant
from .messages import dsn, human_reply

MESSAGES = 240


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pot_ingester.cli"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        out.close()


async def wait_count(db: asyncpg.Connection, at_least: int, within: float = 120) -> int:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        count = int(await db.fetchval("SELECT count(*) FROM inbox_messages"))
        if count >= at_least:
            return count
        assert asyncio.get_running_loop().time() < deadline, f"only {count} recorded"
        await asyncio.sleep(0.05)


async def test_a_killed_ingester_resumes_without_loss_or_double_counting(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, tmp_path: Path
) -> None:
    address = f"restart-{uuid.uuid4().hex[:8]}@acme-outreach.test"
    imap_server.add_user(address, "inbox-pass")
    vault.put_secret("pot/acme/mailboxes/restart", {"username": address, "password": "inbox-pass"})
    acme = await seed_tenant(
        db, "acme", imap_port=imap_server.tls_port, creds="vault:pot/acme/mailboxes/restart"
    )
    for i in range(MESSAGES):
        recipient = f"{'late-bounce' if i % 2 else 'reply'}-{i}@good.test"
        _, mid = await add_job(db, acme.campaign_id, recipient, mailbox_id=acme.mailbox_id)
        imap_server.deliver(address, dsn(recipient, mid) if i % 2 else human_reply(recipient, mid))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "POT_POOL": "acme/outreach",
        "POT_DATABASE_URL": fresh_database,
        "POT_VAULT_ADDR": vault.addr,
        "POT_VAULT_TOKEN": vault.token,
        "POT_IMAP_CA_FILE": str(imap_server.cert_path),
        "POT_METRICS_PORT": "0",
        "POT_FETCH_BATCH": "5",
        "POT_REFRESH_SECONDS": "1",
    }
    log = tmp_path / "ingester.log"
    first = start(env, log)
    try:
        seen = await wait_count(db, 30)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert seen < MESSAGES, "the kill came too late to be in the middle"
    # What the kill left: the checkpoint is exactly the last message whose effects were written.
    recorded = await db.fetchval("SELECT max(uid) FROM inbox_messages")
    assert await db.fetchval("SELECT last_uid FROM inbox_checkpoints") == recorded
    assert await db.fetchval("SELECT count(*) FROM inbox_messages") == recorded

    second = start(env, log)
    try:
        assert await wait_count(db, MESSAGES) == MESSAGES
        await asyncio.sleep(2)  # anything read twice would show by now
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    assert await db.fetchval("SELECT count(*) FROM inbox_messages") == MESSAGES
    assert await db.fetchval("SELECT last_uid FROM inbox_checkpoints") == MESSAGES
    outcomes = dict(
        await db.fetch(
            "SELECT outcome, count(*) FROM delivery_events WHERE outcome <> 'sent' GROUP BY outcome"
        )
    )
    assert outcomes == {"late_bounce": MESSAGES // 2, "reply": MESSAGES // 2}
    reasons = dict(await db.fetch("SELECT reason, count(*) FROM suppressions GROUP BY reason"))
    assert reasons == {"hard_bounce": MESSAGES // 2, "reply": MESSAGES // 2}
    text = log.read_text()
    assert "inbox-pass" not in text
    assert "Stopped ingester" in text
