"""The pool's sending window in its time zone (pot_common.window, read by the worker's claim loop)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pot_common.window import in_window

WEEKDAYS = (1, 2, 3, 4, 5)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-03-02T08:59:59+01:00", False),  # Monday, before 09:00 Berlin
        ("2026-03-02T09:00:00+01:00", True),
        ("2026-03-02T16:59:59+01:00", True),
        ("2026-03-02T17:00:00+01:00", False),  # end is exclusive
        ("2026-03-07T10:00:00+01:00", False),  # Saturday
        ("2026-03-02T08:30:00+00:00", True),  # 09:30 in Berlin although 08:30 UTC
    ],
)
def test_daytime_window_in_the_pools_zone(when: str, expected: bool) -> None:
    assert in_window(at(when), time(9), time(17), "Europe/Berlin", WEEKDAYS) is expected


def test_dst_change_follows_local_time() -> None:
    # New York: 09:00 local is 14:00 UTC in winter and 13:00 UTC in summer.
    assert in_window(at("2026-03-06T14:00:00+00:00"), time(9), time(17), "America/New_York", WEEKDAYS)
    assert not in_window(at("2026-03-06T13:30:00+00:00"), time(9), time(17), "America/New_York", WEEKDAYS)
    assert in_window(at("2026-03-09T13:30:00+00:00"), time(9), time(17), "America/New_York", WEEKDAYS)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-03-06T23:00:00+00:00", True),  # Friday night
        ("2026-03-07T05:59:00+00:00", True),  # Saturday morning belongs to Friday's window
        ("2026-03-07T06:00:00+00:00", False),
        ("2026-03-07T23:00:00+00:00", False),  # Saturday night: Saturday not a sending day
        ("2026-03-09T03:00:00+00:00", False),  # Monday early: Sunday's window, Sunday not a day
        ("2026-03-09T12:00:00+00:00", False),
    ],
)
def test_window_over_midnight_counts_the_day_it_started(when: str, expected: bool) -> None:
    assert in_window(at(when), time(22), time(6), "UTC", WEEKDAYS) is expected


def test_no_window_means_all_day_on_sending_days() -> None:
    assert in_window(at("2026-03-02T03:00:00+00:00"), None, None, "UTC", WEEKDAYS)
    assert not in_window(at("2026-03-08T03:00:00+00:00"), None, None, "UTC", WEEKDAYS)
    assert in_window(at("2026-03-02T03:00:00+00:00"), time(0), time(0), "UTC", WEEKDAYS)
