"""A Campaign scan that raises (pot_operator.campaign.reconcile): Ready=False ReconcileError with the
error in one line and never a secret, one Warning Event per new error, and retries that back off."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pot_common.backoff import Backoff
from pot_operator.campaign import reconcile
from pot_operator.campaign.reconcile import ScanFailures, error_summary, failure_status

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Ready",
    "message": "All checks passed",
    "lastTransitionTime": "2026-03-10T11:00:00Z",
}


class Kube:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append((plural, namespace, name, status))


class Rt:
    def __init__(self) -> None:
        self.kube = Kube()


def body() -> dict[str, Any]:
    return {
        "metadata": {"name": "c", "namespace": "ns", "generation": 3},
        "spec": {},
        "status": {"phase": "Running", "conditions": [READY]},
    }


def test_the_summary_is_one_line_without_credentials() -> None:
    error = RuntimeError(
        "connect to postgresql://pot:s3cr3t-pw@db.test:5432/pot failed password=hunter2\ntraceback line"
    )
    text = error_summary(error)
    assert text.startswith("RuntimeError: connect to postgresql://***@db.test:5432/pot failed")
    assert "\n" not in text and "s3cr3t-pw" not in text and "hunter2" not in text
    assert error_summary(KeyError()) == "KeyError"
    assert len(error_summary(ValueError("x" * 5000))) == 300


def test_a_failed_scan_sets_ready_false_and_keeps_the_phase() -> None:
    patch = failure_status(body()["status"], "ValueError: boom", 10, 3, NOW)
    assert "phase" not in patch
    ready = patch["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "ReconcileError")
    assert ready["message"] == "Reconcile failed: ValueError: boom; retrying in 10s"
    assert ready["observedGeneration"] == 3 and ready["lastTransitionTime"] == "2026-03-10T12:00:00Z"


async def test_a_failing_observe_is_reported_once_and_retried_with_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    events: list[tuple[str, str, str]] = []
    clock = [1000.0]
    failing = [True]

    async def observe(rt: Any, key: Any, b: Any) -> Any:
        calls.append(1)
        if failing[0]:
            raise ValueError("recipients.csv: record 7 is not UTF-8\nmore detail")
        raise LookupError("stop after observe")  # the scan got past the point that failed

    monkeypatch.setattr(reconcile, "observe_campaign", observe)
    monkeypatch.setattr(reconcile, "post_event", lambda b, t, r, m: events.append((t, r, m)))
    failures = ScanFailures(Backoff(base=5, cap=40, uniform=lambda _lo, hi: hi), lambda: clock[0])
    rt: Any = Rt()

    async def scan() -> None:
        await reconcile.reconcile_campaign(rt, ("ns", "c"), body(), NOW, failures)

    with pytest.raises(ValueError):
        await scan()
    assert len(rt.kube.patches) == 1
    plural, ns, name, status = rt.kube.patches[0]
    assert (plural, ns, name) == ("campaigns", "ns", "c")
    assert status["conditions"][0]["reason"] == "ReconcileError"
    assert "recipients.csv: record 7 is not UTF-8; retrying in 5s" in status["conditions"][0]["message"]
    assert events == [
        (
            "Warning",
            "ReconcileError",
            "Reconcile failed: ValueError: recipients.csv: record 7 is not UTF-8; retrying with backoff",
        )
    ]

    # Within the backoff nothing is tried; after it, the same error again: no second Event, a longer wait.
    clock[0] += 4
    await scan()
    assert len(calls) == 1
    clock[0] += 1
    with pytest.raises(ValueError):
        await scan()
    assert len(calls) == 2 and len(events) == 1
    assert "retrying in 10s" in rt.kube.patches[-1][3]["conditions"][0]["message"]
    delays = []
    for _ in range(4):
        clock[0] = failures.failing[("ns", "c")].retry_at
        with pytest.raises(ValueError):
            await scan()
        delays.append(failures.failing[("ns", "c")].retry_at - clock[0])
    assert delays == [20, 40, 40, 40]  # capped

    # A different error is news: a new Event. Once a scan gets through, the backoff is forgotten.
    failing[0] = False
    clock[0] = failures.failing[("ns", "c")].retry_at
    with pytest.raises(LookupError):
        await scan()
    assert len(events) == 2 and events[-1][2].startswith("Reconcile failed: LookupError: stop after observe")


async def test_a_scan_that_succeeds_forgets_the_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    async def observe(rt: Any, key: Any, b: Any) -> Any:
        raise OSError("apiserver away")

    monkeypatch.setattr(reconcile, "observe_campaign", observe)
    monkeypatch.setattr(reconcile, "post_event", lambda *a: None)
    failures = ScanFailures()
    rt: Any = Rt()
    with pytest.raises(OSError):
        await reconcile.reconcile_campaign(rt, ("ns", "c"), body(), NOW, failures)
    assert failures.waiting(("ns", "c"), failures.clock())

    async def fine(rt: Any, key: Any, b: Any, now: Any) -> None:
        return None

    monkeypatch.setattr(reconcile, "_scan", fine)
    failures.failing[("ns", "c")].retry_at = 0
    await reconcile.reconcile_campaign(rt, ("ns", "c"), body(), NOW, failures)
    assert failures.failing == {}


def test_rows_left_out_are_named_by_record_and_line_once_on_the_load() -> None:
    from pot_common.api.campaign import CampaignSpec
    from pot_operator.campaign.plan import CampaignObserved, Loaded
    from pot_operator.campaign.recipients import parse_recipient_csv
    from pot_operator.campaign.reconcile import rejected_rows_event

    csv = 'email,note\na@x.test,"two\nlines"\nnot-an-address,x\nb@x.test\nc@x.test,ok\n'
    parsed = parse_recipient_csv(csv)
    spec = CampaignSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "recipients": {"configMapRef": {"name": "list"}},
            "template": {"subject": "Hi", "text": "Hello"},
        }
    )
    o = CampaignObserved(("ns", "c"), body(), spec=spec, recipients=parsed)
    event = rejected_rows_event(o, Loaded(7, 2, 0))
    assert event == (
        "Warning",
        "RecipientsRejected",
        "2 recipient rows left out, 2 send jobs created: record 2 (line 4): no valid address; "
        "record 3 (line 5): 1 of 2 fields",
    )
    assert rejected_rows_event(o, Loaded(7, None, 0)) is None  # scans after the load say nothing again
