"""Sending windows (hours on some weekdays in a time zone); pure. The worker checks its pool's window
before each claim; the operator puts a campaign's jobs at the next opening of each recipient's window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from datetime import datetime, time
from zoneinfo import ZoneInfo

# An opening lies within a week of any instant; one day more covers a window spanning midnight.
_SEARCH_DAYS = 8


def in_window(
    now: datetime, start: time | None, end: time | None, time_zone: str, days: Collection[int]
) -> bool:
    """Is `now` (aware) inside the window? `days` are ISO weekdays of the local start day.

    start == end or either None means the whole day. start > end spans midnight: 22:00-06:00 on
    Friday covers Friday 22:00 to Saturday 06:00, so after midnight the weekday that counts is the
    previous one.
    """
    local = now.astimezone(ZoneInfo(time_zone))
    weekday = local.isoweekday()
    if start is None or end is None or start == end:
        return weekday in days
    clock = local.time().replace(tzinfo=None)
    if start < end:
        return weekday in days and start <= clock < end
    if clock >= start:
        return weekday in days
    if clock < end:
        previous = 7 if weekday == 1 else weekday - 1
        return previous in days
    return False


def next_opening(
    now: datetime, start: time | None, end: time | None, time_zone: str, days: Collection[int]
) -> datetime | None:
    """The first instant at or after `now` (aware) inside the window: `now` itself when it is open,
    None when no day is allowed.

    DST-correct: an opening is a local wall-clock time of a local day, converted through the zone, so
    09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer. An opening that a spring-forward
    gap skips (02:30 on the night clocks jump from 02:00 to 03:00) falls on the same instant as the
    hour after it.
    """
    if in_window(now, start, end, time_zone, days):
        return now
    zone = ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    opens_at = start if start is not None and end is not None and start != end else time(0)
    for offset in range(_SEARCH_DAYS):
        local = datetime.combine(today + dt.timedelta(days=offset), opens_at, tzinfo=zone)
        candidate = local.astimezone(dt.UTC)  # a gap's wall time becomes a real instant
        if candidate >= now and in_window(candidate, start, end, time_zone, days):
            return candidate
    return None
