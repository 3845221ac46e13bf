"""What a Campaign that could send waits on, pure: its own hold, the preflight, its pool's pause, its
schedule or a spent cap, with the next step; Ready=False's reason and message. Called by
pot_operator.campaign.plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pot_operator.campaign import waits
from pot_operator.conditions import Condition, get_condition

if TYPE_CHECKING:
    from pot_operator.campaign.plan import CampaignObserved


def blocked_by(
    o: CampaignObserved,
    phase: str,
    conditions: list[Condition],
    counts: Mapping[str, Any],
    open_jobs: int,
    now: dt.datetime,
) -> tuple[str, str] | None:
    """What a campaign that is not done waits on, for Ready=False (reason, message with the next step):
    its own hold, the preflight, its pool's pause, its schedule or a spent cap; None when it can send."""
    assert o.spec is not None
    spec, (namespace, name) = o.spec, o.key
    if phase == "Completed" and open_jobs and waits.ended(spec.schedule, now):
        return ("ScheduleEnded", f"{open_jobs} recipients left unsent at schedule.end")
    if phase in ("Completed", "Failed"):
        return None
    if phase == "Paused" and spec.suspend and not spec.paused:
        return (
            "Suspended",
            f"Suspended by spec.suspend; resume: kubectl patch campaign {name} -n {namespace} "
            """--type merge -p '{"spec":{"suspend":false}}'""",
        )
    if phase == "Paused":
        return ("Paused", f"Paused by spec; resume with `potctl resume campaign {name} -n {namespace}`")
    if phase == "Preflight":
        return ("PreflightFailed", (get_condition(conditions, "PreflightPassed") or {}).get("message", ""))
    if o.pool_pause is not None:
        return ("PoolPaused", o.pool_pause)
    wait = waits.schedule_wait(spec.schedule, now, counts.get("next_due_at") if open_jobs else None)
    if wait is None and open_jobs:
        wait = waits.cap_wait(
            spec.limits.per_day,
            spec.limits.per_hour,
            int(counts.get("sent_today") or 0),
            int(counts.get("sent_this_hour") or 0),
            now,
        )
    return (wait.reason, wait.message) if wait is not None else None
