"""The Fleet table's rows, filters, order and pages (pot_console.fleet), on objects the operator writes."""

from __future__ import annotations

from typing import Any

from pot_console.fleet import FleetQuery, mailbox_entry, select

T = "2026-11-27T10:00:00Z"


def mailbox(name: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": status.pop("namespace", "acme"), "name": name},
        "spec": {"address": f"{name}@acme-mail.test", "paused": status.pop("paused", False)},
        "status": status,
    }


def cooling(name: str, reason: str, **status: Any) -> dict[str, Any]:
    conditions = [
        {
            "type": "Healthy",
            "status": "False",
            "reason": reason,
            "message": "Cooling down",
            "lastTransitionTime": T,
        }
    ]
    return mailbox(name, state="Cooling", conditions=conditions, **status)


ROWS = [
    mailbox_entry(o)
    for o in (
        mailbox("alice", state="Active", pool="p1", warmupDay=30, capToday=30, sentToday=4, healthScore=98),
        mailbox("bob", state="Warming", pool="p1", warmupDay=3, capToday=7, healthScore=75),
        cooling("carol", "DeferralRate", pool="p2", warmupDay=12, healthScore=60),
        cooling("dave", "Blocklisted", pool="p2", warmupDay=20, healthScore=40, namespace="beta"),
        mailbox("erin"),  # no status yet
    )
]


def names(query: FleetQuery) -> list[str]:
    return [r.name for r in select(ROWS, query).rows]


def test_a_row_is_potctls_row_plus_typed_fields() -> None:
    alice = ROWS[0]
    assert alice.cells == ("alice", "alice@acme-mail.test", "Active", "30", "30", "4", "98", "-", "no")
    assert (alice.health, alice.warmup_day, alice.pool, alice.cooldown) == (98, 30, "p1", "")
    assert ROWS[2].cooldown == "DeferralRate"
    assert ROWS[4].state == "" and ROWS[4].health is None and ROWS[4].cells[2] == "-"


def test_filters() -> None:
    assert names(FleetQuery(state="Cooling")) == ["carol", "dave"]
    assert names(FleetQuery(health="good")) == ["alice"]
    assert names(FleetQuery(health="watch")) == ["bob"]
    assert names(FleetQuery(health="poor")) == ["carol", "dave"]
    assert names(FleetQuery(health="unknown")) == ["erin"]
    assert names(FleetQuery(cooldown="any")) == ["carol", "dave"]
    assert names(FleetQuery(cooldown="Blocklisted")) == ["dave"]
    assert names(FleetQuery(warmup_min=10, warmup_max=25)) == ["carol", "dave"]
    assert names(FleetQuery(namespace="beta")) == ["dave"]
    assert names(FleetQuery(pool="p1", search="BOB")) == ["bob"]


def test_order_puts_unknown_values_last_either_way() -> None:
    assert names(FleetQuery(sort="health")) == ["dave", "carol", "bob", "alice", "erin"]
    assert names(FleetQuery(sort="health", descending=True)) == ["alice", "bob", "carol", "dave", "erin"]
    assert names(FleetQuery(sort="warmup_day"))[-1] == "erin"


def test_pages() -> None:
    many = [mailbox_entry(mailbox(f"m{i:05d}", state="Active", healthScore=i % 100)) for i in range(12_000)]
    page = select(many, FleetQuery(page=3, per_page=100))
    assert (page.total, page.fleet, page.page, page.pages) == (12_000, 12_000, 3, 120)
    assert [r.name for r in page.rows[:2]] == ["m00200", "m00201"]
    assert select(many, FleetQuery(page=999, per_page=200)).page == 60  # past the end: the last page


def test_query_parameters_never_fail() -> None:
    query = FleetQuery.from_params(
        {"sort": "evil", "per_page": "7", "page": "-3", "state": "Bogus", "warmup_min": "x", "health": "good"}
    )
    assert (query.sort, query.per_page, query.page, query.state, query.warmup_min) == (
        "name",
        50,
        1,
        "",
        None,
    )
    assert query.health == "good"
    assert FleetQuery(sort="health", page=2).params(page=3) == {"sort": "health", "page": "3"}
