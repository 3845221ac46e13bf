"""The operator's Prometheus metrics (names from docs/contracts.md); updated by the controllers' apply steps.

The alert metrics (pot_alerts_sent, pot_alerts_suppressed, pot_alert_failures) belong to pot_alerts.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

POOL = ["namespace", "pool"]
pool_sent_window = Gauge("pot_pool_sent_window", "Messages sent in the pool's health window", POOL)
pool_bounce_rate = Gauge("pot_pool_bounce_rate", "Bounce rate (0-1) over the pool's health window", POOL)
pool_complaint_rate = Gauge(
    "pot_pool_complaint_rate", "Complaint rate (0-1) over the pool's health window", POOL
)
pool_paused = Gauge("pot_pool_paused", "1 while the pool is paused", POOL)
pool_capacity_today = Gauge("pot_pool_capacity_today", "Messages the pool may still send today", POOL)
pool_sent_today = Gauge("pot_pool_sent_today", "Messages the pool sent today", POOL)
mailbox_health_score = Gauge(
    "pot_mailbox_health_score", "Mailbox health score 0-100", ["namespace", "mailbox"]
)
mailbox_blocklisted = Gauge(
    "pot_mailbox_blocklisted", "1 while a mailbox's domain or IP is listed", ["namespace", "mailbox"]
)
campaign_preflight_failing = Gauge(
    "pot_campaign_preflight_failing", "1 while a campaign's preflight fails", ["namespace", "campaign"]
)
reconcile_errors = Counter("pot_reconcile_errors", "Reconciliations that raised", ["kind"])


def forget_pool(namespace: str, pool: str) -> None:
    for g in (
        pool_sent_window,
        pool_bounce_rate,
        pool_complaint_rate,
        pool_paused,
        pool_capacity_today,
        pool_sent_today,
    ):
        with contextlib.suppress(KeyError):
            g.remove(namespace, pool)


def forget_campaign(namespace: str, campaign: str) -> None:
    with contextlib.suppress(KeyError):
        campaign_preflight_failing.remove(namespace, campaign)
