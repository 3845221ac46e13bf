"""Alert policy (dedup and per-route rate limit with an injected clock), message splitting, webhook bases."""

from __future__ import annotations

import pytest
from pot_alerts.senders import AlertPolicy, SlackSender, TelegramSender, rebase_webhook, split_text


def test_same_alert_is_sent_once_per_dedup_window() -> None:
    now = [0.0]
    policy = AlertPolicy(dedup_s=600, clock=lambda: now[0])
    assert policy.decide("ops", "pool-a paused").send
    now[0] = 599
    second = policy.decide("ops", "pool-a paused")
    assert not second.send and "duplicate" in second.reason
    assert policy.decide("ops", "pool-b paused").send
    now[0] = 600
    assert policy.decide("ops", "pool-a paused").send


def test_forget_makes_the_next_alert_news() -> None:
    policy = AlertPolicy(dedup_s=600, clock=lambda: 0.0)
    assert policy.decide("ops", "k").send
    policy.forget("ops", "k")
    assert policy.decide("ops", "k").send


def test_route_rate_limit_uses_a_sliding_window() -> None:
    now = [0.0]
    policy = AlertPolicy(dedup_s=0, max_per_window=3, window_s=60, clock=lambda: now[0])
    sent = []
    for i in range(5):
        now[0] = i * 10
        sent.append(policy.decide("ops", f"k{i}").send)
    assert sent == [True, True, True, False, False]
    assert policy.suppressed == {"ops": 2}
    assert policy.decide("other-route", "k").send
    now[0] = 60  # the first alert (t=0) left the window
    assert policy.decide("ops", "k9").send


def test_suppressed_alerts_do_not_use_up_the_rate_limit() -> None:
    policy = AlertPolicy(dedup_s=1000, max_per_window=2, window_s=1000, clock=lambda: 0.0)
    assert policy.decide("ops", "a").send
    for _ in range(5):
        assert not policy.decide("ops", "a").send
    assert policy.decide("ops", "b").send


def test_long_text_splits_at_line_breaks() -> None:
    text = "\n".join(f"line {i:04d}" for i in range(1000))
    chunks = split_text(text, 4096)
    assert all(len(c) <= 4096 for c in chunks) and len(chunks) == 3
    assert "\n".join(chunks) == text


def test_reprs_hide_secrets() -> None:
    assert "123:secret" not in repr(TelegramSender("123:secret", base_url="http://x"))
    hook = "https://hooks.example/services/T0/B0/secret"
    assert "T0/B0/secret" not in repr(SlackSender(hook))
    assert "T0/B0/secret" not in repr(SlackSender(hook, base_url=hook))  # a whole webhook set as the base


def test_webhook_rebased_onto_the_configured_base() -> None:
    url = "https://hooks.slack.com/services/T0/B0/abc?x=1"
    assert rebase_webhook(url, "") == url
    assert rebase_webhook(url, "http://127.0.0.1:9000/") == "http://127.0.0.1:9000/services/T0/B0/abc?x=1"


def test_slack_base_defaults_to_the_environment_like_telegrams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POT_SLACK_WEBHOOK_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("POT_TELEGRAM_API_URL", "http://127.0.0.1:9001")
    assert SlackSender("https://hooks.slack.com/services/T0/B0/abc").base_url == "http://127.0.0.1:9000"
    assert TelegramSender("1:x").base_url == "http://127.0.0.1:9001"
    assert SlackSender("https://hooks.slack.com/services/T0/B0/abc", base_url="").base_url == ""
    monkeypatch.delenv("POT_SLACK_WEBHOOK_URL")
    assert SlackSender("https://hooks.slack.com/services/T0/B0/abc").base_url == ""
