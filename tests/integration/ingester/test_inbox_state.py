"""The ingester's word on each inbox, in its mailbox row, against the stack's real Dovecot and Postgres
and as the least-privileged `pot_worker` role: a wrong password says login_refused with the server's
words (never the password) and is written once, not at every retry; the password fixed, reading; no
TLS, plaintext_refused; a server that is not there, failing once failures repeat. The SMTP side (the
row's state) is left alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from pot_common.backoff import Backoff
from pot_common.sql import load_sql

from .conftest import as_worker_role, seed_tenant
from .test_imap_reader import metric, password_inbox, running, settings, user, wait_until

__all__ = ["running"]  # the fixture, shared with test_imap_reader

STATE = "SELECT inbox_state, inbox_error, inbox_since, state, xmin::text AS xmin FROM mailboxes WHERE id = $1"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries within a second: a refused login waits 30 s at least in production."""
    monkeypatch.setattr("pot_ingester.inbox.Backoff", lambda base, cap: Backoff(0.2, 0.5))


async def as_worker(db: asyncpg.Connection, url: str) -> str:
    await db.execute(load_sql("pot_common.db", "worker_role", folder=""))
    return as_worker_role(url)


async def state_of(db: asyncpg.Connection, mailbox_id: int, wanted: str) -> asyncpg.Record | None:
    row = await db.fetchrow(STATE, mailbox_id)
    return row if row is not None and row["inbox_state"] == wanted else None


async def test_a_refused_login_says_so_with_the_servers_words_and_a_fixed_password_reads_again(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, running: Any
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    address, acme = await password_inbox(db, vault, imap_server, "refused", in_vault=canary)
    url = await as_worker(db, fresh_database)
    await running(settings(url, vault, imap_server))
    refused = await wait_until(lambda: state_of(db, acme.mailbox_id, "login_refused"), within=20)
    assert "AUTHENTICATIONFAILED" in refused["inbox_error"]  # Dovecot's own words
    assert canary not in refused["inbox_error"]
    assert refused["inbox_since"] is not None
    assert refused["state"] == "active"  # the SMTP side is not judged by the inbox's login
    # Written when it changed, not at every retry: the row is the same tuple several refusals later.
    logins = metric("pot_ingester_errors_total", pool="acme/outreach", reason="login")
    await wait_until(
        lambda: asyncio.sleep(
            0, result=metric("pot_ingester_errors_total", pool="acme/outreach", reason="login") >= logins + 3
        )
    )
    assert (await db.fetchrow(STATE, acme.mailbox_id))["xmin"] == refused["xmin"]

    vault.put_secret("pot/acme/mailboxes/refused", {"username": address, "password": "inbox-pass"})
    reading = await wait_until(lambda: state_of(db, acme.mailbox_id, "reading"), within=20)
    assert reading["inbox_error"] is None
    assert reading["inbox_since"] > refused["inbox_since"]
    assert reading["state"] == "active"


async def test_no_tls_says_plaintext_refused_and_a_missing_server_says_failing(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, running: Any
) -> None:
    address = user("clear")
    imap_server.add_user(address, "inbox-pass")
    vault.put_secret("pot/acme/mailboxes/clear", {"username": address, "password": "inbox-pass"})
    clear = await seed_tenant(
        db,
        "acme",
        mailbox="clear",
        imap_port=imap_server.port,
        imap_tls="none",
        creds="vault:pot/acme/mailboxes/clear",
    )
    # A port nothing listens on (bound, then closed): the connection is refused at every try.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    vault.put_secret("pot/globex/mailboxes/gone", {"username": address, "password": "inbox-pass"})
    gone = await seed_tenant(
        db, "globex", mailbox="gone", imap_port=closed, creds="vault:pot/globex/mailboxes/gone"
    )
    url = await as_worker(db, fresh_database)
    await running(settings(url, vault, imap_server))
    plain = await wait_until(lambda: state_of(db, clear.mailbox_id, "plaintext_refused"), within=20)
    assert "POT_ALLOW_PLAINTEXT_AUTH" in plain["inbox_error"]
    await running(settings(url, vault, imap_server, pool="globex/outreach"))
    failing = await wait_until(lambda: state_of(db, gone.mailbox_id, "failing"), within=20)
    assert "ConnectionRefusedError" in failing["inbox_error"], failing["inbox_error"]
