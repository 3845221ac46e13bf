"""Planning a claimed batch: permits, known-full caps, refusals, rendering, the epoch check after the
mark (pot_worker.planner), with the limits and DNS answered in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pot_common.unsubscribe import TenantKey, make_token
from pot_common.vault import SecretNotFound, VaultConfig, VaultUnavailable
from pot_worker.breaker import Breakers, BreakerState, Permits
from pot_worker.catalog import Catalog, campaign_from_row, mailbox_from_row, pool_from_row
from pot_worker.classify import JobState
from pot_worker.config import WorkerSettings
from pot_worker.limits import Refusal, Reservation, ReservationRequest
from pot_worker.planner import (
    FullCaps,
    Planned,
    Planner,
    UnsubscribeKeys,
    later,
    split_marked,
    token_use,
)
from pot_worker.store import Job, Result

from .test_catalog import campaign_row, mailbox_row, pool_row

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
COOL = timedelta(seconds=60)


def job(jid: int, recipient: str = "", campaign_id: int = 7, attempts: int = 0) -> Job:
    recipient = recipient or f"r{jid}@good.test"
    return Job(jid, campaign_id, recipient, recipient.rpartition("@")[2], {}, attempts)


class FakeLimiter:
    """Grants every request on the first candidate, except the campaigns or domains told to refuse."""

    def __init__(self, refuse: dict[str, Refusal] | None = None) -> None:
        self.refuse = refuse or {}
        self.released: list[Reservation] = []
        self.requests: list[ReservationRequest] = []

    async def reserve_batch(self, requests: Sequence[ReservationRequest]) -> list[Reservation | Refusal]:
        self.requests.extend(requests)
        return [
            self.refuse.get(r.domain) or Reservation(r.candidates[0].id, "e1", (r.domain,)) for r in requests
        ]

    async def release_many(self, reservations: Sequence[Reservation]) -> None:
        self.released.extend(reservations)


class OneProvider:
    async def provider(self, domain: str) -> str:
        return "acme-mx"


async def planner(limiter: FakeLimiter, **pool: Any) -> Planner:
    catalog = Catalog()
    catalog.pool = pool_from_row(pool_row(**pool))
    catalog.mailboxes = {1: mailbox_from_row(mailbox_row(1))}
    catalog.campaigns = {7: campaign_from_row(campaign_row(7))}
    settings = WorkerSettings(pool="acme/outreach", database_url="postgresql://x", redis_url="redis://x")
    return Planner(settings, catalog, None, limiter, OneProvider(), rotation_start=0)  # type: ignore[arg-type]


def half_open() -> Breakers:
    breakers = Breakers(threshold=1, cooloff=COOL)
    breakers.get("acme-mx").record_failure(NOW - COOL)
    return breakers


def test_later_hands_a_job_back_without_counting_an_attempt() -> None:
    result = later(job(1, attempts=2), NOW)
    assert (result.state, result.attempts, result.next_attempt_at) == (JobState.DEFERRED, 2, NOW)
    assert later(job(1), NOW).state is JobState.QUEUED


def test_split_marked_sends_only_marked_jobs_of_the_current_epoch() -> None:
    def planned(jid: int, epoch: str) -> Planned:
        return Planned(job(jid), None, Reservation(1, epoch, ()), "", "", b"", None)  # type: ignore[arg-type]

    batch = [planned(1, "e2"), planned(2, "e1"), planned(3, "e2")]
    send, held, lost = split_marked(batch, {1, 2}, "e2")
    assert ([p.job.id for p in send], [p.job.id for p in held], [p.job.id for p in lost]) == ([1], [2], [3])
    send, held, _ = split_marked(batch, {1, 2}, None)  # the epoch could not be read: send nothing
    assert send == [] and len(held) == 2


def test_full_caps_remember_until_the_bucket_ends() -> None:
    caps = FullCaps()
    caps.remember(job(1), Refusal("campaign", NOW + timedelta(hours=1)))
    caps.remember(job(2, "a@hot.test"), Refusal("domain", NOW + timedelta(minutes=30)))
    caps.remember(job(3), Refusal("inbox", NOW + timedelta(hours=2)))  # rotation finds another mailbox
    assert caps.known(NOW) == ([7], ["hot.test"])
    assert caps.until(job(4, "b@hot.test", campaign_id=8), NOW) == NOW + timedelta(minutes=30)
    assert caps.known(NOW + timedelta(minutes=30)) == ([7], [])
    caps.forget_campaign(7)
    assert caps.until(job(5), NOW) is None


async def test_every_job_is_planned_or_handed_back() -> None:
    limiter = FakeLimiter({"full.test": Refusal("domain", NOW + timedelta(hours=1))})
    plan = await planner(limiter)
    jobs = [job(1), job(2, "x@full.test"), job(3, campaign_id=99), job(4, "bad address@good.test")]
    plans = await plan.plan(jobs, NOW, Permits(Breakers(5, COOL)))
    planned, results = (
        [p for p in plans if isinstance(p, Planned)],
        [p for p in plans if isinstance(p, Result)],
    )
    assert [p.job.id for p in planned] == [1]
    assert planned[0].message.startswith(b"Content-Type: text/plain")
    by_job = {r.job_id: r for r in results}
    assert by_job[2].next_attempt_at == NOW + timedelta(hours=1)  # refused at its domain's cap
    assert by_job[3].next_attempt_at == NOW + timedelta(minutes=1)  # its campaign is not running
    assert by_job[4].state is JobState.FAILED and by_job[4].outcome == "failed"
    assert [r.mailbox_id for r in limiter.released] == [1]  # the invalid recipient's reservation
    assert plan.full.known(NOW) == ([], ["full.test"])


async def test_a_job_known_full_frees_the_probe_for_the_next_job_at_once() -> None:
    limiter = FakeLimiter()
    plan = await planner(limiter)
    plan.catalog.campaigns[8] = campaign_from_row(campaign_row(8))
    plan.full.remember(job(1), Refusal("campaign", NOW + timedelta(hours=1)))
    plans = await plan.plan([job(1), job(2, campaign_id=8)], NOW, Permits(half_open()))
    assert plans[0].next_attempt_at == NOW + timedelta(hours=1)  # type: ignore[union-attr]
    assert isinstance(plans[1], Planned)  # it took the probe job 1 gave back


async def test_a_half_open_circuit_lets_one_job_of_the_batch_probe() -> None:
    limiter = FakeLimiter({"good.test": Refusal("domain", NOW + timedelta(hours=1))})
    plan = await planner(limiter)
    breakers = half_open()
    permits = Permits(breakers)
    plans = await plan.plan([job(1), job(2)], NOW, permits)
    assert len(limiter.requests) == 1  # only the probe asked for limits
    assert plans[1].next_attempt_at == NOW + timedelta(seconds=1)  # type: ignore[union-attr]
    assert breakers.permit("acme-mx", NOW) is None  # the refused probe is held until the batch ends
    permits.release_unsettled()
    assert breakers.get("acme-mx").state is BreakerState.HALF_OPEN
    assert breakers.permit("acme-mx", NOW) is not None


KEY = "k" * 32


class FakeVault:
    """VaultKV's read_async, answered from a dict of path -> secret (or an exception to raise)."""

    def __init__(self, secrets: dict[str, Any]) -> None:
        self.config = VaultConfig(addr="http://vault.test", token="t")
        self.secrets = secrets
        self.reads: list[str] = []

    async def read_async(self, path: str) -> dict[str, Any]:
        self.reads.append(path)
        found = self.secrets.get(path)
        if found is None:
            raise SecretNotFound(path)
        if isinstance(found, Exception):
            raise found
        return dict(found)


def test_token_use_holds_only_links_that_would_go_out_broken_or_while_vault_is_away() -> None:
    key, missing, away = (
        TenantKey(b"k" * 32),
        TenantKey(None, "no secret"),
        TenantKey(None, "down", temporary=True),
    )
    assert token_use(None, key) == token_use(None, missing) == "none"
    assert token_use("https://u.test/u", key) == "token"
    assert token_use("https://u.test/u", missing) == "plain"  # works without a token, as before tokens
    assert token_use("https://u.test/u/{token}", missing) == "hold"  # would go out as a broken link
    assert token_use("https://u.test/u", away) == "hold"  # the key probably exists


async def test_unsubscribe_keys_are_read_once_per_tenant_and_say_why_one_is_missing() -> None:
    vault = FakeVault({"pot/acme/unsubscribe": {"key": KEY}, "pot/short/unsubscribe": {"key": "x"}})
    keys = UnsubscribeKeys(vault, "pot")  # type: ignore[arg-type]
    assert (await keys.get("acme")).key == KEY.encode()
    assert (await keys.get("acme")).key == KEY.encode()
    assert vault.reads == ["pot/acme/unsubscribe"]
    missing = await keys.get("other")
    assert missing.key is None and "no secret at secret/pot/other/unsubscribe" in missing.problem
    weak = await keys.get("short")
    assert weak.key is None and "at least 32 bytes" in weak.problem
    vault.secrets["pot/down/unsubscribe"] = VaultUnavailable("sealed")
    assert (await keys.get("down")).temporary


async def test_each_recipient_gets_its_token_in_the_link_and_the_mailbox_signature() -> None:
    plan = await planner(FakeLimiter())
    plan.keys = UnsubscribeKeys(FakeVault({"pot/acme/unsubscribe": {"key": KEY}}), "pot")  # type: ignore[arg-type]
    plan.catalog.campaigns[7] = campaign_from_row(
        campaign_row(
            7, name="welcome", unsubscribe_url="https://u.test/u", text_template="Bye\n{{ sender_signature }}"
        )
    )
    plan.catalog.mailboxes[1] = mailbox_from_row(mailbox_row(1, signature="Alice, Acme sales"))
    [planned] = await plan.plan([job(1, "Bob@good.test")], NOW, Permits(Breakers(5, COOL)))
    assert isinstance(planned, Planned)
    token = make_token(KEY.encode(), "acme", "welcome", "bob@good.test")
    assert f"<https://u.test/u?token={token}>".encode() in planned.message
    assert b"Alice, Acme sales" in planned.message


async def test_jobs_whose_link_needs_a_token_wait_with_the_reason_when_the_key_is_missing() -> None:
    limiter = FakeLimiter()
    plan = await planner(limiter)
    plan.keys = UnsubscribeKeys(FakeVault({}), "pot")  # type: ignore[arg-type]
    plan.catalog.campaigns[7] = campaign_from_row(campaign_row(7, unsubscribe_url="https://u.test/u/{token}"))
    plan.catalog.campaigns[8] = campaign_from_row(campaign_row(8, unsubscribe_url="https://u.test/u"))
    held, plain = await plan.plan([job(1), job(2, campaign_id=8)], NOW, Permits(Breakers(5, COOL)))
    assert isinstance(held, Result) and held.state is JobState.QUEUED and held.outcome is None
    assert held.next_attempt_at == NOW + timedelta(minutes=1)
    assert held.reply is not None and "no secret at secret/pot/acme/unsubscribe" in held.reply
    assert len(limiter.requests) == 1  # the held job reserved nothing
    assert isinstance(plain, Planned) and b"<https://u.test/u>" in plain.message
