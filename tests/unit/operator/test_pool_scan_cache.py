"""The pool scan's caches: selection redone only on change; which plans the clock alone can change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pot_common.api.pool import LabelSelector, MailboxPoolSpec
from pot_operator.index import Index
from pot_operator.mailbox.plan import MailboxMemory
from pot_operator.pool.mailboxes import time_sensitive
from pot_operator.pool.policy import policy_from_spec

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


def body(name: str, labels: dict[str, str], address: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels, "generation": 1},
        "spec": {
            "address": address or f"{name}@acme-mail.test",
            "smtp": {"host": "mx.acme-mail.test"},
            "credentials": {"vaultPath": f"pot/{name}"},
        },
        "status": {},
    }


def pool(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": {"matchLabels": labels}}}


def test_selection_picks_the_first_pool_by_name_and_reports_invalid_specs() -> None:
    index = Index()
    index.pools = {("ns", "b"): pool("b", {"t": "x"}), ("ns", "a"): pool("a", {"t": "x"})}
    index.mailboxes = {
        ("ns", "m1"): body("m1", {"t": "x"}),
        ("ns", "m2"): body("m2", {"t": "x"}, address="not an address"),
        ("ns", "m3"): body("m3", {"t": "y"}),
        ("other", "m4"): body("m4", {"t": "x"}),
    }
    selector = LabelSelector.model_validate({"matchLabels": {"t": "x"}})
    a = index.select_mailboxes(("ns", "a"), selector)
    assert [k for k, _ in a.mailboxes] == [("ns", "m1")]
    assert a.invalid == ["m2"]
    assert index.select_mailboxes(("ns", "b"), selector).mailboxes == []  # pool a owns them


def test_selection_is_reused_until_a_mailbox_or_pool_changes() -> None:
    index = Index()
    index.pools = {("ns", "a"): pool("a", {"t": "x"})}
    index.mailboxes = {("ns", "m1"): body("m1", {"t": "x"})}
    selector = LabelSelector.model_validate({"matchLabels": {"t": "x"}})
    first = index.select_mailboxes(("ns", "a"), selector)
    index.mailboxes[("ns", "m2")] = body("m2", {"t": "x"})
    assert index.select_mailboxes(("ns", "a"), selector) is first  # nobody said anything changed
    index.mailbox_version += 1  # what the Mailbox event handler does on a new or changed mailbox
    again = index.select_mailboxes(("ns", "a"), selector)
    assert [k for k, _ in again.mailboxes] == [("ns", "m1"), ("ns", "m2")]
    index.pools[("ns", "0first")] = pool("0first", {"t": "x"})
    index.pool_version += 1
    assert index.select_mailboxes(("ns", "a"), selector).mailboxes == []


def test_a_deleted_mailbox_is_forgotten_and_pools_select_again() -> None:
    index = Index()
    index.pools = {("ns", "a"): pool("a", {"t": "x"})}
    index.mailboxes = {("ns", "m1"): body("m1", {"t": "x"}), ("ns", "m2"): body("m2", {"t": "x"})}
    selector = LabelSelector.model_validate({"matchLabels": {"t": "x"}})
    index.select_mailboxes(("ns", "a"), selector)
    index.forget_mailbox(("ns", "m1"))
    assert [k for k, _ in index.select_mailboxes(("ns", "a"), selector).mailboxes] == [("ns", "m2")]


def test_a_spec_is_parsed_again_only_when_it_changed() -> None:
    index = Index()
    b = body("m1", {"t": "x"})
    first = index.parsed_mailbox(("ns", "m1"), b)
    assert index.parsed_mailbox(("ns", "m1"), body("m1", {"t": "y"})) is first  # labels are not the spec
    changed = index.parsed_mailbox(("ns", "m1"), body("m1", {"t": "x"}, address="new@acme-mail.test"))
    assert changed is not first and changed.spec.address == "new@acme-mail.test"


POLICY = policy_from_spec(
    "p",
    MailboxPoolSpec.model_validate(
        {"selector": {"matchLabels": {"t": "x"}}, "health": {"cooldownSeconds": 3600}}
    ),
    paused=False,
)


def test_only_cooldowns_and_recovering_caps_depend_on_the_clock() -> None:
    assert not time_sensitive(MailboxMemory(), POLICY, NOW)
    assert not time_sensitive(MailboxMemory(held_days=3, evaluated_on=NOW.date()), POLICY, NOW)
    cooling = MailboxMemory(cooldown_until=NOW + dt.timedelta(minutes=5), cooldown_reason="BounceRateHigh")
    assert time_sensitive(cooling, POLICY, NOW)
    recovering = MailboxMemory(resumed_at=NOW - dt.timedelta(minutes=10))
    assert time_sensitive(recovering, POLICY, NOW)
    recovered = MailboxMemory(resumed_at=NOW - dt.timedelta(hours=2))
    assert not time_sensitive(recovered, POLICY, NOW)
