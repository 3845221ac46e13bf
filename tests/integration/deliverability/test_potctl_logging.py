"""potctl with library logging turned all the way up still never prints a bot token (httpx logs URLs)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

TOKEN = "123:test-token"


def test_send_telegram_at_debug_logs_but_never_the_token(fake_chat: Any) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "potctl.main",
            "--log-level",
            "DEBUG",
            "send-telegram",
            "paused",
            "--chat-id",
            "42",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "POT_TELEGRAM_API_URL": fake_chat.url, "POT_TELEGRAM_TOKEN": TOKEN},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert fake_chat.telegram_messages[0]["text"] == "paused"
    # DEBUG is really on (asyncio announces its event loop at DEBUG), so silence is not the reason.
    assert "DEBUG asyncio" in result.stderr, result.stderr
    output = result.stdout + result.stderr
    assert TOKEN not in output and "test-token" not in output


def test_an_unknown_log_level_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "potctl.main", "--log-level", "LOUD", "send-slack", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--log-level" in result.stderr
