"""pot-operator's command line and settings: peering priority, served namespaces, chart-aligned defaults."""

from __future__ import annotations

import random

from pot_operator.cli import PRIORITY_RANGE, parse_args, peering_priority, served_namespaces
from pot_operator.config import Settings, split_namespaces


def test_a_given_priority_is_kept_even_zero() -> None:
    assert peering_priority(7, peering=True) == 7
    assert peering_priority(0, peering=True) == 0


def test_standalone_without_a_priority_runs_at_zero() -> None:
    assert peering_priority(None, peering=False) == 0


def test_peers_without_a_priority_pick_a_random_nonzero_one() -> None:
    rng = random.Random(42)
    picks = {peering_priority(None, peering=True, rng=rng) for _ in range(200)}
    low, high = PRIORITY_RANGE
    assert all(low <= p <= high for p in picks)
    assert 0 not in picks
    assert len(picks) > 150  # two replicas almost never tie


def test_priority_flag_reads_pot_priority(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POT_PRIORITY", "12")
    assert parse_args(["--peering", "pot"]).priority == 12
    monkeypatch.delenv("POT_PRIORITY")
    assert parse_args(["--peering", "pot"]).priority is None
    monkeypatch.setenv("POT_PRIORITY", "")
    assert parse_args([]).priority is None


def test_pot_namespace_is_a_comma_separated_list() -> None:
    assert split_namespaces("a, b,,c ,a") == ("a", "b", "c")
    assert split_namespaces("") == ()
    assert Settings.from_env({"POT_NAMESPACE": "team-a,team-b"}).namespaces == ("team-a", "team-b")


def test_namespace_flags_win_over_the_environment() -> None:
    assert served_namespaces(["x", "y,z"], "a,b") == ["x", "y", "z"]
    assert served_namespaces(None, "a,b") == ["a", "b"]
    assert served_namespaces(None, "") == []


def test_defaults_match_the_chart() -> None:
    # charts/pot: one image ghcr.io/pot-dev/pot for both programs; config.secretName `pot-env`.
    s = Settings.from_env({})
    assert s.worker_image.startswith("ghcr.io/pot-dev/pot:")
    assert s.worker_secret == "pot-env"
    assert s.namespaces == ()


def test_secrets_stay_out_of_the_settings_repr() -> None:
    s = Settings.from_env({"POT_VAULT_TOKEN": "tok-123", "POT_SLACK_WEBHOOK_URL": "https://hooks/x/Zq9"})
    assert "tok-123" not in repr(s)
    assert "Zq9" not in repr(s)


def test_plain_log_lines_carry_a_timestamp() -> None:
    import logging
    import re

    from kopf._core.actions.loggers import make_formatter
    from pot_operator.cli import LOG_FORMATS

    formatter = make_formatter(LOG_FORMATS["plain"])  # type: ignore[arg-type]
    record = logging.LogRecord("pot_operator", logging.INFO, __file__, 1, "Started pot-operator", None, None)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} Started pot-operator$", formatter.format(record))
