"""Unit tests for pool auto-pause, resume and worker replicas."""

import datetime as dt
from typing import Any

from pot_operator.health import Thresholds, WindowCounts
from pot_operator.pool.policy import (
    PauseState,
    ResumePolicy,
    decide_auto_pause,
    desired_replicas,
    stabilized_replicas,
)

T = Thresholds()
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


NOT_PAUSED = PauseState()


def decide(counts: WindowCounts, previous: PauseState = NOT_PAUSED, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "mailboxes_total": 10,
        "mailboxes_cooling": 0,
        "previous": previous,
        "now": NOW,
        "policy": ResumePolicy.MANUAL,
        "resume_after_seconds": 3600,
        "acknowledged_at": None,
    }
    args.update(kw)
    return decide_auto_pause(counts, T, **args)  # type: ignore[arg-type]


def test_bounce_over_pause_threshold_pauses_the_pool() -> None:
    d = decide(WindowCounts(attempted=100, bounced=5))
    assert d.started and d.paused and d.state.reason == "BounceRateHigh"
    assert "5.00%" in (d.state.message or "")


def test_complaints_over_threshold_pause() -> None:
    assert decide(WindowCounts(attempted=1000, complained=3)).state.reason == "ComplaintRateHigh"


def test_healthy_or_small_sample_does_not_pause() -> None:
    assert not decide(WindowCounts(attempted=100, bounced=4)).paused
    assert not decide(WindowCounts(attempted=10, bounced=10)).paused


def test_too_many_cooling_mailboxes_pause() -> None:
    d = decide(WindowCounts(), mailboxes_cooling=3, mailboxes_total=10)
    assert d.paused and d.state.reason == "TooManyMailboxesCooling"


def test_manual_policy_stays_paused_until_acknowledged() -> None:
    paused = PauseState(paused_at=NOW - dt.timedelta(days=3), reason="BounceRateHigh")
    assert decide(WindowCounts(), paused).paused
    old_ack = NOW - dt.timedelta(days=4)
    assert decide(WindowCounts(), paused, acknowledged_at=old_ack).paused
    d = decide(WindowCounts(), paused, acknowledged_at=NOW)
    assert d.resumed and not d.paused


def test_after_delay_policy_resumes_by_itself() -> None:
    paused = PauseState(paused_at=NOW - dt.timedelta(minutes=30), reason="BounceRateHigh")
    assert decide(WindowCounts(), paused, policy=ResumePolicy.AFTER_DELAY).paused
    later = NOW + dt.timedelta(minutes=30)
    assert decide(WindowCounts(), paused, policy=ResumePolicy.AFTER_DELAY, now=later).resumed


def test_replicas_follow_backlog_within_bounds() -> None:
    kw = {"capacity_remaining": 10_000, "sends_per_worker": 100, "min_replicas": 1, "max_replicas": 5}
    assert desired_replicas(due_jobs=1, paused=False, **kw) == 1
    assert desired_replicas(due_jobs=250, paused=False, **kw) == 3
    assert desired_replicas(due_jobs=100_000, paused=False, **kw) == 5


def test_replicas_zero_when_paused_or_nothing_sendable() -> None:
    kw = {"sends_per_worker": 100, "min_replicas": 2, "max_replicas": 5}
    assert desired_replicas(due_jobs=500, capacity_remaining=500, paused=True, **kw) == 0
    assert desired_replicas(due_jobs=0, capacity_remaining=500, paused=False, **kw) == 0
    assert desired_replicas(due_jobs=500, capacity_remaining=0, paused=False, **kw) == 0
    assert desired_replicas(due_jobs=5, capacity_remaining=500, paused=False, **kw) == 2


def test_capacity_limits_replicas() -> None:
    assert (
        desired_replicas(
            due_jobs=10_000,
            capacity_remaining=150,
            sends_per_worker=100,
            min_replicas=0,
            max_replicas=9,
            paused=False,
        )
        == 2
    )
    assert (
        desired_replicas(
            due_jobs=10,
            capacity_remaining=10,
            sends_per_worker=0,
            min_replicas=0,
            max_replicas=0,
            paused=False,
        )
        == 0
    )


def test_scaling_goes_up_at_once_and_down_only_after_the_stabilization_window() -> None:
    t0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    kw: dict[str, Any] = {"window_seconds": 300, "max_replicas": 10, "paused": False}
    up, history = stabilized_replicas(4, current=1, history=(), now=t0, **kw)
    assert up == 4
    # Work remains (a recommendation above zero): never below what runs now.
    held, history = stabilized_replicas(
        1, current=4, history=history, now=t0 + dt.timedelta(seconds=60), **kw
    )
    assert held == 4
    # Nothing left: the window's highest recommendation holds the workers until it has passed.
    idle, history = stabilized_replicas(
        0, current=4, history=history, now=t0 + dt.timedelta(seconds=120), **kw
    )
    assert idle == 4
    done, _ = stabilized_replicas(0, current=4, history=history, now=t0 + dt.timedelta(seconds=500), **kw)
    assert done == 0
    # A pause stops them at once; a lowered maxReplicas applies at once.
    assert stabilized_replicas(0, current=4, history=history, now=t0, **{**kw, "paused": True})[0] == 0
    assert stabilized_replicas(3, current=4, history=history, now=t0, **{**kw, "max_replicas": 2})[0] == 2


def test_a_1200_message_campaign_scales_its_workers_down_once_at_the_end() -> None:
    """The backlog seen by each scan of a 1,200-message campaign: due jobs drop to zero between claims
    (what scaled the workers to zero 16 times), while claimed and queued ones remain."""
    t0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    remaining, current = 1200, 0
    history: tuple[tuple[dt.datetime, int], ...] = ()
    scale_downs: list[tuple[int, int]] = []
    scans = 0
    now = t0
    while scans < 400:
        # The workers send 30 per 15 s scan; every other scan the due queue reads empty (all claimed).
        backlog = remaining if scans % 2 == 0 else (30 if remaining else 0)
        recommended = desired_replicas(
            due_jobs=backlog,
            capacity_remaining=10_000,
            sends_per_worker=100,
            min_replicas=0,
            max_replicas=5,
            paused=False,
        )
        replicas, history = stabilized_replicas(
            recommended,
            current=current,
            history=history,
            now=now,
            window_seconds=300,
            max_replicas=5,
            paused=False,
        )
        if replicas < current:
            scale_downs.append((scans, remaining))
        current = replicas
        remaining = max(0, remaining - 30 * (current > 0))
        now += dt.timedelta(seconds=15)
        scans += 1
    assert remaining == 0
    assert len(scale_downs) <= 1 and all(left == 0 for _, left in scale_downs)
