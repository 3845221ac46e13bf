"""OAuth2 mailboxes on the real Postgres, Redis, OpenBao, SMTP sink and token endpoint: an oauth2 mailbox
sends over XOAUTH2 with one token for a whole batch; its access token is refreshed before it expires
without a failed send; a revoked refresh token marks the mailbox credentials_bad, and no secret or
token appears in the logs (canaries) or in a recorded transcript."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from pot_common.mail_credentials import OAUTH2, CredentialStore, Login
from pot_common.oauth import xoauth2_initial_response
from pot_common.vault import VaultConfig, VaultKV
from pot_stack.oauth_server import OAuthServer
from pot_stack.service import free_port
from pot_stack.smtp_sink import SmtpSink
from pot_worker.clock import ManualClock
from pot_worker.runner import Worker
from pot_worker.smtp import Endpoint, MailboxConnection
from pot_worker.transcript import REDACTED, Tape
from prometheus_client import REGISTRY
from pydantic import SecretStr

from .conftest import START, add_campaign, add_jobs, add_mailbox, seed_pool, settings, sink_ca

USER = "oauth-box@acme-outreach.test"
CLIENT_ID = "pot-test-client"
LIFETIME = 6  # seconds an access token lives: refreshed after 3 (half its life, at the earliest)
ROUND_SECONDS = 4.5  # between two rounds of sends: past a token's refresh time, before its expiry


@pytest.fixture(scope="module")
def tokens() -> Iterator[OAuthServer]:
    """A token endpoint of our own whose access tokens live LIFETIME seconds."""
    server = OAuthServer(expires_in=LIFETIME).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def oauth_sink(tmp_path_factory: pytest.TempPathFactory, tokens: OAuthServer) -> Iterator[SmtpSink]:
    """A sink that takes XOAUTH2 logins whose token the endpoint says is active (and no password)."""
    root = tmp_path_factory.mktemp("xoauth2-sink")
    auth = root / "users"
    auth.write_text("")  # no password works: only XOAUTH2
    server = SmtpSink(root, auth_file=auth, oauth_introspect_url=tokens.introspect_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Grant:
    """A registered grant with canary values, and its secret written to Vault."""

    def __init__(self, vault: Any, tokens: OAuthServer, name: str) -> None:
        self.client_secret = f"cs-CANARY-{name}-51c0"
        self.refresh_token = f"rt-CANARY-{name}-9e2b"
        tokens.register(USER, CLIENT_ID, self.client_secret, self.refresh_token)
        path = f"pot/mailboxes/{name}"
        written = vault.client().secrets.kv.v2.create_or_update_secret(
            path=path,
            secret={
                "username": USER,
                "client_id": CLIENT_ID,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            },
            mount_point=vault.mount,
        )
        self.version = int(written["data"]["version"])
        self.ref = f"vault:{path}"


@dataclass
class Setup:
    """One test's oauth2 mailbox (its grant registered, its secret in Vault), campaign and worker."""

    grant: Grant
    mailbox_id: int
    campaign_id: int
    worker: Worker


@pytest.fixture
async def setup(
    db: asyncpg.Connection,
    fresh_database: str,
    fresh_redis: str,
    oauth_sink: SmtpSink,
    tokens: OAuthServer,
    vault: Any,
    dns_server: Any,
) -> AsyncIterator[Setup]:
    oauth_sink.clear()
    grant = Grant(vault, tokens, uuid.uuid4().hex[:8])
    seed = await seed_pool(db)
    mid = await add_mailbox(db, seed, oauth_sink, name="oauth-box", creds=grant.ref)
    await db.execute(
        "UPDATE mailboxes SET auth_mechanism = 'oauth2', oauth_provider = 'custom', oauth_token_url = $2"
        " WHERE id = $1",
        mid,
        tokens.token_url,
    )
    worker = Worker(
        settings(
            fresh_database,
            fresh_redis,
            vault_addr=vault.addr,
            vault_token=vault.token,
            smtp_ca_file=sink_ca(oauth_sink),
            dns_resolver=dns_server.resolver,
        ),
        clock=ManualClock(START),
        uniform=lambda a, b: b,
    )
    campaign_id = await add_campaign(db, seed)  # before start: the worker's catalog loads it then
    await worker.start()
    try:
        yield Setup(grant, mid, campaign_id, worker)
    finally:
        await worker.close()


async def outcomes(db: asyncpg.Connection) -> list[str]:
    return [r["outcome"] for r in await db.fetch("SELECT outcome FROM delivery_events ORDER BY id")]


async def test_an_oauth2_mailbox_sends_over_xoauth2_with_one_token_for_the_batch(
    db: asyncpg.Connection, setup: Setup, oauth_sink: SmtpSink, tokens: OAuthServer
) -> None:
    recipients = [f"ok-{i}@good.test" for i in range(5)]
    await add_jobs(db, setup.campaign_id, recipients)
    assert await setup.worker.run_once() == 5
    assert await outcomes(db) == ["sent"] * 5
    stored = oauth_sink.messages()
    assert sorted(m.rcpt_to for m in stored) == recipients
    assert all(m.auth_user == USER and m.auth_mechanism == "XOAUTH2" and m.tls for m in stored)
    assert tokens.token_requests(setup.grant.refresh_token) == 1


async def test_the_access_token_is_refreshed_before_it_expires_without_a_failed_send(
    db: asyncpg.Connection,
    setup: Setup,
    oauth_sink: SmtpSink,
    tokens: OAuthServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    worker = setup.worker
    requests: list[int] = []
    # Four rounds 4.5 s apart span three token lifetimes. Each round logs in afresh (its
    # connection dropped before), so the sink checks the token of that moment. A LIFETIME 6 token
    # is due for refresh after 3 s: each round finds the previous round's token due, and
    # refreshes it while it still has about 1.5 s to live (a client refreshing only at expiry
    # would reuse it, and the request counts would show it).
    for round_ in range(4):
        await add_jobs(db, setup.campaign_id, [f"ok-r{round_}-{i}@good.test" for i in range(3)])
        started = time.monotonic()
        assert await worker.run_once() == 3
        requests.append(tokens.token_requests(setup.grant.refresh_token))
        worker.dispatcher.drop([setup.mailbox_id])
        await asyncio.sleep(max(0.0, ROUND_SECONDS - (time.monotonic() - started)))
    assert requests == [1, 2, 3, 4]  # one refresh per round: each before the previous token expired
    assert await outcomes(db) == ["sent"] * 12  # no AUTH refusal, deferral or retry
    assert "after AUTH was refused" not in caplog.text  # no login ever met an expired token
    assert len(oauth_sink.messages()) == 12


async def test_a_revoked_refresh_token_marks_the_mailbox_credentials_bad_and_leaks_nothing(
    db: asyncpg.Connection,
    setup: Setup,
    oauth_sink: SmtpSink,
    tokens: OAuthServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    grant, mid, worker = setup.grant, setup.mailbox_id, setup.worker
    await add_jobs(db, setup.campaign_id, ["ok-before@good.test"])
    assert await worker.run_once() == 1
    # The user (or an admin) revokes the grant: its refresh token and the access tokens it issued stop
    # working. The next login is refused, the refresh that follows is invalid_grant.
    assert tokens.revoke(grant.refresh_token)
    worker.dispatcher.drop([mid])
    await add_jobs(db, setup.campaign_id, ["ok-after-1@good.test", "ok-after-2@good.test"])
    assert await worker.run_once() == 2
    row = await db.fetchrow(
        "SELECT state, state_reason, credentials_bad_version FROM mailboxes WHERE id = $1", mid
    )
    assert row["state"] == "credentials_bad" and row["credentials_bad_version"] == grant.version
    assert "invalid_grant" in row["state_reason"]
    jobs = {
        r["recipient"]: (r["state"], r["attempts"])
        for r in await db.fetch("SELECT recipient, state::text, attempts FROM send_jobs")
    }
    # Nothing after the revocation went out; those jobs wait, uncounted, for another mailbox.
    assert jobs["ok-before@good.test"] == ("sent", 1)
    assert jobs["ok-after-1@good.test"] == ("queued", 0) and jobs["ok-after-2@good.test"] == ("queued", 0)
    assert [m.rcpt_to for m in oauth_sink.messages()] == ["ok-before@good.test"]
    # Canaries: no secret and no access token (the endpoint's are `pot-at-…`) in any log line or reason.
    logged = caplog.text + str(row["state_reason"])
    for secret in (grant.client_secret, grant.refresh_token, "pot-at-"):
        assert secret not in logged
    assert "Marked mailbox credentials bad" in caplog.text


async def test_a_recorded_xoauth2_session_shows_neither_the_token_nor_its_initial_response(
    oauth_sink: SmtpSink, tokens: OAuthServer, vault: Any
) -> None:
    """Transcripts (pot_worker.transcript) redact XOAUTH2 as they do PLAIN: the accepted login, and a
    refused one whose 334 JSON challenge and the empty answer to it are redacted too."""
    grant = Grant(vault, tokens, uuid.uuid4().hex[:8])
    store = CredentialStore(
        VaultKV(VaultConfig(addr=vault.addr, token=vault.token, mount=vault.mount)), ttl=30
    )
    login = await store.get(grant.ref, OAUTH2, "custom", tokens.token_url)
    assert login is not None
    forged = Login(USER, OAUTH2, access_token=SecretStr("pot-at-forged-canary"), version=login.version)
    context = ssl.create_default_context(cafile=str(oauth_sink.cert_path))
    endpoint = Endpoint(oauth_sink.host, oauth_sink.port, "starttls")
    accepted, refused = Tape(), Tape()
    for creds, tape in ((login, accepted), (forged, refused)):
        conn = MailboxConnection(endpoint, "pot-worker.test", 5, context, record=True)
        try:
            await conn.send("oauth-box@acme-outreach.test", "ok-t@good.test", b"x\r\n", creds, tape)
        finally:
            await conn.quit()
    await store.aclose()
    shown = [text for _, _, text in accepted.lines + refused.lines]
    # EHLO after STARTTLS is shown: only the mechanism's lines are redacted (the refused login's empty
    # answer to the 334 challenge included).
    for tape, then in ((accepted, "MAIL"), (refused, REDACTED)):
        sent = [text.split(" ", 1)[0] for _, way, text in tape.lines if way == ">"]
        assert sent[:5] == ["EHLO", "STARTTLS", "EHLO", "AUTH", then]
    assert f"AUTH XOAUTH2 {REDACTED}" in shown and "235 2.7.0 Authentication successful" in shown
    assert f"334 {REDACTED}" in shown and any(t.startswith("535 ") for t in shown)
    for token in (login.secret(), forged.secret()):
        creds_forms = (token, xoauth2_initial_response(USER, token))
        assert not any(form in text for form in creds_forms for text in shown)


async def test_a_token_endpoint_that_is_away_defers_the_jobs_and_judges_nothing(
    db: asyncpg.Connection, setup: Setup, oauth_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at the token URL: temporary, like Vault being away. The jobs go back unsent and
    uncounted, the mailbox stays active, the worker counts an `oauth` error."""
    caplog.set_level(logging.INFO)
    away = f"http://127.0.0.1:{free_port()}/token"
    await db.execute("UPDATE mailboxes SET oauth_token_url = $2 WHERE id = $1", setup.mailbox_id, away)
    await setup.worker.catalog.refresh(setup.worker.store)
    await add_jobs(db, setup.campaign_id, ["ok-away-1@good.test", "ok-away-2@good.test"])
    labels = {"pool": setup.worker.settings.pool, "kind": "oauth"}

    def errors() -> float:
        return REGISTRY.get_sample_value("pot_worker_errors_total", labels) or 0.0

    before = errors()
    assert await setup.worker.run_once() == 2
    jobs = [tuple(r) for r in await db.fetch("SELECT state::text, attempts FROM send_jobs")]
    assert jobs == [("queued", 0), ("queued", 0)]
    mailbox = await db.fetchrow("SELECT state, credentials_bad_version FROM mailboxes")
    assert tuple(mailbox) == ("active", None)
    assert errors() == before + 1
    assert "kind=oauth" in caplog.text and "did not answer: ConnectError" in caplog.text
    assert not oauth_sink.messages() and not await outcomes(db)
