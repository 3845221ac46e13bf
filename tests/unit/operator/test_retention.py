"""The retention sweeper's decisions: how old is too old, which Campaigns are live, when a pass ends."""

from __future__ import annotations

import datetime as dt

import pytest
from pot_common.api.pool import HealthPolicy
from pot_operator import retention
from pot_operator.config import Settings, SettingsError
from pot_operator.retention import MIN_RETENTION_DAYS, LiveCampaigns, cutoff, more_to_do

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_the_shortest_retention_covers_the_longest_health_window_and_its_day() -> None:
    longest = HealthPolicy.model_json_schema()["properties"]["windowSeconds"]["maximum"]
    assert retention.LONGEST_HEALTH_WINDOW_SECONDS == longest == 30 * 86_400
    assert MIN_RETENTION_DAYS == 31
    assert dt.timedelta(days=MIN_RETENTION_DAYS) > dt.timedelta(seconds=longest) + dt.timedelta(hours=23)


def test_cutoff_is_the_retention_ago() -> None:
    assert cutoff(NOW, 90) == NOW - dt.timedelta(days=90)


def test_cutoff_never_comes_closer_than_the_shortest_retention() -> None:
    assert cutoff(NOW, 1) == NOW - dt.timedelta(days=MIN_RETENTION_DAYS)
    assert cutoff(NOW, 0) == cutoff(NOW, MIN_RETENTION_DAYS)


def test_retention_defaults_to_90_days() -> None:
    assert Settings.from_env({}).events_retention_days == 90
    assert Settings.from_env({"POT_EVENTS_RETENTION_DAYS": "400"}).events_retention_days == 400


def test_a_retention_shorter_than_the_longest_health_window_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="POT_EVENTS_RETENTION_DAYS"):
        Settings.from_env({"POT_EVENTS_RETENTION_DAYS": "7"})
    assert Settings.from_env({"POT_EVENTS_RETENTION_DAYS": str(MIN_RETENTION_DAYS)})


def test_live_campaigns_are_the_listed_objects_once_each_in_column_form() -> None:
    items = [
        {"metadata": {"namespace": "b", "name": "x", "uid": "2"}},
        {"metadata": {"namespace": "a", "name": "y", "uid": "1"}},
        {"metadata": {"namespace": "a", "name": "y", "uid": "1"}},  # listed twice (two pages raced)
    ]
    live = LiveCampaigns.from_objects(items)
    assert (live.namespaces, live.names, live.uids) == (["a", "b"], ["y", "x"], ["1", "2"])


def test_no_campaigns_listed_is_an_empty_list_not_none() -> None:
    live = LiveCampaigns.from_objects([])
    assert (live.namespaces, live.names, live.uids) == ([], [], [])


def test_a_full_batch_asks_for_another_a_short_one_ends_the_pass() -> None:
    assert more_to_do(10_000, 10_000)
    assert not more_to_do(9_999, 10_000)
    assert not more_to_do(0, 10_000)


def test_batches_are_small_and_paced() -> None:
    assert retention.BATCH <= 10_000
    assert retention.PAUSE_SECONDS > 0


def test_only_the_outcomes_campaign_status_counts_are_kept_for_live_campaigns() -> None:
    from pot_operator import db

    counts_sql = db.sql("campaign_counts")
    for outcome in retention.COUNTED_OUTCOMES:
        assert f"'{outcome}'" in counts_sql


def test_counts_are_final_once_an_ended_campaign_has_nothing_in_a_workers_hands() -> None:
    from pot_operator.retention import counts_final_due

    idle = {"in_flight": 0, "final": False}
    assert counts_final_due("Completed", "Completed", idle)
    assert counts_final_due("Failed", "Failed", idle)
    # The scan that completes it waits a scan: a job claimed as it ended may still finish.
    assert not counts_final_due("Running", "Completed", idle)
    assert not counts_final_due("Running", "Running", idle)
    assert not counts_final_due("Paused", "Paused", idle)
    assert not counts_final_due("Completed", "Completed", {"in_flight": 1, "final": False})
    assert not counts_final_due("Completed", "Completed", {"in_flight": 0, "final": True})  # written once


def test_frozen_counts_replace_the_live_ones_and_times_come_back_as_times() -> None:
    from pot_operator import db

    sent_at = dt.datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=dt.UTC)
    live = {key: 7 for key in db.JOB_COUNTS + db.FEEDBACK_COUNTS} | {
        "first_sent_at": sent_at,
        "last_final_at": sent_at,
        "next_due_at": None,
        "in_flight": 0,
        "sent_today": 0,
    }
    final = db.frozen_json(live, db.JOB_COUNTS)
    feedback = db.frozen_json(live, db.FEEDBACK_COUNTS)

    # The jobs gone: the live columns are zeros, the row's JSON says what they were.
    gone = {key: 0 for key in live} | {"first_sent_at": None, "last_final_at": None, "next_due_at": None}
    merged = db.merged_counts(gone | {"final_counts": final, "final_feedback": feedback})
    assert {k: v for k, v in merged.items() if k not in ("final", "frozen")} == live
    assert merged["first_sent_at"] == sent_at and isinstance(merged["first_sent_at"], dt.datetime)
    assert (merged["final"], merged["frozen"]) == (True, True)


def test_until_the_feedback_is_frozen_it_is_counted_live() -> None:
    from pot_operator import db

    live = {key: 1 for key in db.JOB_COUNTS + db.FEEDBACK_COUNTS} | {
        "first_sent_at": None,
        "last_final_at": None,
        "next_due_at": None,
    }
    final = db.frozen_json(live, db.JOB_COUNTS)
    later = live | {"replied": 2, "unsubscribed": 3, "sent": 0}  # a reply and an unsubscribe after the end
    merged = db.merged_counts(later | {"final_counts": final, "final_feedback": None})
    assert (merged["replied"], merged["unsubscribed"], merged["sent"]) == (2, 3, 1)
    assert (merged["final"], merged["frozen"]) == (True, False)
    assert db.merged_counts(later | {"final_counts": None, "final_feedback": None})["sent"] == 0
