"""Telegram and Slack senders, and the Alerter with secrets in OpenBao, against the local fake chat."""

from __future__ import annotations

from typing import Any

import pytest
from pot_alerts.routing import Alerter, AlertSettings
from pot_alerts.senders import AlertError, SlackSender, TelegramSender
from pot_common.api.pool import AlertRoutes
from pot_common.vault import VaultConfig, VaultKV

TOKEN = "123:test-token"
HOOK = "/services/T000/B000/XXXX"


async def test_telegram_send_message(fake_chat: Any) -> None:
    results = await TelegramSender(TOKEN, base_url=fake_chat.url).send(
        "42", "*pool paused*", parse_mode="MarkdownV2"
    )
    assert results[0]["message_id"] == 1
    assert fake_chat.telegram_messages[0]["text"] == "*pool paused*"
    assert fake_chat.telegram_messages[0]["parse_mode"] == "MarkdownV2"
    assert fake_chat.telegram_messages[0]["chat"]["id"] == "42"


async def test_telegram_base_url_from_environment(fake_chat: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POT_TELEGRAM_API_URL", fake_chat.url)
    await TelegramSender(TOKEN).send("42", "hello")
    assert len(fake_chat.telegram_messages) == 1


async def test_telegram_long_text_is_sent_in_parts(fake_chat: Any) -> None:
    await TelegramSender(TOKEN, base_url=fake_chat.url).send("42", "x" * 5000)
    assert [len(m["text"]) for m in fake_chat.telegram_messages] == [4096, 904]


async def test_telegram_bad_token_error_does_not_contain_the_token(fake_chat: Any) -> None:
    with pytest.raises(AlertError) as info:
        await TelegramSender("999:wrong-token", base_url=fake_chat.url).send("42", "hi")
    assert "401 Unauthorized" in str(info.value) and "wrong-token" not in str(info.value)
    assert info.value.permanent


async def test_telegram_rate_limit_carries_retry_after(fake_chat: Any) -> None:
    fake_chat.rate_limit_after = 1
    sender = TelegramSender(TOKEN, base_url=fake_chat.url)
    await sender.send("42", "first")
    with pytest.raises(AlertError) as info:
        await sender.send("42", "second")
    assert info.value.retry_after == 7 and not info.value.permanent


async def test_telegram_unreachable_error_hides_the_url() -> None:
    from pot_stack.service import free_port

    with pytest.raises(AlertError) as info:
        await TelegramSender("123:hidden", base_url=f"http://127.0.0.1:{free_port()}").send("42", "hi")
    assert "hidden" not in str(info.value) and "unreachable" in str(info.value)


async def test_slack_webhook(fake_chat: Any) -> None:
    await SlackSender(fake_chat.url + HOOK).send("campaign done")
    assert fake_chat.slack_messages == [{"hook": HOOK, "text": "campaign done"}]


async def test_slack_unknown_hook_is_refused(fake_chat: Any) -> None:
    with pytest.raises(AlertError, match="404 no_service") as info:
        await SlackSender(fake_chat.url + "/services/T000/B000/nope").send("x")
    assert "nope" not in str(info.value)


async def test_slack_webhook_rebased_onto_a_base(fake_chat: Any) -> None:
    await SlackSender("https://hooks.slack.com" + HOOK, base_url=fake_chat.url).send("via the base")
    assert fake_chat.slack_messages == [{"hook": HOOK, "text": "via the base"}]


async def test_alerter_reads_each_routes_secret_from_vault_and_sends(fake_chat: Any, vault: Any) -> None:
    client = vault.client()
    client.secrets.kv.v2.create_or_update_secret(
        path="pot/ns/alerts/it-telegram", secret={"token": TOKEN}, mount_point="secret"
    )
    # The webhook names hooks.slack.com as a real one does; the Slack base sends it to the fake.
    client.secrets.kv.v2.create_or_update_secret(
        path="pot/ns/alerts/it-slack", secret={"url": "https://hooks.slack.com" + HOOK}, mount_point="secret"
    )
    routes = AlertRoutes.model_validate(
        {
            "telegram": {"chatId": "-100", "tokenVaultPath": "alerts/it-telegram"},
            "slack": {"webhookVaultPath": "alerts/it-slack"},
        }
    )
    settings = AlertSettings(telegram_api_url=fake_chat.url, slack_webhook_url=fake_chat.url)
    alerter = Alerter(settings, VaultKV(VaultConfig(addr=vault.addr, token=vault.token)))
    assert alerter.notify("ns", "pool", routes, "AutoPaused", "pool paused") == 2
    await alerter.drain()
    assert [m["text"] for m in fake_chat.telegram_messages] == ["pool paused"]
    assert fake_chat.slack_messages == [{"hook": HOOK, "text": "pool paused"}]
