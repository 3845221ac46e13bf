"""The alert routing (pure or with fakes)."""

from __future__ import annotations

import logging

import pytest
from pot_alerts.routing import AlertConfigError, Alerter, rebase_webhook, route_ids
from pot_alerts.senders import AlertPolicy
from pot_common.api.pool import AlertRoutes
from pot_operator.config import Settings


def test_webhook_rebased_onto_the_configured_base() -> None:
    url = "https://hooks.slack.com/services/T0/B0/abc?x=1"
    assert rebase_webhook(url, "") == url
    assert rebase_webhook(url, "http://127.0.0.1:9000/") == "http://127.0.0.1:9000/services/T0/B0/abc?x=1"


ROUTES = AlertRoutes.model_validate(
    {"telegram": {"chatId": "-100", "tokenVaultPath": "pot/t"}, "slack": {"webhookVaultPath": "pot/s"}}
)


def test_route_ids() -> None:
    assert route_ids("ns", "p", ROUTES) == ["telegram:ns/p", "slack:ns/p"]
    assert route_ids("ns", "p", None) == []


async def test_alerts_dedup_and_a_failing_route_is_a_log_line_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked: list[tuple[str, str]] = []

    def read_secret(path: str, field: str) -> str:
        asked.append((path, field))
        raise AlertConfigError(f"no secret at secret/{path}")

    alerter = Alerter(
        Settings(), None, policy=AlertPolicy(dedup_s=60, clock=lambda: 0.0), read_secret=read_secret
    )  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="pot_alerts.routing"):
        assert alerter.notify("ns", "p", ROUTES, "AutoPaused", "paused") == 2
        assert alerter.notify("ns", "p", ROUTES, "AutoPaused", "paused again") == 0  # deduplicated
        assert alerter.notify("ns", "p", ROUTES, "Resumed", "resumed") == 2
        assert alerter.notify("ns", "p", None, "AutoPaused", "no routes") == 0
        await alerter.drain()
    assert sorted(set(asked)) == [("pot/s", "url"), ("pot/t", "token")]
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sending alert failed")]
    assert len(failures) == 4
    assert all("no secret at secret/pot/" in f for f in failures)
