"""The pool scan's caches: selection redone only on change; which plans the clock alone can change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pot_common.api.pool import LabelSelector, MailboxPoolSpec
from pot_operator.config import Settings
from pot_operator.mailbox import MailboxMemory
from pot_operator.policy import policy_from_spec
from pot_operator.pool import select_mailboxes, time_sensitive
from pot_operator.runtime import Runtime

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


def runtime() -> Runtime:
    return Runtime(settings=Settings(), kube=None, vault=None)  # type: ignore[arg-type]


def test_selection_picks_the_first_pool_by_name_and_reports_invalid_specs() -> None:
    rt = runtime()
    rt.pools = {("ns", "b"): pool("b", {"t": "x"}), ("ns", "a"): pool("a", {"t": "x"})}
    rt.mailboxes = {
        ("ns", "m1"): body("m1", {"t": "x"}),
        ("ns", "m2"): body("m2", {"t": "x"}, address="not an address"),
        ("ns", "m3"): body("m3", {"t": "y"}),
        ("other", "m4"): body("m4", {"t": "x"}),
    }
    selector = LabelSelector.model_validate({"matchLabels": {"t": "x"}})
    a = select_mailboxes(rt, ("ns", "a"), selector)
    assert [k for k, _ in a.mailboxes] == [("ns", "m1")]
    assert a.invalid == ["m2"]
    assert select_mailboxes(rt, ("ns", "b"), selector).mailboxes == []  # pool a owns them


def test_selection_is_reused_until_a_mailbox_or_pool_changes() -> None:
    rt = runtime()
    rt.pools = {("ns", "a"): pool("a", {"t": "x"})}
    rt.mailboxes = {("ns", "m1"): body("m1", {"t": "x"})}
    selector = LabelSelector.model_validate({"matchLabels": {"t": "x"}})
    first = select_mailboxes(rt, ("ns", "a"), selector)
    rt.mailboxes[("ns", "m2")] = body("m2", {"t": "x"})
    assert select_mailboxes(rt, ("ns", "a"), selector) is first  # nobody said anything changed
    rt.mailbox_version += 1  # what the Mailbox event handler does on a new or changed mailbox
    again = select_mailboxes(rt, ("ns", "a"), selector)
    assert [k for k, _ in again.mailboxes] == [("ns", "m1"), ("ns", "m2")]
    rt.pools[("ns", "0first")] = pool("0first", {"t": "x"})
    rt.pool_version += 1
    assert select_mailboxes(rt, ("ns", "a"), selector).mailboxes == []


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
