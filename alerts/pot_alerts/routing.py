"""The operator's alerts to a pool's Telegram chat and Slack webhook: fire-and-forget, deduplicated.

Called by the pool controller (auto-pause, resume, blocklist hits) and the campaign controller
(preflight failure, completion). Sending never blocks or fails a reconcile: each alert is a
background task whose failure is a log line and a metric. Tokens and webhook URLs are read from
Vault when sending and kept nowhere: not in logs, Events, status or exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any

import hvac.exceptions
import requests
from pot_common.api.pool import AlertRoutes

from pot_operator import metrics
from pot_operator.config import Settings
from pot_operator.credentials import VaultClient
from pot_alerts.senders import (
    TELEGRAM_DEFAULT_BASE,
    AlertError,
    AlertPolicy,
    SlackSender,
    TelegramSender,
)

log = logging.getLogger(__name__)


class AlertConfigError(Exception):
    """The route's secret is missing or unreadable; the message names the path, never the value."""


def rebase_webhook(url: str, base: str) -> str:
    """The webhook with its scheme and host replaced by `base` (POT_SLACK_WEBHOOK_URL), path kept.

    A proxy, or the local fake in tests, stands in for hooks.slack.com without rewriting Vault.
    """
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    root = base.rstrip("/")
    return f"{root}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def route_ids(namespace: str, pool: str, routes: AlertRoutes | None) -> list[str]:
    """`telegram:<ns>/<pool>` and/or `slack:<ns>/<pool>`: the AlertPolicy's rate-limit buckets."""
    if routes is None:
        return []
    ids = []
    if routes.telegram is not None:
        ids.append(f"telegram:{namespace}/{pool}")
    if routes.slack is not None:
        ids.append(f"slack:{namespace}/{pool}")
    return ids


class Alerter:
    """One per operator process: the dedup/rate-limit policy and the in-flight sends."""

    def __init__(
        self,
        settings: Settings,
        vault: VaultClient,
        *,
        policy: AlertPolicy | None = None,
        read_secret: Callable[[str, str], str] | None = None,
    ) -> None:
        self.settings = settings
        self.vault = vault
        self.policy = policy or AlertPolicy(dedup_s=settings.alert_dedup)
        self._read_secret = read_secret or self._vault_field
        self._tasks: set[asyncio.Task[None]] = set()

    def _vault_field(self, path: str, field: str) -> str:
        if not self.settings.vault_addr:
            raise AlertConfigError("POT_VAULT_ADDR is not set on the operator")
        try:
            response = self.vault.client().secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.settings.vault_mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            raise AlertConfigError(f"no secret at {self.settings.vault_mount}/{path}") from None
        except hvac.exceptions.Forbidden:
            raise AlertConfigError(f"the operator's Vault policy does not allow reading {path}") from None
        except (requests.RequestException, hvac.exceptions.VaultError) as e:
            raise AlertConfigError(f"Vault did not answer for {path}: {type(e).__name__}") from None
        value = ((response.get("data") or {}).get("data") or {}).get(field)
        if not value:
            raise AlertConfigError(f"the secret at {path} has no field `{field}`")
        return str(value)

    def notify(self, namespace: str, pool: str, routes: AlertRoutes | None, key: str, text: str) -> int:
        """Queue `text` to each of the pool's routes that the policy lets through; returns how many.

        `key` names the situation (e.g. `AutoPaused`, `preflight:<campaign>`): the same key on the
        same route is sent once per dedup period.
        """
        if routes is None:
            return 0
        queued = 0
        if routes.telegram is not None:
            route = f"telegram:{namespace}/{pool}"
            decision = self.policy.decide(route, key)
            if decision.send:
                telegram = routes.telegram
                self._spawn(
                    "telegram", self._telegram(telegram.token_vault_path, telegram.chat_id, text), route, key
                )
                queued += 1
            else:
                metrics.alerts_suppressed.labels("telegram").inc()
                log.debug("Suppressed alert: route=%s key=%s why=%s", route, key, decision.reason)
        if routes.slack is not None:
            route = f"slack:{namespace}/{pool}"
            decision = self.policy.decide(route, key)
            if decision.send:
                self._spawn("slack", self._slack(routes.slack.webhook_vault_path, text), route, key)
                queued += 1
            else:
                metrics.alerts_suppressed.labels("slack").inc()
                log.debug("Suppressed alert: route=%s key=%s why=%s", route, key, decision.reason)
        return queued

    def _spawn(self, channel: str, coro: Coroutine[Any, Any, None], route: str, key: str) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            error = t.exception()
            if error is None:
                metrics.alerts_sent.labels(channel).inc()
                log.info("Sent alert: route=%s key=%s", route, key)
                return
            kind = "config" if isinstance(error, AlertConfigError) else "send"
            metrics.alert_failures.labels(channel, kind).inc()
            # AlertError and AlertConfigError messages are written to be safe; anything else is named only.
            why = str(error) if isinstance(error, AlertError | AlertConfigError) else type(error).__name__
            log.warning("Sending alert failed: route=%s key=%s error=%s", route, key, why)

        task.add_done_callback(done)

    async def _telegram(self, path: str, chat_id: str, text: str) -> None:
        token = await asyncio.to_thread(self._read_secret, path, "token")
        base = self.settings.telegram_api_url or TELEGRAM_DEFAULT_BASE
        await TelegramSender(token, base_url=base).send(chat_id, text)

    async def _slack(self, path: str, text: str) -> None:
        url = await asyncio.to_thread(self._read_secret, path, "url")
        await SlackSender(webhook_url=rebase_webhook(url, self.settings.slack_webhook_url)).send(text)

    async def drain(self) -> None:
        """Wait for in-flight alerts (each send has its own HTTP timeout); at shutdown and in tests."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))
