"""The pool's sending window in its own time zone; pure, used by the worker before each claim."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, time
from zoneinfo import ZoneInfo


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
