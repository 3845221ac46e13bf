"""The Campaign controller's plans (pure): early stops, the preflight hold, the row, phase and counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pot_common.api.campaign import CampaignSpec
from pot_deliverability.preflight import Check, Level, PreflightReport
from pot_operator.campaign.plan import (
    CampaignMemory,
    CampaignObserved,
    Loaded,
    early_patch,
    plan_lifecycle,
    plan_projection,
)
from pot_operator.campaign.recipients import ParsedRecipients
from pot_operator.conditions import get_condition

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
SPEC: dict[str, Any] = {
    "poolRef": {"name": "p"},
    "recipients": {"configMapRef": {"name": "list"}},
    "template": {"subject": "Hi {{ first }}", "text": "Hello"},
}
PASSING = [PreflightReport("acme-mail.test", "smtp.acme-mail.test", [Check("mx", Level.PASS, "ok")])]
FAILING = [
    PreflightReport("acme-mail.test", "smtp.acme-mail.test", [Check("spf", Level.FAIL, "no SPF record")])
]
LOADED_CONDITION = {
    "type": "RecipientsReady",
    "status": "True",
    "reason": "Materialised",
    "message": "3 send jobs created",
    "lastTransitionTime": "2026-03-10T11:00:00Z",
    "observedGeneration": 1,
}


def body(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "c", "namespace": "ns", "generation": 1},
        "spec": SPEC if spec is None else spec,
        "status": status or {},
    }


def observed(b: dict[str, Any] | None = None, **kw: Any) -> CampaignObserved:
    b = b if b is not None else body()
    args: dict[str, Any] = {
        "spec": CampaignSpec.model_validate(b["spec"]),
        "pool_found": True,
        "pool_id": 7,
        "preflight": PASSING,
        "recipients": ParsedRecipients([("a@x.test", {}), ("b@x.test", {})], [4]),
    }
    args.update(kw)
    return CampaignObserved(("ns", "c"), b, **args)


def counts(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "total": 0,
        "queued": 0,
        "sent": 0,
        "deferred": 0,
        "bounced": 0,
        "failed": 0,
        "unknown": 0,
        "suppressed": 0,
        "unsubscribed": 0,
        "first_sent_at": None,
        "last_final_at": None,
    }
    out.update(kw)
    return out


def condition(conditions: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    found = get_condition(conditions, type_)
    assert found is not None, type_
    return dict(found)


def test_an_invalid_spec_fails_the_campaign() -> None:
    p = plan_projection(observed(spec=None, spec_error="poolRef: field required"), NOW)
    assert p.row is None and p.status is not None and p.status["phase"] == "Failed"
    assert condition(p.status["conditions"], "Ready")["reason"] == "InvalidSpec"


def test_a_missing_pool_and_an_unreachable_database_hold_it_before_any_write() -> None:
    missing = plan_projection(observed(pool_found=False), NOW)
    assert missing.row is None and missing.status is not None and missing.status["phase"] == "Pending"
    assert condition(missing.status["conditions"], "Ready")["reason"] == "PoolNotFound"
    down = plan_projection(observed(db_error="Postgres unreachable: OSError"), NOW)
    assert down.row is None and down.status is not None and "phase" not in down.status
    assert condition(down.status["conditions"], "DatabaseReady")["reason"] == "DatabaseUnreachable"
    not_yet = plan_projection(observed(pool_id=None), NOW)
    assert not_yet.status is not None and condition(not_yet.status["conditions"], "PoolReady")["reason"] == (
        "PoolNotReconciled"
    )


def test_a_new_campaign_loads_its_recipients_with_the_row_pending() -> None:
    p = plan_projection(observed(), NOW)
    assert p.status is None and p.load and p.row is not None
    assert p.row.state == "pending" and p.db_state == "running" and p.row.tenant == "ns"
    assert p.preflight is not None and p.preflight["passed"] and p.preflight_failing is False
    assert p.alerts == []


def test_a_failed_preflight_holds_the_campaign_and_alerts() -> None:
    loaded = body(status={"conditions": [LOADED_CONDITION]})
    p = plan_projection(observed(loaded, preflight=FAILING), NOW)
    assert not p.load and p.preflight_blocks and p.preflight_failing
    assert p.row is not None and p.row.state == "pending"  # no worker claims its jobs
    passed = condition(p.conditions, "PreflightPassed")
    assert (passed["status"], passed["reason"]) == ("False", "SpfFailed")
    ((key, text),) = p.alerts
    assert key == "preflight:c" and text.startswith("POT: campaign ns/c preflight failed: spf:acme-mail.test")
    life = plan_lifecycle(observed(loaded), p, Loaded(3, None, 0), counts(total=3, queued=3), NOW)
    assert life.phase == "Preflight"
    ready = condition(life.status["conditions"], "Ready")
    assert (ready["reason"], ready["message"]) == ("PreflightFailed", passed["message"])
    # The same failure on the next scan is not announced again.
    again = body(status={"conditions": [LOADED_CONDITION, passed]})
    assert plan_projection(observed(again, preflight=FAILING), NOW).alerts == []


def test_the_override_sends_anyway() -> None:
    spec = {**SPEC, "preflightOverride": True}
    loaded = body(spec, status={"conditions": [LOADED_CONDITION]})
    p = plan_projection(observed(loaded, preflight=FAILING), NOW)
    assert not p.preflight_blocks and p.row is not None and p.row.state == "running"
    assert condition(p.conditions, "PreflightPassed")["message"].startswith(
        "Overridden by spec.preflightOverride"
    )
    assert "(sending anyway: preflightOverride)" in p.alerts[0][1]


def test_a_started_campaign_is_not_gated_again() -> None:
    started = body(
        status={"phase": "Running", "conditions": [LOADED_CONDITION], "preflight": {"passed": True}}
    )
    p = plan_projection(observed(started, preflight=None), NOW)
    assert p.preflight == {"passed": True} and p.preflight_failing is None and not p.load


def test_an_unreadable_recipient_source_is_a_condition_after_the_row() -> None:
    p = plan_projection(
        observed(recipients=None, recipients_error="ConfigMap list with key x not found"), NOW
    )
    assert p.row is not None and not p.load
    assert p.status is not None and p.status["phase"] == "Pending"
    assert condition(p.status["conditions"], "RecipientsReady")["reason"] == "RecipientSourceInvalid"
    patch = early_patch(observed(), p.status)
    assert patch is not None and patch["observedGeneration"] == 1


def test_counts_and_phase_after_loading() -> None:
    o = observed()
    p = plan_projection(o, NOW)
    life = plan_lifecycle(o, p, Loaded(3, 2, 1), counts(total=2, queued=2), NOW)
    assert life.phase == "Running" and not life.completed_now
    assert life.status["counts"]["total"] == 3 and life.status["counts"]["suppressed"] == 1
    recipients = condition(life.status["conditions"], "RecipientsReady")
    assert (
        recipients["message"]
        == "2 send jobs created, 1 suppressed addresses left out; rows rejected at lines 4"
    )
    assert condition(life.status["conditions"], "Ready")["status"] == "True"


def test_completion_is_announced_once_with_its_time() -> None:
    running = body(status={"phase": "Running", "conditions": [LOADED_CONDITION]})
    o = observed(running, preflight=None, memory=CampaignMemory(0))
    p = plan_projection(o, NOW)
    last = NOW - dt.timedelta(minutes=3)
    done = counts(total=2, sent=1, bounced=1, first_sent_at=NOW - dt.timedelta(hours=1), last_final_at=last)
    life = plan_lifecycle(o, p, Loaded(3, None, 0), done, NOW)
    assert life.phase == "Completed" and life.completed_now
    assert life.alerts == [("completed:c", "POT: campaign ns/c completed: 1 sent, 1 bounced, 0 failed")]
    assert life.status["completedAt"] == "2026-03-10T11:57:00Z"
    completed = body(status={**life.status, "phase": "Completed"})
    again = plan_lifecycle(observed(completed, preflight=None), p, Loaded(3, None, 0), done, NOW)
    assert not again.completed_now and again.alerts == [] and again.status_patch is None


def test_unknown_is_its_own_count_not_failed() -> None:
    """A job lost while sending may have been delivered: counted apart, so nobody reads it as never mailed."""
    running = body(status={"phase": "Running", "conditions": [LOADED_CONDITION]})
    o = observed(running, preflight=None, memory=CampaignMemory(0))
    p = plan_projection(o, NOW)
    done = counts(total=3, sent=1, failed=1, unknown=1, last_final_at=NOW)
    life = plan_lifecycle(o, p, Loaded(3, None, 0), done, NOW)
    assert life.status["counts"]["failed"] == 1 and life.status["counts"]["unknown"] == 1
    assert life.alerts[0][1].endswith("1 sent, 0 bounced, 1 failed, 1 unknown")


def test_spec_suspend_holds_the_campaign_and_resuming_sends_again() -> None:
    """As a Kubernetes Job's `suspend`: the row is 'paused' (no claims), phase Paused, the next step named."""
    running = body(
        spec={**SPEC, "suspend": True}, status={"phase": "Running", "conditions": [LOADED_CONDITION]}
    )
    o = observed(running, preflight=None, memory=CampaignMemory(0))
    p = plan_projection(o, NOW)
    assert p.db_state == "paused" and p.row is not None and p.row.state == "paused"
    life = plan_lifecycle(o, p, Loaded(3, None, 0), counts(total=3, queued=3), NOW)
    ready = condition(life.status["conditions"], "Ready")
    assert life.phase == "Paused" and ready["reason"] == "Suspended" and '"suspend":false' in ready["message"]
    resumed = body(spec={**SPEC, "suspend": False}, status=life.status)
    again = plan_projection(observed(resumed, preflight=None, memory=CampaignMemory(0)), NOW)
    assert again.db_state == "running"


def test_a_paused_campaign_names_the_command_that_resumes_it() -> None:
    paused = body(
        spec={**SPEC, "paused": True}, status={"phase": "Running", "conditions": [LOADED_CONDITION]}
    )
    o = observed(paused, preflight=None, memory=CampaignMemory(0))
    life = plan_lifecycle(o, plan_projection(o, NOW), Loaded(3, None, 0), counts(total=3, queued=3), NOW)
    assert "potctl resume campaign c -n ns" in condition(life.status["conditions"], "Ready")["message"]
