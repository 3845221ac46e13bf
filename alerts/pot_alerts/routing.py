"""A pool's alerts to its Telegram chat and Slack webhook, fire-and-forget and deduplicated: the Alerter.

Called by the pool controller (auto-pause, resume, blocklist hits) and the campaign controller
(preflight failure, completion). Sending never blocks or fails a reconcile: each alert is a
background task whose failure is a log line and a metric. Tokens and webhook URLs are read from
Vault when sending and kept nowhere: not in logs, Events, status or exceptions.

Every route takes the same path (policy → read its secret → send); a route differs only in which
secret field it reads and how the sender is built from it (`channels`). A route's Vault path is
relative to its pool's namespace folder (`<prefix>/<namespace>/`, pot_common.vault.tenant_path): one
tenant's pool can never read another tenant's bot token or webhook.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pot_common.vault import (
    DEFAULT_TENANT_PREFIX,
    SecretNotFound,
    VaultError,
    VaultForbidden,
    VaultNotConfigured,
    VaultPathOutsideTenant,
    tenant_path,
)

from pot_alerts import metrics
from pot_alerts.senders import TELEGRAM_DEFAULT_BASE, AlertError, AlertPolicy, SlackSender, TelegramSender

if TYPE_CHECKING:
    from pot_common.api.pool import AlertRoutes
    from pot_common.vault import VaultKV

log = logging.getLogger(__name__)


class AlertConfigError(Exception):
    """The route's secret is missing or unreadable; the message names the path, never the value."""


@dataclasses.dataclass(frozen=True)
class AlertSettings:
    """What the Alerter takes from its process's settings; the operator builds it from its POT_* variables."""

    # POT_TELEGRAM_API_URL: the Bot API base; empty uses api.telegram.org.
    telegram_api_url: str = ""
    # POT_SLACK_WEBHOOK_URL: when set, replaces the scheme and host of every webhook read from Vault.
    slack_webhook_url: str = dataclasses.field(default="", repr=False)
    # POT_ALERT_DEDUP: seconds during which the same alert on the same route is not repeated.
    dedup_seconds: float = 3600.0
    # POT_VAULT_TENANT_PREFIX: a route's Vault path is read under <prefix>/<pool namespace>/.
    vault_tenant_prefix: str = DEFAULT_TENANT_PREFIX


@dataclasses.dataclass(frozen=True)
class Channel:
    """One configured route of a pool: where its secret is, and how a message goes out given the secret."""

    name: str  # telegram or slack: the metrics label and the route's prefix
    vault_path: str  # resolved inside the namespace's folder; "" when refused
    field: str  # the secret's field in Vault: `token` (Telegram) or `url` (Slack)
    deliver: Callable[[str, str], Awaitable[object]] = dataclasses.field(compare=False)  # (secret, text)
    refused: str = ""  # why the path is never read: it would leave the namespace's folder

    def route(self, namespace: str, pool: str) -> str:
        """`telegram:<ns>/<pool>`: the AlertPolicy's dedup and rate-limit bucket."""
        return f"{self.name}:{namespace}/{pool}"


def channels(routes: AlertRoutes | None, settings: AlertSettings, namespace: str) -> list[Channel]:
    """The routes of a pool in `namespace`, Telegram first, their paths resolved inside the namespace's
    folder; pure: nothing is read or sent here."""
    if routes is None:
        return []
    found = []
    if (telegram := routes.telegram) is not None:
        base, chat_id = settings.telegram_api_url or TELEGRAM_DEFAULT_BASE, telegram.chat_id
        found.append(
            _channel(
                "telegram",
                telegram.token_vault_path,
                "token",
                lambda token, text: TelegramSender(token, base_url=base).send(chat_id, text),
                namespace,
                settings,
            )
        )
    if (slack := routes.slack) is not None:
        found.append(
            _channel(
                "slack",
                slack.webhook_vault_path,
                "url",
                lambda url, text: SlackSender(url, base_url=settings.slack_webhook_url).send(text),
                namespace,
                settings,
            )
        )
    return found


def _channel(
    name: str,
    relative: str,
    field: str,
    deliver: Callable[[str, str], Awaitable[object]],
    namespace: str,
    settings: AlertSettings,
) -> Channel:
    try:
        path = tenant_path(namespace, relative, settings.vault_tenant_prefix)
    except VaultPathOutsideTenant as e:
        return Channel(name, "", field, deliver, refused=str(e))
    return Channel(name, path, field, deliver)


class Alerter:
    """One per operator process: the dedup/rate-limit policy and the in-flight sends."""

    def __init__(
        self,
        settings: AlertSettings,
        vault: VaultKV | None,
        *,
        policy: AlertPolicy | None = None,
        read_secret: Callable[[str, str], str] | None = None,
    ) -> None:
        self.settings = settings
        self.vault = vault
        self.policy = policy or AlertPolicy(dedup_s=settings.dedup_seconds)
        self._read_secret = read_secret or self._vault_field
        self._tasks: set[asyncio.Task[None]] = set()

    def _vault_field(self, path: str, field: str) -> str:
        if self.vault is None:
            raise AlertConfigError("POT_VAULT_ADDR is not set on the operator")
        try:
            data = self.vault.read(path)
        except VaultNotConfigured as e:
            raise AlertConfigError(f"{e} on the operator") from None
        except SecretNotFound:
            raise AlertConfigError(f"no secret at {self.vault.config.mount}/{path}") from None
        except VaultForbidden:
            raise AlertConfigError(f"the operator's Vault policy does not allow reading {path}") from None
        except VaultError as e:
            # VaultKV hides the client's exception behind `from None` (its message may hold a URL);
            # the type name of that exception, still its __context__, is what this message names.
            cause = type(e.__context__ or e).__name__
            raise AlertConfigError(f"Vault did not answer for {path}: {cause}") from None
        value = data.get(field)
        if not value:
            raise AlertConfigError(f"the secret at {path} has no field `{field}`")
        return str(value)

    def notify(self, namespace: str, pool: str, routes: AlertRoutes | None, key: str, text: str) -> int:
        """Queue `text` to each of the pool's routes that the policy lets through; returns how many.

        `key` names the situation (e.g. `AutoPaused`, `preflight:<campaign>`): the same key on the
        same route is sent once per dedup period.
        """
        queued = 0
        for channel in channels(routes, self.settings, namespace):
            route = channel.route(namespace, pool)
            if channel.refused:
                metrics.alert_failures.labels(channel.name, "config").inc()
                log.warning("Refused alert route: route=%s key=%s why=%s", route, key, channel.refused)
                continue
            decision = self.policy.decide(route, key)
            if not decision.send:
                metrics.alerts_suppressed.labels(channel.name).inc()
                log.debug("Suppressed alert: route=%s key=%s why=%s", route, key, decision.reason)
                continue
            self._spawn(channel, text, route, key)
            queued += 1
        return queued

    async def _send(self, channel: Channel, text: str) -> None:
        secret = await asyncio.to_thread(self._read_secret, channel.vault_path, channel.field)
        await channel.deliver(secret, text)

    def _spawn(self, channel: Channel, text: str, route: str, key: str) -> None:
        task = asyncio.get_running_loop().create_task(self._send(channel, text))
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            error = t.exception()
            if error is None:
                metrics.alerts_sent.labels(channel.name).inc()
                log.info("Sent alert: route=%s key=%s", route, key)
                return
            kind = "config" if isinstance(error, AlertConfigError) else "send"
            metrics.alert_failures.labels(channel.name, kind).inc()
            # AlertError and AlertConfigError messages are written to be safe; anything else is named only.
            why = str(error) if isinstance(error, AlertError | AlertConfigError) else type(error).__name__
            log.warning("Sending alert failed: route=%s key=%s error=%s", route, key, why)

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Wait for in-flight alerts (each send has its own HTTP timeout); at shutdown and in tests."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))
