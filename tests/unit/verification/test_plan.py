"""The verification decisions (pot_operator.verification.plan) and the campaign plan's hold on them."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pot_common.api.campaign import CampaignSpec, Verification
from pot_operator.campaign.plan import CampaignMemory, CampaignObserved, plan_projection
from pot_operator.campaign.recipients import parse_recipient_csv
from pot_operator.config import Settings
from pot_operator.verification.apply import first_addresses
from pot_operator.verification.plan import (
    Run,
    VerificationObserved,
    build_checker_job,
    owner_key,
    plan_verification,
)

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def run(**values: object) -> Run:
    base: dict[str, object] = {
        "id": 7,
        "mode": "smtp",
        "total": 5000,
        "reused": 1000,
        "checked": 234,
        "state": "running",
    }
    return Run(**{**base, **values})  # type: ignore[arg-type]


def test_no_run_yet_makes_the_run_and_its_job() -> None:
    step = plan_verification(VerificationObserved("Campaign/c/u/1", None))
    assert (step.done, step.create_run, step.create_job) == (False, True, True)
    assert step.condition[:2] == (False, "Verifying")


def test_a_running_job_shows_progress_with_what_was_reused() -> None:
    step = plan_verification(VerificationObserved("o", run(), "pot-verify-7-c", "active"))
    assert not step.done and not step.create_job and not step.create_run
    assert step.condition == (
        False,
        "Verifying",
        "Checker Job pot-verify-7-c running: 1,234/5,000 checked (1,000 reused)",
    )
    assert (
        step.status is not None and step.status["checked"] == 234 and step.status["job"] == "pot-verify-7-c"
    )


def test_a_missing_job_of_an_unfinished_run_is_made_again() -> None:
    step = plan_verification(VerificationObserved("o", run(), "pot-verify-7-c", "missing"))
    assert step.create_job and not step.create_run


def test_a_failed_job_holds_the_campaign_and_says_how_to_retry() -> None:
    step = plan_verification(
        VerificationObserved("o", run(), "pot-verify-7-c", "failed", "BackoffLimitExceeded")
    )
    assert not step.done and not step.create_job
    assert step.condition[1] == "VerificationFailed" and "delete the Job" in step.condition[2]


def test_a_done_run_lets_the_recipients_load_with_a_summary() -> None:
    done = run(
        state="done",
        checked=4000,
        valid=4800,
        invalid=120,
        risky=60,
        unknown=20,
        used_mode="format+mx",
        notice="outbound port 25 looks blocked; fell back to format+mx",
        finished_at=NOW,
    )
    step = plan_verification(VerificationObserved("o", done, "pot-verify-7-c", "succeeded"))
    assert step.done and step.condition[:2] == (True, "Verified")
    assert "4,800 valid, 120 invalid, 60 risky, 20 unknown" in step.condition[2]
    assert "fell back" in step.condition[2]
    assert (
        step.status is not None
        and step.status["mode"] == "format+mx"
        and step.status["finishedAt"] == "2026-11-30T12:00:00Z"
    )


def test_owner_key_changes_with_the_generation() -> None:
    assert owner_key("c", "u", 1) != owner_key("c", "u", 2)


def test_first_addresses_keeps_each_address_once_at_its_first_line() -> None:
    rows = [("a@x.test", {}), ("B@x.test", {}), ("A@X.test", {}), ("b@x.test", {}), ("c@x.test", {})]
    assert first_addresses(rows) == [(1, "a@x.test"), (2, "B@x.test"), (5, "c@x.test")]


def test_the_job_carries_the_egress_pool_and_the_workers_secret() -> None:
    spec = Verification.model_validate(
        {
            "mode": "smtp",
            "job": {
                "nodeSelector": {"pool": "egress"},
                "tolerations": [
                    {"key": "egress", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
                ],
            },
        }
    )
    settings = Settings.from_env(
        {"POT_WORKER_IMAGE": "ghcr.io/pot/pot:1.2", "POT_WORKER_SECRET": "pot-worker"}
    )
    job = build_checker_job("acme", "spring", "uid-1", 42, spec, settings)
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "egress"}
    assert pod["tolerations"] == [
        {"key": "egress", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
    ]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/pot/pot:1.2" and container["args"] == [
        "potctl",
        "check-emails",
        "--job",
        "42",
    ]
    assert container["env"] == [
        {
            "name": "POT_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "pot-worker", "key": "POT_DATABASE_URL"}},
        }
    ]
    assert job["metadata"]["ownerReferences"][0] == {
        "apiVersion": "pot.dev/v1alpha1",
        "kind": "Campaign",
        "name": "spring",
        "uid": "uid-1",
        "controller": True,
    }
    assert job["metadata"]["name"] == "pot-verify-42-spring" and pod["automountServiceAccountToken"] is False


def observed(
    verification: VerificationObserved | None, status: dict[str, object] | None = None
) -> CampaignObserved:
    spec = CampaignSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "recipients": {"configMapRef": {"name": "list"}},
            "template": {"subject": "Hi", "text": "Hello"},
            "verification": {"mode": "smtp"},
        }
    )
    body = {"metadata": {"name": "c", "namespace": "ns", "generation": 1, "uid": "u"}, "status": status or {}}
    return CampaignObserved(
        ("ns", "c"),
        body,
        spec,
        pool_found=True,
        pool_id=1,
        preflight=None,
        recipients=parse_recipient_csv("email\na@x.test\n"),
        memory=CampaignMemory(),
        verification=verification,
    )


def test_the_campaign_is_held_before_any_job_until_verified() -> None:
    p = plan_projection(observed(VerificationObserved("o", run(), "j", "active")), NOW)
    assert not p.load and p.status is not None and p.row is not None and p.row.state == "pending"
    assert p.status["phase"] == "Pending" and p.status["verification"]["total"] == 5000
    ready = next(c for c in p.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Verifying")


def test_a_verified_campaign_loads() -> None:
    p = plan_projection(observed(VerificationObserved("o", run(state="done"), "j", "succeeded")), NOW)
    assert p.load and p.status is None and p.verification is not None and p.verification.done


def test_a_started_campaign_goes_on_sending_while_a_new_generation_is_checked() -> None:
    started = {"phase": "Running", "startedAt": "2026-11-29T10:00:00Z"}
    p = plan_projection(observed(VerificationObserved("o", run(), "j", "active"), started), NOW)
    assert (
        p.row is not None
        and p.row.state == "running"
        and p.status is not None
        and p.status["phase"] == "Running"
    )


def test_memory_keeps_the_skipped_counts_across_a_restart() -> None:
    memory = CampaignMemory(3, 120, 7)
    assert CampaignMemory.from_json(memory.to_json()) == memory
    assert CampaignMemory.from_json({"suppressedAtLoad": 2}) == CampaignMemory(2, 0, 0)


def test_switching_verification_off_removes_the_verified_condition_and_status() -> None:
    """A generation with mode `off` checks nothing: the Verified condition and status.verification an
    earlier generation left would describe a list this one does not check."""
    from pot_operator.campaign.plan import Loaded, plan_lifecycle
    from pot_operator.statusdiff import status_patch

    earlier = observed(None)
    body = {
        **earlier.body,
        "metadata": {**earlier.body["metadata"], "generation": 2},
        "status": {
            "conditions": [
                {"type": "Verified", "status": "False", "reason": "Verifying", "message": "1/6 checked"},
                {"type": "Ready", "status": "False", "reason": "Verifying", "message": "1/6 checked"},
            ],
            "verification": {"job": "pot-verify-7-c", "total": 6, "checked": 1},
        },
    }
    assert earlier.spec is not None
    off = earlier.spec.model_copy(update={"verification": Verification()})
    o = dataclasses.replace(earlier, body=body, spec=off)
    p = plan_projection(o, NOW)
    assert p.load and p.verification is None
    assert [c["type"] for c in p.conditions if c["type"] == "Verified"] == []
    counts = dict.fromkeys(
        ("total", "queued", "sent", "deferred", "bounced", "failed", "unknown", "suppressed", "unsubscribed"),
        0,
    )
    life = plan_lifecycle(
        o,
        p,
        Loaded(1, 1, 0),
        {**counts, "total": 1, "queued": 1, "first_sent_at": None, "last_final_at": None},
        NOW,
    )
    assert not any(c["type"] == "Verified" for c in life.status["conditions"])
    ready = next(c for c in life.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] != "Verifying"
    assert status_patch(body["status"], life.status)["verification"] is None  # type: ignore[index]

    # With verification on, the same scan keeps planning it (the condition is its own).
    kept = plan_projection(dataclasses.replace(o, spec=earlier.spec), NOW)
    assert any(c["type"] == "Verified" for c in kept.conditions)


def test_a_run_given_up_by_the_sweep_is_made_again() -> None:
    gone = run(state="failed", failure="given up: no checker Job can still be working on it")
    step = plan_verification(VerificationObserved("o", gone, "pot-verify-7-c"))
    assert (step.done, step.create_run, step.create_job) == (False, True, True)
    assert step.condition[1] == "Verifying" and "run 7 was given up" in step.condition[2]
