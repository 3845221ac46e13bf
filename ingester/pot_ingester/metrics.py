"""The ingester's Prometheus metrics (docs/feedback.md, "Metrics"); set by pot_ingester.inbox,
pot_ingester.store and pot_ingester.supervisor, read by the chart's PrometheusRule and dashboard."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

MESSAGES = Counter(
    "pot_ingester_messages",
    "Inbox messages recorded, by the classifier's kind (bounce_hard and bounce_soft for bounces) and "
    "whether they were linked to one of the mailbox's send jobs (only linked ones have effects).",
    ["pool", "kind", "linked"],
)
CONNECTIONS = Gauge(
    "pot_ingester_imap_connections", "IMAP connections open now (held, or a poll in progress).", ["pool"]
)
MAILBOXES = Gauge("pot_ingester_mailboxes", "Inboxes being read, by how: idle, poll.", ["pool", "mode"])
ERRORS = Counter(
    "pot_ingester_errors",
    "Errors the ingester recovered from, by reason: login (the server refused it), credentials (Vault "
    "or the token endpoint), imap (connection or command), postgres, plaintext_refused, crashed, "
    "message (one Postgres would not store; recorded as unknown).",
    ["pool", "reason"],
)
LAG = Gauge(
    "pot_ingester_lag_seconds",
    "For the last message recorded: seconds from its arrival in the inbox (INTERNALDATE) to its record.",
    ["pool"],
)
SUPPRESSIONS = Counter(
    "pot_ingester_suppressions", "Suppressions the ingester added, by reason.", ["pool", "reason"]
)
