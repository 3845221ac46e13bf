"""What a Campaign waits on, as decisions: its schedule (when each recipient's jobs are due), its caps,
its pool's pause.

Called by the campaign controller's plan (phase, conditions) and apply (moving jobs to their
recipients' next opening). Pure; the windows themselves are pot_common.window's, the pool's too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pot_common.api.campaign import ALL_DAYS, Schedule
from pot_common.window import next_opening

DUE_SOON = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class Window:
    """The daily hours and weekdays of a schedule (ISO weekdays, 1 = Monday)."""

    start: dt.time | None
    end: dt.time | None
    days: tuple[int, ...]


def window_of(schedule: Schedule) -> Window:
    start = dt.time.fromisoformat(schedule.send_from) if schedule.send_from else None
    end = dt.time.fromisoformat(schedule.send_until) if schedule.send_until else None
    return Window(start, end, tuple(sorted(ALL_DAYS.index(d) + 1 for d in set(schedule.days))))


def restricts_hours(schedule: Schedule) -> bool:
    """Whether the schedule closes at some hours or on some days (then each recipient's zone matters)."""
    return schedule.send_from is not None or set(schedule.days) != set(ALL_DAYS)


@functools.lru_cache(maxsize=1024)
def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def recipient_zone(value: str | None, default: str) -> str:
    """A recipient's zone: its `timezone` cell when that names a known IANA zone, else the schedule's."""
    value = (value or "").strip()
    return value if value and known_zone(value) else default


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    """RFC 3339 carries an offset; a time without one is read as UTC."""
    return at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at


def before_start(schedule: Schedule, now: dt.datetime) -> bool:
    start = _aware(schedule.start)
    return start is not None and now < start


def ended(schedule: Schedule, now: dt.datetime) -> bool:
    end = _aware(schedule.end)
    return end is not None and now >= end


def due_at(schedule: Schedule, now: dt.datetime, zone: str) -> dt.datetime | None:
    """The first instant at or after `now` and the start inside the window in `zone`; None when
    there is none before the end (the recipient is left unsent)."""
    start, end = _aware(schedule.start), _aware(schedule.end)
    after = max(now, start) if start is not None else now
    w = window_of(schedule)
    opening = next_opening(after, w.start, w.end, zone, w.days)
    if opening is None or (end is not None and opening >= end):
        return None
    return opening


def postponements(
    schedule: Schedule, now: dt.datetime, zones: Iterable[str | None]
) -> list[tuple[str | None, dt.datetime]]:
    """For each `timezone` cell value of the open jobs (None: no cell), the time its jobs that are due
    earlier move to, when that is later than now. Without hours or days, only the start matters and
    every job moves alike (cell None stands for all of them)."""
    if not restricts_hours(schedule):
        start = _aware(schedule.start)
        return [(None, start)] if start is not None and start > now else []
    moves = []
    for cell in zones:
        due = due_at(schedule, now, recipient_zone(cell, schedule.time_zone))
        if due is not None and due > now:
            moves.append((cell, due))
    return moves


@dataclasses.dataclass(frozen=True)
class Wait:
    """What holds a campaign that could otherwise send: (reason, message), for Ready=False."""

    reason: str
    message: str
    until: dt.datetime | None = None


def schedule_wait(schedule: Schedule, now: dt.datetime, next_due: dt.datetime | None) -> Wait | None:
    """Before the start (reason Scheduled) or, with open jobs none of which is due because the
    schedule's hours are closed, until the next one is (reason Scheduled, until when)."""
    start = _aware(schedule.start)
    if start is not None and now < start:
        return Wait("Scheduled", f"Scheduled: sending starts at {iso(start)}", start)
    # A job due within the minute is no wait (jobs made during this scan are due at their insert).
    if restricts_hours(schedule) and next_due is not None and next_due > now + DUE_SOON:
        return Wait(
            "Scheduled",
            f"Outside the schedule's sending hours; the next recipient is due at {iso(next_due)}",
            next_due,
        )
    return None


def cap_wait(
    per_day: int | None, per_hour: int | None, sent_today: int, sent_this_hour: int, now: dt.datetime
) -> Wait | None:
    """A spent campaign cap (UTC day and hour, as the worker counts them): which one, until when."""
    utc = now.astimezone(dt.UTC)
    if per_day is not None and sent_today >= per_day:
        until = dt.datetime.combine(utc.date() + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        return Wait("CapReached", f"limits.perDay ({per_day}) spent until {iso(until)}", until)
    if per_hour is not None and sent_this_hour >= per_hour:
        until = utc.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        return Wait("CapReached", f"limits.perHour ({per_hour}) spent until {iso(until)}", until)
    return None


def iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pool_pause(namespace: str, pool: str, body: Mapping[str, Any] | None) -> str | None:
    """Why the campaign's pool is paused (by spec or automatically) and the command that resumes it."""
    if body is None:
        return None
    spec, status = body.get("spec") or {}, body.get("status") or {}
    if not spec.get("paused") and not status.get("paused"):
        return None
    why = status.get("pauseReason") or spec.get("pauseReason") or "paused by spec"
    hint = "" if "potctl resume" in why else f"; resume with `potctl resume pool {pool} -n {namespace}`"
    return f"MailboxPool {pool} is paused: {why}{hint}"
