"""Reads one mailbox's inbox for as long as the pool has it: log in, record what arrived since the
checkpoint, then wait (IDLE, or polling) and again; reconnects with backoff. Run by pot_ingester.supervisor.

The inbox's state (reading, or why not) is written to its mailbox row when it changes, for the
operator's InboxReady condition: a refused login at once, other failures once several come in a row.

Held connections are bounded (Gates.hold): an inbox beyond the bound logs in every poll_seconds, reads
and logs out. Logins in progress are bounded too (Gates.login), so a restart of thousands of inboxes
does not open thousands of TLS handshakes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
from pot_common.backoff import Backoff
from pot_common.mail_credentials import (
    CredentialsError,
    CredentialStore,
    LoginRefused,
    TokenUnavailable,
    VaultUnavailable,
)
from pot_feedback.classify import classify
from pot_feedback.classify.verdict import UNKNOWN

from pot_ingester import metrics
from pot_ingester.config import IngesterSettings
from pot_ingester.decide import inbox_state, one_line, resume_after
from pot_ingester.session import ImapError, LoginFailed, PlaintextRefused, Session
from pot_ingester.store import PG_FAILURES, Inbox, Store

log = logging.getLogger("pot_ingester.inbox")


@dataclass
class Gates:
    """What all inboxes of the process share: the login bound and the held-connection budget."""

    max_logins: int
    max_held: int
    held: int = 0
    login: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.login = asyncio.Semaphore(self.max_logins)

    def try_hold(self) -> bool:
        if self.held >= self.max_held:
            return False
        self.held += 1
        return True

    def release(self) -> None:
        self.held = max(0, self.held - 1)


@dataclass
class Stats:
    """Counters of one reader (the bench and tests read them)."""

    recorded: int = 0
    replayed: int = 0
    logins: int = 0
    mode: str = "starting"  # idle, poll, held-poll, failing


class InboxReader:
    def __init__(
        self,
        inbox: Inbox,
        store: Store,
        credentials: CredentialStore,
        settings: IngesterSettings,
        gates: Gates,
    ) -> None:
        self.inbox = inbox
        self.store = store
        self.credentials = credentials
        self.settings = settings
        self.gates = gates
        self.pool = settings.pool
        self.stats = Stats()
        self.backoff = Backoff(settings.reconnect_base_seconds, settings.reconnect_cap_seconds)
        # A refused login is retried far more slowly than a dropped connection: providers lock accounts
        # after repeated failures, and a fixed secret is seen at the next try anyway.
        self.login_backoff = Backoff(max(30.0, settings.reconnect_base_seconds), 1800.0)
        # The (state, error) last written to the mailbox row by this reader: only a change is written.
        self.state: tuple[str, str | None] | None = None

    async def run(self) -> None:
        """Until cancelled. Every failure is logged, counted and waited out; none ends the loop."""
        failures = 0
        while True:
            failure = await self._one_connection()
            if failure is None:
                failures = 0
                await asyncio.sleep(self.settings.poll_seconds)  # a poll round ended: the next one
                continue
            reason, error = failure
            failures += 1
            self.stats.mode = "failing"
            metrics.ERRORS.labels(self.pool, reason).inc()
            state = inbox_state(reason, failures)
            if state is not None:
                try:
                    await self._set_state(state, error)
                except PG_FAILURES as exc:  # said again at the next failure
                    log.warning(
                        "Could not record the inbox state mailbox=%s error=%s",
                        self.inbox.label,
                        type(exc).__name__,
                    )
            backoff = self.login_backoff if reason in ("login", "credentials") else self.backoff
            await asyncio.sleep(backoff.delay(failures))

    async def _set_state(self, state: str, error: str | None) -> None:
        verdict = (state, one_line(error) if error is not None else None)
        if verdict == self.state:
            return
        if await self.store.inbox_state(self.inbox.id, *verdict):
            log.info("Recorded the inbox state mailbox=%s state=%s", self.inbox.label, state)
        self.state = verdict

    async def _one_connection(self) -> tuple[str, str] | None:
        """One connection's life; None when it ended normally (a poll round), else the error reason
        (pot_ingester_errors_total's word) and its text as logged (never a secret)."""
        inbox = self.inbox
        try:
            async with self._session() as (session, held):
                await self.read_new(session)
                await self._set_state("reading", None)
                if not held:
                    self.stats.mode = "poll"
                    return None
                use_idle = session.idle and self.settings.imap_idle
                self.stats.mode = "idle" if use_idle else "held-poll"
                while True:
                    if use_idle:
                        await session.wait_idle(self.settings.idle_renew_seconds)
                    else:
                        await asyncio.sleep(self.settings.poll_seconds)
                        await session.noop()
                    await self.read_new(session)
        except PlaintextRefused as exc:
            log.warning("Refused to read inbox mailbox=%s error=%s", inbox.label, exc)
            return "plaintext_refused", str(exc)
        except LoginRefused as exc:
            log.warning("Token endpoint refused the login mailbox=%s error=%s", inbox.label, exc)
            return "credentials", f"the OAuth2 token endpoint refused the login: {exc}"
        except CredentialsError as exc:
            log.warning("Could not resolve the login mailbox=%s error=%s", inbox.label, exc)
            return "credentials", f"could not resolve the login: {exc}"
        except (VaultUnavailable, TokenUnavailable) as exc:
            log.warning("Login source unavailable mailbox=%s error=%s", inbox.label, type(exc).__name__)
            return "credentials", f"login source unavailable: {type(exc).__name__}"
        except LoginFailed as exc:
            self._forget_login()
            log.warning("IMAP server refused the login mailbox=%s error=%s", inbox.label, exc)
            return "login", str(exc)
        except (ImapError, OSError, TimeoutError) as exc:
            detail = (str(exc) or type(exc).__name__)[:200]  # a timeout has no text of its own
            log.warning("Lost the inbox, reconnecting mailbox=%s error=%s", inbox.label, detail)
            return "imap", detail
        except PG_FAILURES as exc:
            log.warning("Postgres failed, reconnecting mailbox=%s error=%s", inbox.label, type(exc).__name__)
            return "postgres", type(exc).__name__

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[Session, bool]]:
        held = self.gates.try_hold()
        session = Session(
            self.inbox.host,
            self.inbox.port,
            self.inbox.tls,
            timeout=self.settings.imap_timeout_seconds,
            ca_file=self.settings.imap_ca_file,
            allow_plaintext=self.settings.allow_plaintext_auth,
        )
        counted = False
        try:
            async with self.gates.login:
                login = await self.credentials.get(
                    self.inbox.credentials_ref,
                    self.inbox.auth_mechanism,
                    self.inbox.oauth_provider,
                    self.inbox.oauth_token_url,
                )
                await session.open(login)
            self.stats.logins += 1
            metrics.CONNECTIONS.labels(self.pool).inc()
            counted = True
            yield session, held
        finally:
            await session.close()
            if counted:
                metrics.CONNECTIONS.labels(self.pool).dec()
            if held:
                self.gates.release()

    def _forget_login(self) -> None:
        ref = self.inbox.credentials_ref
        if not ref:
            return
        if self.inbox.auth_mechanism == "oauth2":
            self.credentials.forget_token(ref)  # perhaps expired: the next login refreshes it
        else:
            self.credentials.forget(ref)  # perhaps rotated: the next login reads Vault again

    async def read_new(self, session: Session) -> int:
        """Record every message above the checkpoint, in UID order; returns how many were new."""
        inbox = self.inbox
        checkpoint = await self.store.checkpoint(inbox.id)
        after = resume_after(checkpoint, session.uidvalidity)
        if checkpoint is not None and checkpoint[0] != session.uidvalidity:
            log.info(
                "Inbox renumbered, reading it again mailbox=%s uidvalidity_was=%d uidvalidity=%d",
                inbox.label,
                checkpoint[0],
                session.uidvalidity,
            )
            await self.store.reset(inbox.id, session.uidvalidity)
        uids = await session.new_uids(after)
        new = linked = 0
        started = time.monotonic()
        for i in range(0, len(uids), self.settings.fetch_batch):
            for message in await session.fetch(
                uids[i : i + self.settings.fetch_batch], self.settings.max_message_bytes
            ):
                verdict = classify(message.raw)
                try:
                    recorded = await self.store.record(inbox, session.uidvalidity, message, verdict)
                except asyncpg.DataError as exc:
                    # Something in this message Postgres will not store (a NUL byte in an address): it
                    # is recorded as unknown, so one bad message never holds up the inbox behind it.
                    metrics.ERRORS.labels(self.pool, "message").inc()
                    log.warning(
                        "Recorded a message as unknown mailbox=%s uid=%d error=%s",
                        inbox.label,
                        message.uid,
                        type(exc).__name__,
                    )
                    recorded = await self.store.record(inbox, session.uidvalidity, message, UNKNOWN)
                if recorded.new:
                    new += 1
                    linked += recorded.linked
                    self.stats.recorded += 1
                else:
                    self.stats.replayed += 1
        if uids:
            log.info(
                "Read inbox mailbox=%s messages=%d new=%d linked=%d last_uid=%d seconds=%.2f",
                inbox.label,
                len(uids),
                new,
                linked,
                uids[-1],
                time.monotonic() - started,
            )
        return new
