"""Sends a batch's planned messages and turns each reply into the job's result; used by pot_worker.runner.

One reused SMTP connection per mailbox (mailboxes in parallel, each behind a lock), its credentials
from Vault; the reply rules themselves are pure, in pot_worker.classify.

A connection stays logged in with the secret it opened with, so each one remembers which credentials
(KV version included) it logged in with: when the credentials cache hands out another version (a
rotation), the connection is closed before the next message and the next send logs in with the new
one. A rotation therefore takes effect one cache lifetime (POT_CREDENTIALS_TTL_SECONDS) after the
write at most, without a restart and without a failed send.

Only the SMTP server refusing AUTH, or an OAuth2 mailbox's token endpoint refusing its refresh token
(invalid_grant and the like), marks a mailbox's credentials bad (with the KV version refused). An
XOAUTH2 login the server refuses is first tried once more with a freshly refreshed access token: a
token may expire or be revoked between its refresh and its use. A refreshed token is not a rotation:
an open session stays logged in. Vault or a token endpoint being away, sealed or slow, or a secret it
cannot give, hands the mailbox's jobs back with a short backoff: the worker never turns such a problem
into a verdict on the credentials. AUTH is never sent over a connection without TLS unless the
cluster admin allowed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

from pot_common.backoff import Backoff
from pot_common.mail_credentials import Login, LoginRefused, TokenUnavailable
from pot_common.vault import VaultUnavailable
from prometheus_client import Counter

from pot_worker import metrics
from pot_worker.archive import Archive
from pot_worker.catalog import Catalog, Mailbox
from pot_worker.classify import JobState, Outcome, Phase, classify, decide
from pot_worker.clock import Clock, SystemClock
from pot_worker.config import WorkerSettings
from pot_worker.credentials import CredentialStore
from pot_worker.limits import Reservation
from pot_worker.planner import Planned, later
from pot_worker.retry import RetryPolicy
from pot_worker.smtp import Attempt, Endpoint, MailboxConnection
from pot_worker.store import JobStore, Result, Stats
from pot_worker.transcript import Tape

log = logging.getLogger("pot_worker")

# How long a mailbox's jobs wait after its credentials could not be read (base, cap in seconds; full
# jitter). The cap is short on purpose: when Vault comes back, sending resumes within seconds, and
# a try costs one Vault request per mailbox.
CREDENTIALS_BACKOFF = (1.0, 5.0)
PLAINTEXT_AUTH_REFUSED = (
    "refused to send SMTP AUTH without TLS (tlsMode none); the cluster admin allows it with "
    "POT_ALLOW_PLAINTEXT_AUTH"
)


def login_is_stale(logged_in_with: Login | None, current: Login | None, connected: bool) -> bool:
    """Whether an open connection must be closed before the next send because the secret it logged in
    with is no longer the current one (a new KV version, another username or password) (pure). A
    refreshed OAuth2 access token is not a new secret: the open session stays authenticated."""
    if not connected or (logged_in_with is None and current is None):
        return False
    return logged_in_with is None or not logged_in_with.same_secret(current)


def refuses_plaintext_auth(endpoint: Endpoint, has_credentials: bool, allowed: bool) -> bool:
    """Whether logging in would send the password in cleartext without the admin's consent (pure)."""
    return has_credentials and endpoint.tls == "none" and not allowed


def token_may_have_expired(attempt: Attempt, creds: Login | None) -> bool:
    """Whether a refused XOAUTH2 login deserves one fresh access token before it counts as bad
    credentials (pure): a token can expire or be revoked between its refresh and its use."""
    return (
        creds is not None
        and creds.is_oauth2
        and attempt.phase is Phase.AUTH
        and attempt.code is not None
        and attempt.code // 100 == 5
    )


class Dispatcher:
    """The SMTP side of one worker. `send_all` per batch; `close` at exit."""

    def __init__(
        self,
        settings: WorkerSettings,
        clock: Clock,
        catalog: Catalog,
        store: JobStore,
        credentials: CredentialStore,
        retry: RetryPolicy,
        stopping: asyncio.Event,
        stats: Stats,
        backoff: Backoff | None = None,
        archive: Archive | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.catalog = catalog
        self.store = store
        self.credentials = credentials
        self.retry = retry
        self._stopping = stopping
        self.stats = stats
        self._label = settings.pool
        self._tls = ssl.create_default_context(cafile=settings.smtp_ca_file)
        self._connections: dict[int, MailboxConnection] = {}
        # The credentials each mailbox's connection logged in with (or will, when it opens next).
        self._logins: dict[int, Login | None] = {}
        self._mailbox_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Labelled children looked up once: .labels() per message was measurable in the profile.
        self._latency = metrics.SMTP_LATENCY.labels(self._label)
        self._sends: dict[tuple[str, str], Counter] = {}
        self._credentials_backoff = backoff or Backoff(*CREDENTIALS_BACKOFF)
        self._credentials_failures: dict[int, int] = defaultdict(int)  # by mailbox id, reset on success
        self.archive = archive
        self._recording = archive is not None and archive.enabled
        # Tape timestamps by the worker's clock (the real one is time.time itself: cheaper per line).
        self._stamp = time.time if isinstance(clock, SystemClock) else lambda: clock.now().timestamp()

    async def close(self) -> None:
        for conn in self._connections.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.quit(), 2)
        self._connections.clear()
        self._logins.clear()
        await self.credentials.aclose()  # the token client's HTTP connections (reopened if used again)

    def drop(self, mailbox_ids: Iterable[int]) -> None:
        """Close these mailboxes' connections (their endpoint moved); the next send reconnects."""
        for mailbox_id in mailbox_ids:
            conn = self._connections.pop(mailbox_id, None)
            self._logins.pop(mailbox_id, None)
            if conn is not None:
                conn.close()

    async def send_all(self, planned: Sequence[Planned], unsent: list[Reservation]) -> list[Result]:
        """Send every message, mailboxes in parallel; reservations not used go onto `unsent`."""
        groups: dict[int, list[Planned]] = defaultdict(list)
        for p in planned:
            groups[p.mailbox.id].append(p)
        batches = await asyncio.gather(*(self._send_group(items, unsent) for items in groups.values()))
        return [r for batch in batches for r in batch]

    async def _send_group(self, items: list[Planned], unsent: list[Reservation]) -> list[Result]:
        """One mailbox's messages, one at a time on its connection. A message that does not go keeps its
        permit unsettled: the runner releases those for the whole batch."""
        mailbox = items[0].mailbox
        results: list[Result] = []
        async with self._mailbox_locks[mailbox.id]:
            if refuses_plaintext_auth(
                mailbox.endpoint, bool(mailbox.credentials_ref), self.settings.allow_plaintext_auth
            ):
                return [self._refuse_plaintext(p, unsent) for p in items]
            conn = self._connections.get(mailbox.id)
            if conn is None:
                conn = self._connections[mailbox.id] = MailboxConnection(
                    mailbox.endpoint,
                    self.settings.helo_name,
                    self.settings.smtp_timeout_seconds,
                    self._tls,
                    record=self._recording,
                )
            try:
                creds = await self.credentials.login(mailbox.login_ref)
            except LoginRefused as exc:
                return await self._login_refused(mailbox, items, unsent, exc)
            except Exception as exc:  # any other failure to read is temporary (see the module docstring)
                return self._credentials_later(mailbox, items, unsent, exc)
            self._credentials_failures.pop(mailbox.id, None)
            await self._log_in_afresh_if_rotated(mailbox, conn, creds)
            token_refreshed = False
            for i, p in enumerate(items):
                if self.catalog.is_bad(mailbox.id):
                    unsent.append(p.reservation)
                    results.append(later(p.job, self.clock.now()))
                    continue
                if p.permit.circuit_open or self._stopping.is_set():
                    # Opened by an earlier reply in this same batch, or SIGTERM: nothing of this job
                    # went out, so it goes back unsent (attempt not counted, limits released) instead
                    # of waiting in `sending` for a lease to end and become `unknown`.
                    unsent.append(p.reservation)
                    now = self.clock.now()
                    results.append(later(p.job, p.permit.retry_at(now) if p.permit.circuit_open else now))
                    continue
                tape = Tape(self._stamp) if self._recording else None
                started = time.perf_counter()
                attempt = await conn.send(mailbox.address, p.job.recipient, p.message, creds, tape)
                if not token_refreshed and token_may_have_expired(attempt, creds):
                    token_refreshed = True  # once per batch: a second refusal is a verdict
                    try:
                        creds = await self._fresh_token(mailbox, attempt, tape)
                    except LoginRefused as exc:
                        results.extend(await self._login_refused(mailbox, items[i:], unsent, exc))
                        break
                    except Exception as exc:  # the token endpoint is away: nothing of these was sent
                        results.extend(self._credentials_later(mailbox, items[i:], unsent, exc))
                        break
                    attempt = await conn.send(mailbox.address, p.job.recipient, p.message, creds, tape)
                self._latency.observe(time.perf_counter() - started)
                result = await self._record(p, attempt, unsent, creds)
                results.append(result)
                if tape is not None:
                    self._archive(p, result, tape)
        return results

    async def _log_in_afresh_if_rotated(
        self, mailbox: Mailbox, conn: MailboxConnection, creds: Login | None
    ) -> None:
        """Close the connection if it logged in with a secret that is no longer current, so the next
        send reconnects with `creds`. Called under the mailbox's lock before its messages go; nothing
        of a message is on the wire then, so the close loses nothing."""
        before = self._logins.get(mailbox.id)
        if login_is_stale(before, creds, conn.connected):
            log.info(
                "Closed connection to log in with new credentials mailbox=%s version=%s previous_version=%s",
                mailbox.name,
                creds.version if creds is not None else None,
                before.version if before is not None else None,
            )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.quit(), 2)
            conn.close()  # if QUIT timed out, the old session must still go
        # Every send of this group uses `creds`: a reused connection logged in with them (checked
        # above), a new or reopened one logs in with them.
        self._logins[mailbox.id] = creds

    async def _fresh_token(self, mailbox: Mailbox, refused: Attempt, tape: Tape | None) -> Login | None:
        """A newly refreshed access token after the server refused the current one (it may have expired
        or been revoked early); the caller sends once more with it."""
        log.info(
            "Refreshing OAuth2 access token after AUTH was refused mailbox=%s code=%s",
            mailbox.name,
            refused.code,
        )
        if tape is not None:
            tape.note("access token refused; refreshing it once and logging in again")
        self.credentials.forget_token(mailbox.credentials_ref or "")
        creds = await self.credentials.login(mailbox.login_ref)
        self._logins[mailbox.id] = creds
        return creds

    async def _login_refused(
        self, mailbox: Mailbox, items: list[Planned], unsent: list[Reservation], error: LoginRefused
    ) -> list[Result]:
        """The token endpoint refused the mailbox's refresh token or client: a verdict on the credentials,
        as a refused password is. Nothing was sent, so the jobs go back for another mailbox."""
        self.credentials.forget(mailbox.credentials_ref or "")
        self._count(mailbox, Outcome.AUTH_FAILED)
        await self.mark_mailbox_bad(mailbox, f"OAuth2 token refused: {error}"[:300], error.version)
        unsent.extend(p.reservation for p in items)
        now = self.clock.now()
        return [later(p.job, now) for p in items]

    def _archive(self, p: Planned, result: Result, tape: Tape) -> None:
        """Hand one attempt's transcript to the archive (a list append; see pot_worker.archive)."""
        assert self.archive is not None
        self.archive.add(
            {
                "job": p.job.id,
                "attempt": result.attempts,  # as delivery_events.attempt counts it
                "campaign": p.job.campaign_id,
                "mailbox": p.mailbox.name,
                "from": p.mailbox.address,
                "to": p.job.recipient,
                "message_id": p.message_id,
                "outcome": result.outcome,
                "state": result.state.value,
                "at": self._stamp(),
                "lines": tape.lines,
            }
        )

    def _credentials_later(
        self, mailbox: Mailbox, items: list[Planned], unsent: list[Reservation], error: Exception
    ) -> list[Result]:
        """Hand the mailbox's jobs back unsent, due again after a backoff: Vault may be away (down,
        sealed, slow) or the secret missing or unreadable; the operator reports the latter on the
        Mailbox. Never a verdict on the credentials themselves."""
        kind = (
            "vault"
            if isinstance(error, VaultUnavailable)
            else "oauth"
            if isinstance(error, TokenUnavailable)
            else "credentials"
        )
        metrics.WORKER_ERRORS.labels(self._label, kind).inc()
        self._credentials_failures[mailbox.id] += 1
        delay = self._credentials_backoff.delay(self._credentials_failures[mailbox.id])
        log.warning(
            "Deferred jobs, credentials unavailable mailbox=%s kind=%s jobs=%d retry_in=%.1f error=%s",
            mailbox.name,
            kind,
            len(items),
            delay,
            error,
        )
        retry_at = self.clock.now() + timedelta(seconds=delay)
        unsent.extend(p.reservation for p in items)
        return [later(p.job, retry_at) for p in items]

    def _refuse_plaintext(self, p: Planned, unsent: list[Reservation]) -> Result:
        """The job fails without a word to the server: its password would have crossed in cleartext."""
        log.error("Refused SMTP AUTH without TLS mailbox=%s job=%d", p.mailbox.name, p.job.id)
        unsent.append(p.reservation)
        self._count(p.mailbox, Outcome.FAILED)
        result = Result(
            p.job.id,
            JobState.FAILED,
            p.job.attempts,
            None,
            None,
            None,
            PLAINTEXT_AUTH_REFUSED,
            Outcome.FAILED.value,
            p.mailbox.id,
        )
        if self._recording:
            tape = Tape(self._stamp)
            tape.note(f"nothing sent: {PLAINTEXT_AUTH_REFUSED}")
            self._archive(p, result, tape)
        return result

    def _count(self, mailbox: Mailbox, outcome: Outcome) -> None:
        key = (mailbox.name, outcome.value)
        sends = self._sends.get(key)
        if sends is None:
            sends = self._sends[key] = metrics.SENDS.labels(self._label, *key)
        sends.inc()
        self.stats.outcomes[outcome.value] += 1

    async def _record(
        self, p: Planned, attempt: Attempt, unsent: list[Reservation], creds: Login | None
    ) -> Result:
        """Classify one reply and apply its side effects (breaker, mailbox, metrics)."""
        now = self.clock.now()
        outcome = classify(attempt.phase, attempt.code, attempt.enhanced)
        decision = decide(outcome, attempt.phase, p.job.attempts + 1, self.retry, now)
        p.permit.record(failure=decision.breaker_failure, success=decision.breaker_success, now=now)
        if decision.release:
            unsent.append(p.reservation)
        if decision.mailbox_bad:
            self.credentials.forget(p.mailbox.credentials_ref or "")
            await self.mark_mailbox_bad(
                p.mailbox,
                f"AUTH refused: {attempt.code} {attempt.reply}"[:300],
                creds.version if creds is not None else None,
            )
        self._count(p.mailbox, outcome)
        if outcome is Outcome.UNKNOWN:
            log.warning("Lost connection after DATA job=%d mailbox=%s", p.job.id, p.mailbox.name)
        return Result(
            p.job.id,
            decision.state,
            decision.attempts,
            decision.next_attempt_at,
            attempt.code,
            attempt.enhanced,
            attempt.reply,
            outcome.value,
            p.mailbox.id,
        )

    async def mark_mailbox_bad(self, mailbox: Mailbox, reason: str, version: int | None) -> None:
        """Stop using the mailbox in this worker and record `credentials_bad` with the reason and the
        KV version of the secret the server refused (the operator clears the flag on a newer one)."""
        self.catalog.mark_bad(mailbox.id)
        self.drop([mailbox.id])
        log.error("Marked mailbox credentials bad mailbox=%s version=%s", mailbox.name, version)
        await self.store.credentials_bad(mailbox.id, reason, self.clock.now(), version)
