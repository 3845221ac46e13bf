"""The pool as the worker knows it: loading rows, what a refresh moved, which mailboxes may send
(pot_worker.catalog)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pot_worker.catalog import (
    Catalog,
    PoolNotFound,
    campaign_from_row,
    changes,
    mailbox_from_row,
    pool_from_row,
)
from pot_worker.smtp import Endpoint

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def pool_row(**over: Any) -> dict[str, Any]:
    row = {
        "id": 1,
        "domain_hourly_limit": 100,
        "window_start": None,
        "window_end": None,
        "time_zone": "UTC",
        "window_days": [1, 2, 3, 4, 5, 6, 7],
        "paused": False,
    }
    return {**row, **over}


def mailbox_row(mid: int, **over: Any) -> dict[str, Any]:
    row = {
        "id": mid,
        "namespace": "acme",
        "name": f"mb{mid}",
        "address": f"mb{mid}@acme.test",
        "display_name": "Acme",
        "smtp_host": "smtp.acme.test",
        "smtp_port": 587,
        "smtp_tls": "starttls",
        "credentials_ref": None,
        "daily_cap": 100,
        "hourly_cap": 10,
        "min_spacing_seconds": 0,
        "state": "active",
        "cooldown_until": None,
    }
    return {**row, **over}


def campaign_row(cid: int, **over: Any) -> dict[str, Any]:
    row = {
        "id": cid,
        "tenant": "acme",
        "subject_template": "Hi",
        "text_template": "Hello",
        "html_template": None,
        "unsubscribe_url": None,
        "unsubscribe_mailto": None,
        "daily_limit": None,
        "hourly_limit": 50,
    }
    return {**row, **over}


class FakeStore:
    """The three catalog statements of JobStore, answered from lists."""

    def __init__(
        self, pool: dict[str, Any] | None, mailboxes: list[dict[str, Any]], campaigns: list[dict[str, Any]]
    ):
        self.pool, self.mailboxes, self.campaigns = pool, mailboxes, campaigns

    settings = SimpleNamespace(pool="acme/outreach")  # what Catalog reads of WorkerSettings

    async def pool_row(self) -> dict[str, Any] | None:
        return self.pool

    async def mailbox_rows(self, pool_id: int) -> list[dict[str, Any]]:
        return self.mailboxes

    async def campaign_rows(self, pool_id: int) -> list[dict[str, Any]]:
        return self.campaigns


def test_rows_become_typed_records() -> None:
    mailbox = mailbox_from_row(mailbox_row(3))
    assert mailbox.name == "acme/mb3" and mailbox.endpoint == Endpoint("smtp.acme.test", 587, "starttls")
    assert (mailbox.limits.daily_cap, mailbox.limits.hourly_cap) == (100, 10)
    assert pool_from_row(pool_row()).window_days == (1, 2, 3, 4, 5, 6, 7)
    assert campaign_from_row(campaign_row(7)).template.subject == "Hi"


def test_changes_name_only_what_moved() -> None:
    pool = pool_from_row(pool_row())
    mailboxes = {1: mailbox_from_row(mailbox_row(1)), 2: mailbox_from_row(mailbox_row(2))}
    campaigns = {7: campaign_from_row(campaign_row(7)), 8: campaign_from_row(campaign_row(8))}
    assert changes(pool, pool, mailboxes, mailboxes, campaigns, campaigns) == changes(
        None, pool, {}, {}, {}, {}
    )

    moved_mailboxes = {
        **mailboxes,
        2: replace(mailboxes[2], endpoint=Endpoint("other.test", 465, "implicit")),
    }
    moved_campaigns = {
        **campaigns,
        8: replace(campaigns[8], hourly_limit=5),
        9: campaign_from_row(campaign_row(9)),
    }
    moved = changes(
        pool,
        replace(pool, domain_hourly_limit=None),
        mailboxes,
        moved_mailboxes,
        campaigns,
        moved_campaigns,
    )
    assert moved.domain_cap_moved
    assert moved.campaign_caps_moved == (8,)  # 9 is new: nothing was remembered of it
    assert moved.endpoints_moved == (2,)


async def test_refresh_loads_and_reports_moves() -> None:
    catalog = Catalog()
    store = FakeStore(pool_row(), [mailbox_row(1)], [campaign_row(7)])
    first = await catalog.refresh(store)  # type: ignore[arg-type]
    assert not first.domain_cap_moved and catalog.pool is not None and set(catalog.mailboxes) == {1}
    store.pool = pool_row(domain_hourly_limit=5)
    store.mailboxes = [mailbox_row(1, smtp_port=2525)]
    second = await catalog.refresh(store)  # type: ignore[arg-type]
    assert second.domain_cap_moved and second.endpoints_moved == (1,)


async def test_refresh_of_an_unprojected_pool_raises() -> None:
    with pytest.raises(PoolNotFound):
        await Catalog().refresh(FakeStore(None, [], []))  # type: ignore[arg-type]


async def test_eligible_mailboxes_leave_out_paused_cooling_capped_and_refused() -> None:
    catalog = Catalog()
    rows = [
        mailbox_row(1),
        mailbox_row(2, state="paused"),
        mailbox_row(3, cooldown_until=NOW + timedelta(minutes=1)),
        mailbox_row(4, cooldown_until=NOW),
        mailbox_row(5, hourly_cap=0),
        mailbox_row(6),
    ]
    await catalog.refresh(FakeStore(pool_row(), rows, [campaign_row(7)]))  # type: ignore[arg-type]
    catalog.mark_bad(6)
    assert [m.id for m in catalog.eligible_mailboxes(NOW)] == [1, 4]
    assert catalog.is_bad(6) and catalog.may_send(NOW)


async def test_a_mailbox_postgres_marks_bad_is_forgotten_as_bad_here() -> None:
    catalog = Catalog()
    catalog.mark_bad(1)
    store = FakeStore(pool_row(), [mailbox_row(1, state="credentials_bad")], [campaign_row(7)])
    await catalog.refresh(store)  # type: ignore[arg-type]
    assert not catalog.is_bad(1)  # Postgres holds it now, and says when it is fixed
    store.mailboxes = [mailbox_row(1)]
    await catalog.refresh(store)  # type: ignore[arg-type]
    assert catalog.may_send(NOW)


@pytest.mark.parametrize(
    ("pool", "campaigns", "mailboxes"),
    [
        (pool_row(paused=True), [campaign_row(7)], [mailbox_row(1)]),
        (pool_row(), [], [mailbox_row(1)]),
        (pool_row(), [campaign_row(7)], [mailbox_row(1, state="paused")]),
        (pool_row(window_days=[6, 7]), [campaign_row(7)], [mailbox_row(1)]),  # NOW is a Monday
    ],
)
async def test_nothing_may_be_sent_without_pool_campaign_mailbox_and_window(
    pool: dict[str, Any], campaigns: list[dict[str, Any]], mailboxes: list[dict[str, Any]]
) -> None:
    catalog = Catalog()
    assert not catalog.may_send(NOW)  # not loaded yet
    await catalog.refresh(FakeStore(pool, mailboxes, campaigns))  # type: ignore[arg-type]
    assert not catalog.may_send(NOW)
