"""The alert counters (pot_alerts_sent, pot_alerts_suppressed, pot_alert_failures); routing.Alerter counts.

They are served by whichever process sends alerts (today the operator, on its metrics port); the
names, labels and help texts are part of the dashboards' contract and do not change.
"""

from __future__ import annotations

from prometheus_client import Counter

alerts_sent = Counter("pot_alerts_sent", "Alerts delivered to a chat", ["channel"])
alerts_suppressed = Counter("pot_alerts_suppressed", "Alerts held back by dedup or rate limit", ["channel"])
alert_failures = Counter(
    "pot_alert_failures", "Alerts that could not be sent (kind: config or send)", ["channel", "kind"]
)
