"""The stack's fake chat process (`python -m pot_stack.fake_chat --store DIR`): any token or hook is taken,
each message lands as one JSON line without the secret that carried it, and SIGTERM stops it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pot_alerts.senders import SlackSender, TelegramSender
from pot_stack.fake_chat import FakeChatService, read_store
from pot_stack.stack import group_members

TOKEN = "4242:demo-token-nobody-configured"
HOOK_PATH = "/services/T9/B9/hook-nobody-configured"


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[FakeChatService]:
    service = FakeChatService(tmp_path)
    service.start()
    yield service
    service.stop()


async def test_any_token_and_hook_are_taken_and_stored_without_them(chat: FakeChatService) -> None:
    await TelegramSender(TOKEN, base_url=chat.env()["POT_TELEGRAM_API_URL"]).send("-100", "pool paused")
    await SlackSender(chat.env()["POT_SLACK_WEBHOOK_URL"] + HOOK_PATH).send("campaign done")
    await SlackSender(chat.url + "/another/hook").send("second")

    stored = read_store(chat.store)
    assert [(m["chat"]["id"], m["text"]) for m in stored["telegram"]] == [("-100", "pool paused")]
    assert [m["text"] for m in stored["slack"]] == ["campaign done", "second"]
    assert chat.store == chat.root / "chat"
    files = (chat.store / "telegram.jsonl").read_text() + (chat.store / "slack.jsonl").read_text()
    assert len(files.splitlines()) == 3 and all(json.loads(line) for line in files.splitlines())
    everything = files + chat.log_path.read_text()
    assert "demo-token" not in everything and "nobody-configured" not in everything


async def test_refusals_still_speak_the_protocol(chat: FakeChatService) -> None:
    from pot_alerts.senders import AlertError

    with pytest.raises(AlertError, match="chat not found"):
        await TelegramSender(TOKEN, base_url=chat.url).send("", "no chat id")
    with pytest.raises(AlertError, match="no_text"):
        await SlackSender(chat.url + HOOK_PATH).send("   ")
    assert read_store(chat.store) == {"telegram": [], "slack": []}


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    service = FakeChatService(tmp_path)
    service.start()
    (pid,) = service.pids()
    service.stop()
    assert group_members(pid) == []
