"""The alert routing: each route's channel, dedup, and Vault errors turned into safe config errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pot_alerts.routing import AlertConfigError, Alerter, AlertSettings, channels
from pot_alerts.senders import AlertPolicy
from pot_common.api.pool import AlertRoutes, TelegramRoute
from pot_common.vault import (
    SecretNotFound,
    VaultConfig,
    VaultError,
    VaultForbidden,
    VaultKV,
    VaultNotConfigured,
    VaultUnavailable,
)

ROUTES = AlertRoutes.model_validate(
    {"telegram": {"chatId": "-100", "tokenVaultPath": "alerts/t"}, "slack": {"webhookVaultPath": "alerts/s"}}
)


def test_each_route_is_a_channel_that_names_its_secret_inside_the_namespace_folder() -> None:
    found = channels(ROUTES, AlertSettings(), "ns")
    assert [(c.name, c.vault_path, c.field, c.refused) for c in found] == [
        ("telegram", "pot/ns/alerts/t", "token", ""),
        ("slack", "pot/ns/alerts/s", "url", ""),
    ]
    assert [c.route("ns", "p") for c in found] == ["telegram:ns/p", "slack:ns/p"]
    assert channels(None, AlertSettings(), "ns") == []
    only_slack = AlertRoutes.model_validate({"slack": {"webhookVaultPath": "alerts/s"}})
    assert [c.name for c in channels(only_slack, AlertSettings(), "ns")] == ["slack"]
    # Another prefix moves every tenant's folder; another namespace never reaches this one's.
    moved = channels(ROUTES, AlertSettings(vault_tenant_prefix="tenants"), "acme")
    assert [c.vault_path for c in moved] == ["tenants/acme/alerts/t", "tenants/acme/alerts/s"]
    # What another tenant's pool would have to write to name acme's secret stays in its own folder.
    borrowed = AlertRoutes.model_validate(
        {"telegram": {"chatId": "-1", "tokenVaultPath": "pot/acme/alerts/t"}}
    )
    assert [c.vault_path for c in channels(borrowed, AlertSettings(), "evil")] == [
        "pot/evil/pot/acme/alerts/t"
    ]


def test_a_path_that_would_leave_the_namespace_folder_is_refused_and_never_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The CRD refuses such paths; an object stored before that rule still must not reach another tenant.
    climbing = AlertRoutes.model_construct(
        telegram=TelegramRoute.model_construct(chat_id="-1", token_vault_path="../acme/alerts/t"), slack=None
    )
    (channel,) = channels(climbing, AlertSettings(), "evil")
    assert channel.vault_path == "" and "must be relative to the namespace's folder" in channel.refused
    asked: list[str] = []

    def read_secret(path: str, field: str) -> str:
        asked.append(path)
        return "x"

    alerter = Alerter(AlertSettings(), None, read_secret=read_secret)
    with caplog.at_level(logging.WARNING, logger="pot_alerts.routing"):
        assert alerter.notify("evil", "p", climbing, "AutoPaused", "paused") == 0
    assert asked == []
    assert any(
        r.getMessage().startswith("Refused alert route: route=telegram:evil/p") for r in caplog.records
    )


def test_settings_hide_the_slack_base_and_default_the_dedup() -> None:
    settings = AlertSettings(slack_webhook_url="https://proxy.example/Zq9")
    assert "Zq9" not in repr(settings)
    assert Alerter(AlertSettings(dedup_seconds=42), None).policy.dedup_s == 42


async def test_alerts_dedup_and_a_failing_route_is_a_log_line_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked: list[tuple[str, str]] = []

    def read_secret(path: str, field: str) -> str:
        asked.append((path, field))
        raise AlertConfigError(f"no secret at secret/{path}")

    alerter = Alerter(
        AlertSettings(), None, policy=AlertPolicy(dedup_s=60, clock=lambda: 0.0), read_secret=read_secret
    )
    with caplog.at_level(logging.WARNING, logger="pot_alerts.routing"):
        assert alerter.notify("ns", "p", ROUTES, "AutoPaused", "paused") == 2
        assert alerter.notify("ns", "p", ROUTES, "AutoPaused", "paused again") == 0  # deduplicated
        assert alerter.notify("ns", "p", ROUTES, "Resumed", "resumed") == 2
        assert alerter.notify("ns", "p", None, "AutoPaused", "no routes") == 0
        await alerter.drain()
    assert sorted(set(asked)) == [("pot/ns/alerts/s", "url"), ("pot/ns/alerts/t", "token")]
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sending alert failed")]
    assert len(failures) == 4
    assert all("no secret at secret/pot/ns/alerts/" in f for f in failures)


class FakeVault(VaultKV):
    """Answers `read` with a fixed secret or raises the given error, as VaultKV would."""

    def __init__(self, answer: dict[str, Any] | VaultError) -> None:
        super().__init__(VaultConfig(addr="http://127.0.0.1:1", token="t", mount="kv"))
        self.answer = answer

    def read(self, path: str) -> dict[str, Any]:
        if isinstance(self.answer, VaultError):
            raise self.answer
        return self.answer


def unavailable() -> VaultUnavailable:
    try:
        try:
            raise ConnectionRefusedError("http://127.0.0.1:1 refused")
        except OSError:
            raise VaultUnavailable("Vault did not answer: ConnectionRefusedError") from None
    except VaultUnavailable as e:
        return e


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (VaultNotConfigured("POT_VAULT_ADDR is not set"), "POT_VAULT_ADDR is not set on the operator"),
        (SecretNotFound("No secret at kv/pot/t in Vault"), "no secret at kv/pot/t"),
        (VaultForbidden("denied"), "the operator's Vault policy does not allow reading pot/t"),
        (unavailable(), "Vault did not answer for pot/t: ConnectionRefusedError"),
        ({"other": "x"}, "the secret at pot/t has no field `token`"),
        ({"token": ""}, "the secret at pot/t has no field `token`"),
    ],
)
def test_vault_errors_become_safe_config_errors(answer: dict[str, Any] | VaultError, message: str) -> None:
    alerter = Alerter(AlertSettings(), FakeVault(answer))
    with pytest.raises(AlertConfigError) as info:
        alerter._vault_field("pot/t", "token")
    assert str(info.value) == message


def test_a_secret_field_is_read_through_the_vault_client() -> None:
    assert Alerter(AlertSettings(), FakeVault({"token": "123:x"}))._vault_field("pot/t", "token") == "123:x"
    with pytest.raises(AlertConfigError, match="POT_VAULT_ADDR is not set on the operator"):
        Alerter(AlertSettings(), None)._vault_field("pot/t", "token")
