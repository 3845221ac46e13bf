"""Telegram and Slack alert senders plus the dedup/rate-limit policy; used by pot_alerts.routing and potctl.

Tokens and webhook URLs are secrets: they appear in no log line, exception or repr here. Each sender
has an overridable API base (POT_TELEGRAM_API_URL, POT_SLACK_WEBHOOK_URL) so a proxy or the local
stack's fake chat can stand in for the real service.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TELEGRAM_DEFAULT_BASE = "https://api.telegram.org"
TELEGRAM_MAX_TEXT = 4096  # Bot API limit for one message
PARSE_MODES = ("MarkdownV2", "HTML", "Markdown")


class AlertError(Exception):
    """A send failed; the message is safe to log (no token, no webhook URL)."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


def split_text(text: str, limit: int = TELEGRAM_MAX_TEXT) -> list[str]:
    """Chunks of at most `limit` characters, cut at line breaks where possible."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not chunks:
        chunks.append(text)
    return chunks


@dataclass(repr=False)
class TelegramSender:
    """Bot API sendMessage. `base_url` defaults to POT_TELEGRAM_API_URL, then api.telegram.org."""

    token: str
    base_url: str = field(
        default_factory=lambda: os.environ.get("POT_TELEGRAM_API_URL", TELEGRAM_DEFAULT_BASE)
    )
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        return f"TelegramSender(base_url={self.base_url!r}, token=<hidden>)"

    async def send(
        self, chat_id: str, text: str, *, parse_mode: str | None = None, silent: bool = False
    ) -> list[dict[str, Any]]:
        """Send `text` (split into 4096-character messages); returns the Bot API `result` objects."""
        if parse_mode is not None and parse_mode not in PARSE_MODES:
            raise AlertError(f"parse mode must be one of {', '.join(PARSE_MODES)}", permanent=True)
        results = []
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/sendMessage"
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for chunk in split_text(text):
                payload: dict[str, Any] = {"chat_id": chat_id, "text": chunk, "disable_notification": silent}
                if parse_mode:
                    payload["parse_mode"] = parse_mode
                try:
                    response = await client.post(url, json=payload)
                except httpx.HTTPError as exc:
                    # httpx puts the URL (with the token) in some messages: name only the kind of failure.
                    raise AlertError(f"Telegram unreachable: {exc.__class__.__name__}") from None
                try:
                    body = response.json()
                except ValueError:
                    raise AlertError(f"Telegram answered HTTP {response.status_code} without JSON") from None
                if not body.get("ok"):
                    retry = (body.get("parameters") or {}).get("retry_after")
                    code = body.get("error_code", response.status_code)
                    raise AlertError(
                        f"Telegram refused the message: {code} {body.get('description', '')}".strip(),
                        retry_after=float(retry) if retry is not None else None,
                        permanent=code in (400, 401, 403, 404),
                    )
                results.append(body["result"])
        return results


def rebase_webhook(url: str, base: str) -> str:
    """The webhook with its scheme and host replaced by `base`, path and query kept; `url` when no base.

    A proxy, or the local fake chat in tests, stands in for hooks.slack.com without rewriting the
    webhook itself (which is a secret, kept in Vault or POT_SLACK_WEBHOOK).
    """
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    root = base.rstrip("/")
    return f"{root}{parts.path}" + (f"?{parts.query}" if parts.query else "")


@dataclass(repr=False)
class SlackSender:
    """A Slack incoming webhook (the whole URL is the secret).

    `base_url` plays the part POT_TELEGRAM_API_URL plays for Telegram: when set, it replaces the
    webhook's scheme and host (see `rebase_webhook`); it defaults to POT_SLACK_WEBHOOK_URL.
    """

    webhook_url: str
    base_url: str = field(default_factory=lambda: os.environ.get("POT_SLACK_WEBHOOK_URL", ""))
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        # The base stays hidden too: a base set to a whole webhook by mistake would be the secret.
        return "SlackSender(webhook_url=<hidden>)"

    async def send(self, text: str) -> None:
        if not self.webhook_url:
            raise AlertError("no Slack webhook URL configured", permanent=True)
        url = rebase_webhook(self.webhook_url, self.base_url)
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            try:
                response = await client.post(url, json={"text": text})
            except httpx.HTTPError as exc:
                raise AlertError(f"Slack unreachable: {exc.__class__.__name__}") from None
        if response.status_code != 200:
            retry = response.headers.get("Retry-After")
            raise AlertError(
                f"Slack refused the message: HTTP {response.status_code} {response.text[:200]}",
                retry_after=float(retry) if retry else None,
                permanent=response.status_code in (400, 403, 404, 410),
            )


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str


class AlertPolicy:
    """Which alerts go out: the same (route, key) at most once per `dedup_s`, and at most `max_per_window`
    alerts per route per `window_s`. Pure, with an injected clock; the operator keeps one per process."""

    def __init__(
        self,
        *,
        dedup_s: float = 3600.0,
        max_per_window: int = 20,
        window_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dedup_s = dedup_s
        self.max_per_window = max_per_window
        self.window_s = window_s
        self.clock = clock
        self._last_sent: dict[tuple[str, str], float] = {}
        self._sent: dict[str, deque[float]] = {}
        self.suppressed: dict[str, int] = {}

    def decide(self, route: str, key: str) -> Decision:
        """Call once per alert that wants to go out; a `send=True` answer is counted as sent."""
        now = self.clock()
        last = self._last_sent.get((route, key))
        if last is not None and now - last < self.dedup_s:
            self.suppressed[route] = self.suppressed.get(route, 0) + 1
            return Decision(False, f"duplicate of an alert sent {now - last:.0f}s ago")
        sent = self._sent.setdefault(route, deque())
        while sent and now - sent[0] >= self.window_s:
            sent.popleft()
        if len(sent) >= self.max_per_window:
            self.suppressed[route] = self.suppressed.get(route, 0) + 1
            return Decision(False, f"route {route} already sent {len(sent)} alerts in {self.window_s:.0f}s")
        sent.append(now)
        self._last_sent[(route, key)] = now
        return Decision(True, "sent")

    def forget(self, route: str, key: str) -> None:
        """A condition cleared (e.g. a pool resumed): the next alert with this key is news again."""
        self._last_sent.pop((route, key), None)
