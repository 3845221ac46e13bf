"""What the dispatcher makes of credentials: Vault away is temporary, only an SMTP AUTH refusal marks
them bad (with the KV version refused), a rotated secret logs the connection in again, and no AUTH
goes out without TLS unless allowed (pot_worker.dispatcher, with Vault, Postgres and the SMTP server
answered in memory)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pot_common.backoff import Backoff
from pot_common.vault import SecretNotFound, VaultForbidden, VaultUnavailable
from pot_worker.breaker import Breakers, Permits
from pot_worker.catalog import Catalog, Mailbox
from pot_worker.classify import JobState, Phase
from pot_worker.clock import ManualClock
from pot_worker.config import WorkerSettings
from pot_worker.credentials import Credentials, CredentialStore
from pot_worker.dispatcher import (
    CREDENTIALS_BACKOFF,
    PLAINTEXT_AUTH_REFUSED,
    Dispatcher,
    login_is_stale,
    refuses_plaintext_auth,
)
from pot_worker.limits import MailboxLimits, Reservation
from pot_worker.planner import Planned
from pot_worker.retry import RetryPolicy
from pot_worker.smtp import Attempt, Endpoint
from pot_worker.store import Job, Stats
from pot_worker.transcript import Tape

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
REF = "vault:pot/acme/mailboxes/alice"


class FakeVault:
    """Answers `read_version_async` from a list: a dict is the next version's data, an exception raised."""

    def __init__(self, *answers: Any) -> None:
        from pot_common.vault import VaultConfig

        self.config = VaultConfig(addr="http://vault.test", role="pot-worker")
        self.answers = list(answers)
        self.reads = 0
        self.version = 0

    async def read_version_async(self, path: str) -> tuple[dict[str, Any], int | None]:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        self.version += 1
        return dict(answer), self.version


class FakeStore:
    def __init__(self) -> None:
        self.bad: list[tuple[int, str, int | None]] = []

    async def credentials_bad(self, mailbox_id: int, reason: str, now: datetime, version: int | None) -> None:
        self.bad.append((mailbox_id, reason, version))


class FakeConnection:
    """One SMTP server's replies, in order; records who logged in."""

    def __init__(self, *attempts: Attempt) -> None:
        self.attempts = list(attempts)
        self.logins: list[Credentials | None] = []
        self.connected = False

    async def send(
        self, sender: str, recipient: str, message: bytes, creds: Credentials | None, tape: Tape | None = None
    ) -> Attempt:
        self.logins.append(creds)
        if tape is not None:
            tape.sent(f"MAIL FROM:<{sender}>")
        return self.attempts.pop(0)

    def close(self) -> None:
        self.connected = False

    async def quit(self) -> None:
        self.close()


SENT = Attempt(Phase.DATA, 250, "2.0.0 queued")
REFUSED = Attempt(Phase.AUTH, 535, "5.7.8 Authentication credentials invalid")


def mailbox(tls: str = "starttls", ref: str | None = REF) -> Mailbox:
    return Mailbox(
        1,
        "acme/alice",
        "alice@acme.test",
        "Alice",
        Endpoint("smtp.acme.test", 587, tls),
        ref,
        MailboxLimits(1, 100, 10, 0),
        "active",
        None,
    )


def planned(box: Mailbox, n: int, permits: Permits) -> list[Planned]:
    out = []
    for i in range(n):
        permit = permits.take("other", NOW)
        assert permit is not None
        job = Job(100 + i, 7, f"r{i}@example.test", "example.test", {}, 0)
        reservation = Reservation(box.id, "epoch", (f"k{i}",))
        out.append(Planned(job, box, reservation, f"<m{i}@acme.test>", "other", b"msg", permit))
    return out


def dispatcher(
    vault: FakeVault, conn: FakeConnection, box: Mailbox, **settings: Any
) -> tuple[Dispatcher, FakeStore, Catalog]:
    values = {"pool": "acme/outreach", "database_url": "postgresql://x", "redis_url": "redis://x"}
    store, catalog = FakeStore(), Catalog()
    catalog.mailboxes = {box.id: box}
    d = Dispatcher(
        WorkerSettings.model_validate({**values, **settings}),
        ManualClock(NOW),
        catalog,
        store,  # type: ignore[arg-type]
        CredentialStore(vault, ttl=300),  # type: ignore[arg-type]
        RetryPolicy(60, 3600, 3),
        asyncio.Event(),
        Stats(),
        Backoff(*CREDENTIALS_BACKOFF, uniform=lambda low, high: high),  # the ceiling: exact delays
    )
    d._connections[box.id] = conn  # type: ignore[assignment]
    return d, store, catalog


@pytest.mark.parametrize(
    "error",
    [
        VaultUnavailable("Vault at http://vault.test did not answer: VaultDown"),  # down or sealed
        VaultUnavailable("Vault at http://vault.test did not answer: ReadTimeout"),
        VaultForbidden("The Vault policy does not allow reading secret/pot/acme/mailboxes/alice"),
        SecretNotFound("No secret at secret/pot/acme/mailboxes/alice in Vault"),
    ],
)
async def test_vault_trouble_hands_the_jobs_back_with_a_backoff_and_never_marks_credentials_bad(
    error: Exception,
) -> None:
    box = mailbox()
    vault, conn = FakeVault(error), FakeConnection()
    d, store, catalog = dispatcher(vault, conn, box)
    permits = Permits(Breakers(5, timedelta(minutes=5)))
    unsent: list[Reservation] = []
    first = await d.send_all(planned(box, 3, permits), unsent)
    # Back in the queue unsent, attempt not counted, limits released; nothing said to the server.
    assert {(r.state, r.attempts, r.outcome) for r in first} == {(JobState.QUEUED, 0, None)}
    assert {r.next_attempt_at for r in first} == {NOW + timedelta(seconds=1)}
    assert len(unsent) == 3 and conn.logins == []
    assert store.bad == [] and not catalog.is_bad(box.id)
    # Still away: the wait doubles up to a cap of a few seconds, so sending resumes soon after Vault
    # does; the mailbox stays usable all along.
    waits = [(await d.send_all(planned(box, 1, permits), []))[0].next_attempt_at for _ in range(4)]
    assert [w - NOW for w in waits if w is not None] == [timedelta(seconds=s) for s in (2, 4, 5, 5)]
    assert catalog.eligible_mailboxes(NOW) == [box]


async def test_sending_resumes_as_soon_as_vault_answers_again() -> None:
    box = mailbox()
    vault = FakeVault(VaultUnavailable("down"), {"username": "alice", "password": "pw"})
    conn = FakeConnection(SENT)
    d, store, _ = dispatcher(vault, conn, box)
    permits = Permits(Breakers(5, timedelta(minutes=5)))
    await d.send_all(planned(box, 1, permits), [])
    [result] = await d.send_all(planned(box, 1, permits), [])
    assert result.state is JobState.SENT and store.bad == []
    assert conn.logins[0] is not None and conn.logins[0].username == "alice"


async def test_an_auth_refusal_marks_credentials_bad_with_the_version_used_and_forgets_them() -> None:
    box = mailbox()
    vault = FakeVault({"username": "alice", "password": "canary-wrong"})
    conn = FakeConnection(REFUSED, SENT)
    d, store, catalog = dispatcher(vault, conn, box)
    permits = Permits(Breakers(5, timedelta(minutes=5)))
    [refused, after] = await d.send_all(planned(box, 2, permits), [])
    assert store.bad == [(box.id, "AUTH refused: 535 5.7.8 Authentication credentials invalid", 1)]
    assert "canary" not in store.bad[0][1]
    assert catalog.is_bad(box.id) and catalog.eligible_mailboxes(NOW) == []
    # The refused job goes back uncounted for another mailbox; the next one is not even tried.
    assert (refused.state, refused.attempts, refused.outcome) == (JobState.QUEUED, 0, "auth_failed")
    assert (after.state, after.outcome) == (JobState.QUEUED, None) and len(conn.logins) == 1
    # The cached secret is gone: once the operator clears the flag, a new version is read.
    assert box.id not in d._connections  # the refused connection was dropped
    catalog._bad_mailboxes.clear()
    d._connections[box.id] = conn  # type: ignore[assignment]
    await d.send_all(planned(box, 1, permits), [])
    assert vault.reads == 2 and conn.logins[-1] is not None and conn.logins[-1].version == 2


async def test_plaintext_auth_is_refused_unless_allowed() -> None:
    box = mailbox(tls="none")
    vault = FakeVault({"username": "alice", "password": "pw"})
    conn = FakeConnection(SENT)
    d, store, _ = dispatcher(vault, conn, box)
    permits = Permits(Breakers(5, timedelta(minutes=5)))
    unsent: list[Reservation] = []
    [result] = await d.send_all(planned(box, 1, permits), unsent)
    assert (result.state, result.outcome, result.reply) == (JobState.FAILED, "failed", PLAINTEXT_AUTH_REFUSED)
    assert result.attempts == 0 and len(unsent) == 1
    # Not a word to the server, not even a read of the secret; the credentials are not judged.
    assert conn.logins == [] and vault.reads == 0 and store.bad == []

    allowed, _, _ = dispatcher(vault, conn, box, allow_plaintext_auth=True)
    [sent] = await allowed.send_all(planned(box, 1, permits), [])
    assert sent.state is JobState.SENT and conn.logins[0] is not None


def test_plaintext_auth_rule() -> None:
    plain, tls = Endpoint("h", 25, "none"), Endpoint("h", 587, "starttls")
    assert refuses_plaintext_auth(plain, True, False)
    assert not refuses_plaintext_auth(plain, True, True)  # the admin allowed it
    assert not refuses_plaintext_auth(plain, False, False)  # no AUTH at all: nothing to leak
    assert not refuses_plaintext_auth(tls, True, False)
    assert not refuses_plaintext_auth(Endpoint("h", 465, "implicit"), True, False)


class KV:
    """One secret in Vault: `write` makes a new version, as `potctl mailboxes rotate` does."""

    def __init__(self, password: str) -> None:
        from pot_common.vault import VaultConfig

        self.config = VaultConfig(addr="http://vault.test", role="pot-worker")
        self.data = {"username": "alice", "password": password}
        self.version = 1
        self.reads = 0

    def write(self, password: str) -> None:
        self.data = {**self.data, "password": password}
        self.version += 1

    async def read_version_async(self, path: str) -> tuple[dict[str, Any], int | None]:
        self.reads += 1
        return dict(self.data), self.version


class Session(FakeConnection):
    """A connection that stays logged in with the credentials it opened with, until closed."""

    def __init__(self) -> None:
        super().__init__()
        self.logged_in_with: Credentials | None = None
        self.passwords: list[str] = []  # the password each message went out under
        self.closes = 0

    async def send(
        self, sender: str, recipient: str, message: bytes, creds: Credentials | None, tape: Tape | None = None
    ) -> Attempt:
        if not self.connected:
            self.logins.append(creds)
            self.logged_in_with, self.connected = creds, True
        assert self.logged_in_with is not None
        self.passwords.append(self.logged_in_with.password.get_secret_value())
        return SENT

    def close(self) -> None:
        self.closes += self.connected
        super().close()


async def test_a_rotated_secret_logs_the_open_connection_in_again_before_the_next_message() -> None:
    box = mailbox()
    kv, conn = KV("old-pw"), Session()
    d, store, catalog = dispatcher(kv, conn, box)  # type: ignore[arg-type]
    permits = Permits(Breakers(5, timedelta(minutes=5)))
    first = await d.send_all(planned(box, 2, permits), [])
    assert conn.passwords == ["old-pw", "old-pw"] and len(conn.logins) == 1  # one login, reused

    kv.write("new-pw")  # the rotation: version 2; the worker still holds version 1 in its cache
    await d.send_all(planned(box, 1, permits), [])
    assert conn.passwords[-1] == "old-pw" and conn.closes == 0  # until the cache entry ends

    d.credentials.forget(REF)  # the entry's TTL ended: the next batch reads version 2
    second = await d.send_all(planned(box, 2, permits), [])
    assert conn.passwords[-2:] == ["new-pw", "new-pw"] and conn.closes == 1
    assert [c.version for c in conn.logins if c is not None] == [1, 2]
    assert {r.state for r in first + second} == {JobState.SENT} and store.bad == []
    assert not catalog.is_bad(box.id)

    d.credentials.forget(REF)  # the same version read again is no reason to log in again
    await d.send_all(planned(box, 1, permits), [])
    assert conn.closes == 1 and len(conn.logins) == 2 and kv.reads == 3


def test_login_staleness_rule() -> None:
    from pydantic import SecretStr

    v1 = Credentials("alice", SecretStr("a"), 1)
    assert login_is_stale(v1, Credentials("alice", SecretStr("b"), 2), connected=True)
    assert not login_is_stale(v1, Credentials("alice", SecretStr("a"), 1), connected=True)  # re-read
    assert not login_is_stale(v1, Credentials("alice", SecretStr("b"), 2), connected=False)  # opens anew
    assert login_is_stale(v1, Credentials("alice", SecretStr("b"), None), connected=True)  # no version
    assert login_is_stale(None, v1, connected=True)  # a mailbox that gained credentials
    assert not login_is_stale(None, None, connected=True)  # no AUTH at all
