"""What a Campaign waits on (pure): its schedule (start, end, days and hours in each recipient's zone,
DST-correct), a spent cap, its pool's pause; and the preflight Event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pot_common.api.campaign import CampaignSpec, Schedule
from pot_common.window import next_opening
from pot_operator.campaign.plan import Loaded, decide_phase, plan_lifecycle, plan_projection
from pot_operator.campaign.waits import (
    cap_wait,
    due_at,
    pool_pause,
    postponements,
    recipient_zone,
    schedule_wait,
)

from .test_campaign_plan import FAILING, LOADED_CONDITION, SPEC, body, condition, counts, observed

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)  # a Tuesday
NINE_TO_FIVE = {"sendFrom": "09:00", "sendUntil": "17:00"}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def schedule(**kw: Any) -> Schedule:
    return Schedule.model_validate(kw)


def test_nine_to_five_local_follows_each_zones_daylight_saving_time() -> None:
    s = schedule(**NINE_TO_FIVE)
    # Berlin: 09:00 is 08:00 UTC in winter, 07:00 UTC once clocks went forward (29 March 2026).
    assert due_at(s, at("2026-03-27T18:00:00+00:00"), "Europe/Berlin") == at("2026-03-28T08:00:00+00:00")
    assert due_at(s, at("2026-03-29T18:00:00+00:00"), "Europe/Berlin") == at("2026-03-30T07:00:00+00:00")
    # New York moved on 8 March: 09:00 EDT is 13:00 UTC.
    assert due_at(s, at("2026-03-10T05:00:00+00:00"), "America/New_York") == at("2026-03-10T13:00:00+00:00")
    # Inside the window: due at once.
    assert due_at(s, NOW, "Europe/Berlin") == NOW


def test_days_start_and_end_bound_the_due_time() -> None:
    weekdays = schedule(days=["Mon", "Tue", "Wed", "Thu", "Fri"], **NINE_TO_FIVE)
    friday_evening = at("2026-03-13T18:00:00+00:00")
    assert due_at(weekdays, friday_evening, "UTC") == at("2026-03-16T09:00:00+00:00")  # Monday
    later = schedule(start="2026-03-12T10:30:00Z", **NINE_TO_FIVE)
    assert due_at(later, NOW, "UTC") == at("2026-03-12T10:30:00+00:00")
    ending = schedule(end="2026-03-10T17:00:00Z", **NINE_TO_FIVE)
    assert due_at(ending, at("2026-03-10T17:30:00+00:00"), "UTC") is None  # left unsent


def test_an_opening_skipped_by_spring_forward_is_the_hour_after() -> None:
    # On 29 March 2026 Berlin's clocks jump from 02:00 to 03:00: 02:30 does not exist.
    opening = next_opening(at("2026-03-29T00:00:00+00:00"), dt.time(2, 30), dt.time(5), "Europe/Berlin", [7])
    assert opening == at("2026-03-29T01:30:00+00:00")  # 03:30 CEST


def test_a_recipients_zone_is_their_timezone_cell_when_known() -> None:
    assert recipient_zone("Asia/Tokyo", "UTC") == "Asia/Tokyo"
    assert recipient_zone("Mars/Olympus", "Europe/Berlin") == "Europe/Berlin"
    assert recipient_zone(None, "UTC") == "UTC"
    s = schedule(**NINE_TO_FIVE)
    # At 12:00 UTC it is 21:00 in Tokyo (closed) and 13:00 in London (open): only Tokyo's jobs move.
    moves = postponements(s, NOW, ["Asia/Tokyo", "Europe/London", None])
    assert moves == [("Asia/Tokyo", at("2026-03-11T00:00:00+00:00"))]
    # Without hours only the start moves jobs, all alike.
    assert postponements(schedule(start="2026-03-11T00:00:00Z"), NOW, []) == [
        (None, at("2026-03-11T00:00:00+00:00"))
    ]
    assert postponements(schedule(), NOW, []) == []


def test_a_campaign_before_its_start_is_scheduled_with_its_jobs_held() -> None:
    spec = {**SPEC, "schedule": {"start": "2026-03-11T08:00:00Z"}}
    loaded = body(spec, status={"conditions": [LOADED_CONDITION]})
    o = observed(loaded)
    p = plan_projection(o, NOW)
    assert p.row is not None and p.row.state == "pending" and p.postpone
    life = plan_lifecycle(o, p, Loaded(3, None, 0), counts(total=3, queued=3), NOW)
    assert life.phase == "Scheduled"
    ready = condition(life.status["conditions"], "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Scheduled")
    assert ready["message"] == "Scheduled: sending starts at 2026-03-11T08:00:00Z"
    # At the start it runs.
    after = plan_projection(o, at("2026-03-11T08:00:00+00:00"))
    assert after.row is not None and after.row.state == "running"


def test_outside_its_hours_a_campaign_says_when_the_next_recipient_is_due() -> None:
    spec = {**SPEC, "schedule": {**NINE_TO_FIVE, "timeZone": "Europe/Berlin"}}
    o = observed(body(spec, status={"conditions": [LOADED_CONDITION]}))
    evening = at("2026-03-10T19:00:00+00:00")
    p = plan_projection(o, evening)
    due = at("2026-03-11T08:00:00+00:00")
    life = plan_lifecycle(o, p, Loaded(3, None, 0), counts(total=3, queued=3, next_due_at=due), evening)
    assert life.phase == "Running"
    ready = condition(life.status["conditions"], "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Scheduled")
    assert "next recipient is due at 2026-03-11T08:00:00Z" in ready["message"]


def test_at_the_end_what_is_open_is_left_unsent_and_the_campaign_completes() -> None:
    spec = {**SPEC, "schedule": {"end": "2026-03-10T11:00:00Z"}}
    o = observed(body(spec, status={"phase": "Running", "conditions": [LOADED_CONDITION]}))
    p = plan_projection(o, NOW)
    assert p.row is not None and p.row.state == "completed"
    life = plan_lifecycle(o, p, Loaded(3, None, 0), counts(total=3, queued=2, sent=1), NOW)
    assert life.phase == "Completed" and life.completed_now
    ready = condition(life.status["conditions"], "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ScheduleEnded",
        "2 recipients left unsent at schedule.end",
    )


def test_an_unknown_schedule_zone_holds_the_campaign() -> None:
    spec = {**SPEC, "schedule": {"timeZone": "Mars/Olympus"}}
    p = plan_projection(observed(body(spec)), NOW)
    assert p.status is not None and p.status["phase"] == "Pending"
    assert condition(p.status["conditions"], "ScheduleValid")["reason"] == "UnknownTimeZone"


def test_the_schedule_api_wants_both_hours_or_neither() -> None:
    spec = CampaignSpec.model_validate({**SPEC, "schedule": NINE_TO_FIVE})
    assert spec.schedule.send_from == "09:00"
    with pytest.raises(ValueError):
        Schedule.model_validate({"sendFrom": "9:00"})


def test_phase_order() -> None:
    assert decide_phase(paused=False, total=3, open_jobs=3, previous=None, before_start=True) == "Scheduled"
    assert decide_phase(paused=True, total=3, open_jobs=3, previous=None, before_start=True) == "Paused"
    assert decide_phase(paused=False, total=3, open_jobs=3, previous="Running", ended=True) == "Completed"


def test_a_spent_cap_says_which_and_until_when() -> None:
    day = cap_wait(100, 20, 100, 3, NOW)
    assert day is not None and day.message == "limits.perDay (100) spent until 2026-03-11T00:00:00Z"
    hour = cap_wait(100, 20, 50, 20, at("2026-03-10T12:34:00+00:00"))
    assert hour is not None and hour.message == "limits.perHour (20) spent until 2026-03-10T13:00:00Z"
    assert cap_wait(None, None, 10**6, 10**6, NOW) is None
    spec = {**SPEC, "limits": {"perHour": 2}}
    o = observed(body(spec, status={"conditions": [LOADED_CONDITION]}))
    p = plan_projection(o, NOW)
    life = plan_lifecycle(o, p, Loaded(3, None, 0), counts(total=5, queued=3, sent=2, sent_this_hour=2), NOW)
    ready = condition(life.status["conditions"], "Ready")
    assert (life.phase, ready["status"], ready["reason"]) == ("Running", "False", "CapReached")


def test_a_paused_pool_holds_the_campaign_and_names_the_resume_command() -> None:
    auto = {
        "spec": {},
        "status": {
            "paused": True,
            "pauseReason": "BounceRate: 6 %; resume with `potctl resume pool p -n ns`",
        },
    }
    assert pool_pause("ns", "p", auto) == "MailboxPool p is paused: " + auto["status"]["pauseReason"]
    by_spec = {"spec": {"paused": True}, "status": {}}
    assert pool_pause("ns", "p", by_spec) == (
        "MailboxPool p is paused: paused by spec; resume with `potctl resume pool p -n ns`"
    )
    assert pool_pause("ns", "p", {"spec": {}, "status": {"paused": False}}) is None
    o = observed(body(status={"conditions": [LOADED_CONDITION]}), pool_pause=pool_pause("ns", "p", by_spec))
    p = plan_projection(o, NOW)
    life = plan_lifecycle(o, p, Loaded(3, None, 0), counts(total=3, queued=3), NOW)
    ready = condition(life.status["conditions"], "Ready")
    assert (life.phase, ready["status"], ready["reason"]) == ("Running", "False", "PoolPaused")
    assert "potctl resume pool p -n ns" in ready["message"]


def test_a_running_campaign_that_can_send_is_ready() -> None:
    o = observed(body(status={"conditions": [LOADED_CONDITION]}))
    life = plan_lifecycle(o, plan_projection(o, NOW), Loaded(3, None, 0), counts(total=3, queued=3), NOW)
    assert condition(life.status["conditions"], "Ready")["status"] == "True"
    assert schedule_wait(schedule(), NOW, NOW + dt.timedelta(hours=1)) is None  # a retry, not the schedule
    # Jobs made during the scan are due at their insert, just after the scan's clock: no wait.
    assert schedule_wait(schedule(**NINE_TO_FIVE), NOW, NOW + dt.timedelta(seconds=2)) is None


def test_a_preflight_failure_raises_an_event_once() -> None:
    loaded = body(status={"conditions": [LOADED_CONDITION]})
    p = plan_projection(observed(loaded, preflight=FAILING), NOW)
    ((type_, reason, message),) = p.events
    assert (type_, reason) == ("Warning", "PreflightFailed")
    assert message.startswith("Preflight failed: spf:acme-mail.test")
    assert message.endswith("set spec.preflightOverride to send anyway")
    again = body(status={"conditions": [LOADED_CONDITION, condition(p.conditions, "PreflightPassed")]})
    assert plan_projection(observed(again, preflight=FAILING), NOW).events == []
