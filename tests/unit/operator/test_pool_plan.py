"""The MailboxPool controller's plan (pure): conditions, auto-pause and resume, alerts, scaling, memos."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pot_common.annotations import RESUME_ANNOTATION
from pot_common.api.pool import MailboxPoolSpec
from pot_operator.conditions import get_condition
from pot_operator.config import Settings
from pot_operator.credentials import CredentialCheck
from pot_operator.db import MailboxId
from pot_operator.health import WindowCounts
from pot_operator.index import parse_mailbox
from pot_operator.manifests import PoolRef, WorkerSettings, build_worker_deployment
from pot_operator.pool.mailboxes import InvalidMailbox, MailboxesSeen
from pot_operator.pool.plan import PoolObserved, PoolPlan, PoolWrites, plan_pool
from pot_operator.pool.policy import PauseState

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
SETTINGS = Settings(vault_addr="http://127.0.0.1:8200")
OK = CredentialCheck(True, "Verified", "ok")
POOL_SPEC: dict[str, Any] = {
    "selector": {"matchLabels": {"p": "1"}},
    "limits": {"perInboxPerDay": 30, "perInboxPerHour": 10},
    "warmup": {"days": 14, "startVolume": 5, "maxVolume": 30},
    "health": {"minSample": 10, "cooldownSeconds": 3600, "maxCoolingPercent": 60},
    "workers": {"minReplicas": 0, "maxReplicas": 4, "sendsPerWorkerPerHour": 10},
    "alerts": {"telegram": {"chatId": "-100", "tokenVaultPath": "alerts/t"}},
}


def pool_body(
    spec: dict[str, Any] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "pot.dev/v1alpha1",
        "kind": "MailboxPool",
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "uid-p",
            "generation": 2,
            "labels": {},
            "annotations": annotations or {},
        },
        "spec": POOL_SPEC if spec is None else spec,
        "status": {},
    }


def mailbox_body(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "generation": 1, "labels": {"p": "1"}},
        "spec": {
            "address": f"{name}@acme-mail.test",
            "smtp": {"host": "smtp.acme-mail.test"},
            "credentials": {"vaultPath": f"mailboxes/{name}"},
            "warmupStart": "2026-03-05",
        },
        "status": {},
    }


BODIES = {name: mailbox_body(name) for name in ("m1", "m2")}


def seen(counts: dict[str, WindowCounts] | None = None, **kw: Any) -> MailboxesSeen:
    """Two mailboxes with verified credentials; `counts` per mailbox name (their rows have ids 1, 2)."""
    selected = [(("ns", n), b, parse_mailbox(b["spec"])) for n, b in BODIES.items()]
    ids = {"m1": MailboxId(1, "active"), "m2": MailboxId(2, "active")}
    args: dict[str, Any] = {
        "selected": selected,
        "ids": ids,
        "counts": {ids[n].id: (c, 0) for n, c in (counts or {}).items()},
        "credentials": {key: OK for key, _, _ in selected},
        "memories": {},
        "listed": {},
        "memos": {},
        "upserted": {},
    }
    args.update(kw)
    return MailboxesSeen(**args)


def observed(**kw: Any) -> PoolObserved:
    body = kw.pop("body", pool_body())
    args: dict[str, Any] = {
        "spec": MailboxPoolSpec.model_validate(body["spec"]),
        "pool_id": 7,
        "mailboxes": seen(),
    }
    args.update(kw)
    return PoolObserved(("ns", "p"), body, SETTINGS, **args)


def writes(plan: PoolPlan) -> PoolWrites:
    assert plan.writes is not None
    return plan.writes


def condition(plan: PoolPlan, type_: str) -> dict[str, Any]:
    found = get_condition(plan.status["conditions"], type_)
    assert found is not None, type_
    return dict(found)


def test_an_invalid_spec_says_so_and_writes_nothing_else() -> None:
    plan = plan_pool(observed(spec=None, spec_error="selector: field required"), NOW)
    assert plan.writes is None
    ready = condition(plan, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "InvalidSpec",
        "selector: field required",
    )
    assert plan.status_patch == plan.status  # nothing there yet: all of it is written
    assert plan.status["observedGeneration"] == 2


def test_an_unreachable_database_is_a_condition_and_nothing_else() -> None:
    plan = plan_pool(observed(db_error="Postgres unreachable: OSError"), NOW)
    assert plan.writes is None
    db = condition(plan, "DatabaseReady")
    assert (db["status"], db["reason"], db["message"]) == (
        "False",
        "DatabaseUnreachable",
        "Postgres unreachable: OSError",
    )
    assert condition(plan, "Ready")["reason"] == "DatabaseUnreachable"


def test_a_healthy_pool_projects_its_mailboxes_and_creates_its_workers() -> None:
    plan = plan_pool(observed(), NOW)
    w = writes(plan)
    assert plan.status["mailboxes"]["total"] == 2 and plan.status["mailboxes"]["warming"] == 2
    assert condition(plan, "Ready")["status"] == "True"
    assert condition(plan, "MailboxesValid")["reason"] == "AllValid"
    assert not w.row.paused and not plan.status["paused"]
    assert [r.name for r in w.mailbox_writes.rows] == ["m1", "m2"]  # never written before
    assert [k for k, _ in w.mailbox_writes.patches] == [("ns", "m1"), ("ns", "m2")]
    assert w.events == [] and w.alerts == []
    # No backlog: the Deployment is created at zero replicas.
    assert w.deployment.create is not None and w.deployment.create["spec"]["replicas"] == 0
    assert plan.status["capacityToday"] == 2 * 14  # warmup day 6 of 5 -> 30 over 14 days, per mailbox


def test_bounces_pause_the_pool_with_an_event_and_an_alert() -> None:
    bounced = WindowCounts(attempted=20, bounced=5)
    plan = plan_pool(observed(mailboxes=seen({"m1": bounced, "m2": bounced}), backlog=30), NOW)
    w = writes(plan)
    assert w.pause.started and plan.status["paused"] and w.row.paused
    assert condition(plan, "AutoPaused")["reason"] == "BounceRateHigh"
    assert condition(plan, "Ready")["reason"] == "AutoPaused"
    assert [e[1] for e in w.events] == ["AutoPaused"]
    ((key, text),) = w.alerts
    assert key == f"AutoPaused:{NOW.isoformat()}"
    assert text.startswith("POT: pool ns/p paused automatically: BounceRateHigh")
    # The next step is named: in the Event, the alert and the reason `kubectl get mbxpool` shows.
    assert "potctl resume pool p -n ns" in text and "potctl resume pool p -n ns" in w.events[0][2]
    assert "potctl resume pool p -n ns" in plan.status["pauseReason"]
    assert w.pause_memory is not None and w.pause_memory.paused_at == NOW
    assert plan.status["workerReplicas"] == 0  # paused: no workers whatever the backlog
    # Each mailbox also cooled down on its own rates: those Events go with its status.
    assert sorted(e[2] for e in w.mailbox_writes.events) == ["CooldownStarted", "CooldownStarted"]


def test_the_resume_annotation_acknowledges_an_automatic_pause() -> None:
    paused_at = NOW - dt.timedelta(hours=1)
    pause = PauseState(paused_at, "BounceRateHigh", "bounce 25.00%")
    still = plan_pool(observed(pause=pause), NOW)
    assert still.status["paused"] and writes(still).pause_memory is None  # nothing new to remember
    acknowledged = pool_body(
        annotations={RESUME_ANNOTATION: (paused_at + dt.timedelta(minutes=1)).isoformat()}
    )
    plan = plan_pool(observed(body=acknowledged, pause=pause), NOW)
    w = writes(plan)
    assert w.pause.resumed and not plan.status["paused"] and not w.row.paused
    assert [e[1] for e in w.events] == ["Resumed"]
    assert [k for k, _ in w.alerts] == [f"Resumed:{paused_at.isoformat()}"]  # the incident it ends
    assert w.pause_memory == PauseState()
    # An acknowledgement older than the pause does not count.
    stale = pool_body(annotations={RESUME_ANNOTATION: (paused_at - dt.timedelta(days=1)).isoformat()})
    assert plan_pool(observed(body=stale, pause=pause), NOW).status["paused"]


def test_spec_paused_takes_over_an_automatic_pause() -> None:
    pause = PauseState(NOW - dt.timedelta(hours=1), "BounceRateHigh", "m")
    plan = plan_pool(observed(body=pool_body({**POOL_SPEC, "paused": True}), pause=pause), NOW)
    w = writes(plan)
    assert plan.status["paused"] and plan.status["pauseReason"] == "Paused by spec"
    assert w.pause_memory == PauseState() and not w.pause.resumed
    assert condition(plan, "Ready")["reason"] == "Paused"


def test_workers_follow_the_backlog_and_only_drift_is_patched() -> None:
    plan = plan_pool(observed(backlog=15), NOW)
    assert plan.status["workerReplicas"] == 2  # ceil(15 / 10 per worker)
    same = build_worker_deployment(PoolRef("ns", "p", "uid-p"), WorkerSettings(replicas=2), SETTINGS)
    assert writes(plan_pool(observed(backlog=15, deployment=same), NOW)).deployment.patch is None
    fewer = build_worker_deployment(PoolRef("ns", "p", "uid-p"), WorkerSettings(replicas=1), SETTINGS)
    change = writes(plan_pool(observed(backlog=15, deployment=fewer), NOW)).deployment
    assert change.create is None and change.patch == {"spec": {"replicas": 2}}


def test_invalid_mailboxes_are_named_on_the_pool() -> None:
    plan = plan_pool(observed(invalid=["zz", "bad"]), NOW)
    valid = condition(plan, "MailboxesValid")
    assert (valid["status"], valid["message"]) == ("False", "Invalid spec: bad, zz")


def test_an_invalid_mailbox_gets_its_own_condition_and_event_and_its_neighbours_their_status() -> None:
    bad_body = {**mailbox_body("bad"), "spec": {**mailbox_body("bad")["spec"], "smtp": {"host": "a..b.test"}}}
    bad = InvalidMailbox(("ns", "bad"), bad_body, "smtp.host: String should match pattern")
    plan = plan_pool(observed(invalid=["bad"], invalid_mailboxes=[bad]), NOW)
    w = writes(plan).mailbox_writes
    patches = dict(w.patches)
    assert {("ns", "m1"), ("ns", "m2"), ("ns", "bad")} <= patches.keys()  # the good ones still get status
    status = patches[("ns", "bad")]
    ready = get_condition(status["conditions"], "Ready")
    assert status["state"] == "Failed" and status["pool"] == "p"
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].endswith("smtp.host: String should match pattern")
    events = [(body["metadata"]["name"], type_, reason) for body, type_, reason, _ in w.events]
    assert ("bad", "Warning", "InvalidSpec") in events
    assert {r.name for r in w.rows} == {"m1", "m2"}  # nothing of it goes to the workers
    # Once its status says so, a later scan neither patches it nor raises the Event again.
    written = {**bad_body, "status": status}
    again = writes(
        plan_pool(
            observed(invalid=["bad"], invalid_mailboxes=[InvalidMailbox(bad.key, written, bad.error)]), NOW
        )
    )
    assert ("ns", "bad") not in dict(again.mailbox_writes.patches)
    assert all(body["metadata"]["name"] != "bad" for body, *_ in again.mailbox_writes.events)


def test_an_unchanged_scan_reuses_every_plan_and_writes_nothing() -> None:
    first = plan_pool(observed(), NOW)
    w = writes(first)
    memos = w.mailbox_writes.memos
    upserted = {p.key: (7, p.plan.row) for p in w.mailboxes}
    memories = w.mailbox_writes.memories
    again = plan_pool(
        observed(mailboxes=seen(memos=memos, upserted=upserted, memories=memories)),
        NOW + dt.timedelta(minutes=1),
    )
    w2 = writes(again)
    assert not any(p.fresh for p in w2.mailboxes)
    mw = w2.mailbox_writes
    assert (mw.patches, mw.rows, mw.memories, mw.events, mw.memos) == ([], [], {}, [], {})
    # The watch brings back our own status write: still nothing to plan or write, the memo follows.
    echoed = {
        n: {**b, "status": p.plan.status} for (n, b), p in zip(BODIES.items(), w.mailboxes, strict=True)
    }
    selected = [(("ns", n), b, parse_mailbox(b["spec"])) for n, b in echoed.items()]
    echo = plan_pool(
        observed(mailboxes=seen(selected=selected, memos=memos, upserted=upserted, memories=memories)),
        NOW + dt.timedelta(minutes=2),
    )
    mw = writes(echo).mailbox_writes
    assert not any(p.fresh for p in writes(echo).mailboxes) and mw.patches == [] and mw.rows == []
    assert [m.body for m in mw.memos.values()] == list(echoed.values())


def test_a_changed_credential_verdict_replans_only_that_mailbox() -> None:
    first = writes(plan_pool(observed(), NOW))
    memos = first.mailbox_writes.memos
    upserted = {p.key: (7, p.plan.row) for p in first.mailboxes}
    missing = CredentialCheck(False, "SecretMissing", "write it")
    credentials = {("ns", "m1"): OK, ("ns", "m2"): missing}
    w = writes(
        plan_pool(
            observed(
                mailboxes=seen(
                    memos=memos,
                    upserted=upserted,
                    memories=first.mailbox_writes.memories,
                    credentials=credentials,
                )
            ),
            NOW,
        )
    )
    assert [p.key for p in w.mailboxes if p.fresh] == [("ns", "m2")]
    assert [r.name for r in w.mailbox_writes.rows] == ["m2"]
    assert w.mailbox_writes.rows[0].state == "paused"


def test_a_blocklisted_domain_cools_its_mailboxes_and_alerts_once_per_domain() -> None:
    target = parse_mailbox(BODIES["m1"]["spec"]).target
    plan = plan_pool(observed(mailboxes=seen(listed={target: "acme-mail.test listed on dbl.test"})), NOW)
    w = writes(plan)
    assert w.mailbox_writes.newly_listed == {target: ["m1", "m2"]}
    assert [k for k, _ in w.alerts][:1] == ["blocklist:acme-mail.test"]
    assert "Cooled down 2 mailbox(es) of pool ns/p: m1, m2" in w.alerts[0][1]
    assert all(listed for _, _, listed in w.mailbox_writes.gauges)


def test_without_auto_pause_a_remembered_pause_is_lifted() -> None:
    spec = {**POOL_SPEC, "autoPause": {"enabled": False}}
    pause = PauseState(NOW - dt.timedelta(hours=1), "BounceRateHigh", "m")
    w = writes(plan_pool(observed(body=pool_body(spec), pause=pause), NOW))
    assert w.pause.resumed and not w.row.paused and w.pause_memory == PauseState()


def test_a_new_pause_after_a_resume_is_a_new_incident_for_the_alerts() -> None:
    """The dedup window swallows repeats of one incident, never the next one (a pause 19 s after a resume)."""
    bounced = WindowCounts(attempted=20, bounced=5)
    first = writes(plan_pool(observed(mailboxes=seen({"m1": bounced, "m2": bounced}), backlog=30), NOW))
    later = NOW + dt.timedelta(seconds=19)
    second = writes(plan_pool(observed(mailboxes=seen({"m1": bounced, "m2": bounced}), backlog=30), later))
    assert first.alerts[0][0] != second.alerts[0][0]
