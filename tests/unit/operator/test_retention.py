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
