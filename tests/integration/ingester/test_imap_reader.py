"""The ingester against the stack's real IMAP server (Dovecot): a DSN, a reply and an ARF report that
land in a mailbox's inbox become events and suppressions, over implicit TLS, STARTTLS and XOAUTH2; a
refused login is counted and never shows its password."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from pot_ingester.cli import credential_store
from pot_ingester.config import IngesterSettings
from pot_ingester.store import Store
from pot_ingester.supervisor import Supervisor
from prometheus_client import REGISTRY

from .conftest import World, add_job, add_mailbox, seed_tenant
from .messages import dsn, human_reply


def settings(database_url: str, vault: Any, imap: Any, **overrides: Any) -> IngesterSettings:
    values: dict[str, Any] = {
        "pool": "acme/outreach",
        "database_url": database_url,
        "vault_addr": vault.addr,
        "vault_token": vault.token,
        "metrics_port": 0,
        "imap_ca_file": str(imap.cert_path),
        "refresh_seconds": 0.5,
        "poll_seconds": 1,
        "reconnect_base_seconds": 0.2,
        "reconnect_cap_seconds": 1,
        "imap_timeout_seconds": 10,
    }
    values.update(overrides)
    return IngesterSettings.model_validate(values)


async def wait_until(check: Callable[[], Any], within: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


@pytest.fixture
async def running() -> AsyncIterator[Callable[[IngesterSettings], Any]]:
    """Start an in-process ingester (store, supervisor) for settings; stopped after the test."""
    stops: list[tuple[asyncio.Event, asyncio.Task[None], Store]] = []

    async def start(s: IngesterSettings) -> Supervisor:
        store = Store(s.database_url, s.pool)
        await store.open()
        supervisor = Supervisor(s, store, credential_store(s))
        await supervisor.start()
        stop = asyncio.Event()
        stops.append((stop, asyncio.create_task(supervisor.run(stop)), store))
        return supervisor

    yield start
    for stop, task, store in stops:
        stop.set()
        await asyncio.wait_for(task, 20)
        await store.close()


def user(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}@acme-outreach.test"


async def password_inbox(
    db: asyncpg.Connection, vault: Any, imap: Any, name: str, in_vault: str | None = None
) -> tuple[str, World]:
    """A mailbox `name` of tenant acme whose inbox (password `inbox-pass`) is read over implicit TLS;
    Vault holds that password, or `in_vault`."""
    address = user(name)
    imap.add_user(address, "inbox-pass")
    secret = {"username": address, "password": in_vault or "inbox-pass"}
    vault.put_secret(f"pot/acme/mailboxes/{name}", secret)
    world = await seed_tenant(
        db, "acme", imap_port=imap.tls_port, creds=f"vault:pot/acme/mailboxes/{name}", mailbox=name
    )
    return address, world


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_bounce_and_a_reply_in_a_tls_inbox_become_events_and_suppressions(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, running: Any
) -> None:
    address, acme = await password_inbox(db, vault, imap_server, "alice")
    _, bounced_mid = await add_job(
        db, acme.campaign_id, "late-bounce-1@good.test", mailbox_id=acme.mailbox_id
    )
    _, replied_mid = await add_job(db, acme.campaign_id, "reply-1@good.test", mailbox_id=acme.mailbox_id)
    imap_server.deliver(address, dsn("late-bounce-1@good.test", bounced_mid))  # before the ingester starts
    supervisor = await running(settings(fresh_database, vault, imap_server))

    async def suppressed() -> list[tuple[str, str]]:
        rows = await db.fetch("SELECT address, reason FROM suppressions ORDER BY address")
        return [tuple(r) for r in rows] if len(rows) == 2 else []

    await wait_until(lambda: db.fetchval("SELECT count(*) FROM inbox_messages"))
    # IDLE: a message landing while the ingester waits is read within seconds.
    await wait_until(
        lambda: asyncio.sleep(0, result=supervisor.readers[acme.mailbox_id][0].stats.mode == "idle")
    )
    imap_server.deliver(address, human_reply("reply-1@good.test", replied_mid))
    assert await wait_until(suppressed, within=15) == [
        ("late-bounce-1@good.test", "hard_bounce"),
        ("reply-1@good.test", "reply"),
    ]
    outcomes = await db.fetch("SELECT outcome FROM delivery_events WHERE outcome <> 'sent' ORDER BY id")
    assert [r["outcome"] for r in outcomes] == ["late_bounce", "reply"]
    assert metric("pot_ingester_imap_connections", pool="acme/outreach") >= 1


async def test_starttls_and_xoauth2(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, oauth_server: Any, running: Any
) -> None:
    address = user("oauth")
    imap_server.add_user(address)  # no password: XOAUTH2 only
    refresh = f"refresh-{uuid.uuid4().hex}"
    oauth_server.register(address, "client-1", "client-secret-1", refresh)
    vault.put_secret(
        "pot/acme/mailboxes/oauth",
        {
            "username": address,
            "client_id": "client-1",
            "client_secret": "client-secret-1",
            "refresh_token": refresh,
        },
    )
    acme = await seed_tenant(
        db,
        "acme",
        imap_port=imap_server.port,
        imap_tls="starttls",
        creds="vault:pot/acme/mailboxes/oauth",
        auth="oauth2",
        token_url=oauth_server.token_url,
    )
    _, mid = await add_job(db, acme.campaign_id, "late-bounce-2@good.test", mailbox_id=acme.mailbox_id)
    imap_server.deliver(address, dsn("late-bounce-2@good.test", mid))
    await running(settings(fresh_database, vault, imap_server))
    await wait_until(lambda: db.fetchval("SELECT count(*) FROM suppressions WHERE reason = 'hard_bounce'"))
    assert oauth_server.token_requests(refresh) >= 1


async def test_a_refused_login_is_counted_and_its_password_never_logged(
    db: asyncpg.Connection,
    fresh_database: str,
    vault: Any,
    imap_server: Any,
    running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    await password_inbox(db, vault, imap_server, "refused", in_vault=canary)
    before = metric("pot_ingester_errors_total", pool="acme/outreach", reason="login")
    caplog.set_level(logging.DEBUG)
    await running(settings(fresh_database, vault, imap_server))
    await wait_until(
        lambda: asyncio.sleep(
            0, result=metric("pot_ingester_errors_total", pool="acme/outreach", reason="login") > before
        )
    )
    assert "IMAP server refused the login" in caplog.text
    assert canary not in caplog.text


async def test_a_connection_dropped_during_idle_is_noticed_and_the_inbox_read_again(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, running: Any
) -> None:
    address, acme = await password_inbox(db, vault, imap_server, "dropped")
    _, mid = await add_job(db, acme.campaign_id, "late-bounce-9@good.test", mailbox_id=acme.mailbox_id)
    supervisor = await running(settings(fresh_database, vault, imap_server))
    reader = await wait_until(lambda: asyncio.sleep(0, result=supervisor.readers.get(acme.mailbox_id)))
    await wait_until(lambda: asyncio.sleep(0, result=reader[0].stats.mode == "idle"))
    before = metric("pot_ingester_errors_total", pool="acme/outreach", reason="imap")
    await asyncio.to_thread(imap_server.restart)  # every connection dropped, as a server restart does
    imap_server.deliver(address, dsn("late-bounce-9@good.test", mid))
    # Found by the reconnect within seconds, not at the next IDLE renewal (25 minutes).
    await wait_until(lambda: db.fetchval("SELECT count(*) FROM suppressions"), within=20)
    assert metric("pot_ingester_errors_total", pool="acme/outreach", reason="imap") > before
    assert reader[0].stats.logins >= 2


@pytest.mark.parametrize(
    ("overrides", "mode"),
    [({"imap_idle": False}, "held-poll"), ({"max_connections": 0}, "poll")],
    ids=["held-connection-polling", "login-per-poll"],
)
async def test_without_idle_the_inbox_is_polled(
    db: asyncpg.Connection,
    fresh_database: str,
    vault: Any,
    imap_server: Any,
    running: Any,
    overrides: dict[str, Any],
    mode: str,
) -> None:
    address, acme = await password_inbox(db, vault, imap_server, "polled")
    _, mid = await add_job(db, acme.campaign_id, "reply-7@good.test", mailbox_id=acme.mailbox_id)
    supervisor = await running(settings(fresh_database, vault, imap_server, **overrides))
    reader = await wait_until(lambda: asyncio.sleep(0, result=supervisor.readers.get(acme.mailbox_id)))
    await wait_until(lambda: asyncio.sleep(0, result=reader[0].stats.mode == mode))
    imap_server.deliver(address, human_reply("reply-7@good.test", mid))
    await wait_until(
        lambda: db.fetchval("SELECT count(*) FROM suppressions WHERE reason = 'reply'"), within=10
    )
    assert reader[0].stats.mode == mode
    if mode == "poll":
        assert reader[0].stats.logins >= 2  # logged in again for the poll that found it


async def test_a_refused_xoauth2_login_is_answered_and_counted_not_hung(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, oauth_server: Any, running: Any
) -> None:
    address = user("wrongtoken")
    imap_server.add_user(address)
    refresh = f"refresh-{uuid.uuid4().hex}"
    # The endpoint issues tokens for another user: the IMAP server refuses them for this one, with the
    # XOAUTH2 error challenge the client must answer before the server says NO.
    oauth_server.register(user("someone-else"), "client-2", "client-secret-2", refresh)
    vault.put_secret(
        "pot/acme/mailboxes/wrongtoken",
        {
            "username": address,
            "client_id": "client-2",
            "client_secret": "client-secret-2",
            "refresh_token": refresh,
        },
    )
    await seed_tenant(
        db,
        "acme",
        mailbox="wrongtoken",
        imap_port=imap_server.tls_port,
        creds="vault:pot/acme/mailboxes/wrongtoken",
        auth="oauth2",
        token_url=oauth_server.token_url,
    )
    before = metric("pot_ingester_errors_total", pool="acme/outreach", reason="login")
    await running(settings(fresh_database, vault, imap_server, imap_timeout_seconds=30))
    # Well within the command timeout: the challenge was answered, not waited out.
    await wait_until(
        lambda: asyncio.sleep(
            0, result=metric("pot_ingester_errors_total", pool="acme/outreach", reason="login") > before
        ),
        within=10,
    )


async def test_idle_is_renewed_on_the_same_connection(
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, running: Any
) -> None:
    address, acme = await password_inbox(db, vault, imap_server, "renewed")
    _, mid = await add_job(db, acme.campaign_id, "late-bounce-4@good.test", mailbox_id=acme.mailbox_id)
    supervisor = await running(settings(fresh_database, vault, imap_server, idle_renew_seconds=0.5))
    reader = await wait_until(lambda: asyncio.sleep(0, result=supervisor.readers.get(acme.mailbox_id)))
    await wait_until(lambda: asyncio.sleep(0, result=reader[0].stats.mode == "idle"))
    await asyncio.sleep(2.5)  # several renewals
    imap_server.deliver(address, dsn("late-bounce-4@good.test", mid))
    await wait_until(lambda: db.fetchval("SELECT count(*) FROM suppressions"), within=10)
    assert reader[0].stats.logins == 1


async def test_the_mailbox_set_follows_the_pool(  # added, paused, refused, inbox removed
    db: asyncpg.Connection, fresh_database: str, vault: Any, imap_server: Any, running: Any
) -> None:
    _, acme = await password_inbox(db, vault, imap_server, "first")
    supervisor = await running(settings(fresh_database, vault, imap_server))
    await wait_until(lambda: asyncio.sleep(0, result=set(supervisor.readers) == {acme.mailbox_id}))
    address = user("second")
    imap_server.add_user(address, "inbox-pass")
    vault.put_secret("pot/acme/mailboxes/second", {"username": address, "password": "inbox-pass"})
    second = await add_mailbox(
        db,
        acme.pool_id,
        "acme",
        "second",
        imap_port=imap_server.tls_port,
        creds="vault:pot/acme/mailboxes/second",
    )
    await wait_until(lambda: asyncio.sleep(0, result=set(supervisor.readers) == {acme.mailbox_id, second}))
    await db.execute("UPDATE mailboxes SET state = 'paused' WHERE id = $1", acme.mailbox_id)
    await wait_until(lambda: asyncio.sleep(0, result=set(supervisor.readers) == {second}))
    await db.execute("UPDATE mailboxes SET state = 'credentials_bad' WHERE id = $1", second)
    await wait_until(lambda: asyncio.sleep(0, result=not supervisor.readers))
    await db.execute("UPDATE mailboxes SET state = 'active' WHERE id = $1", second)  # a new secret
    await wait_until(lambda: asyncio.sleep(0, result=set(supervisor.readers) == {second}))
    await db.execute("UPDATE mailboxes SET imap_host = NULL WHERE id = $1", second)
    await wait_until(lambda: asyncio.sleep(0, result=not supervisor.readers))
    await wait_until(
        lambda: asyncio.sleep(0, result=metric("pot_ingester_imap_connections", pool="acme/outreach") == 0)
    )
