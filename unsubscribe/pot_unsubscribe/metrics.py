"""The endpoint's Prometheus metrics, served on their own port by pot_unsubscribe.cli; set by the app."""

from __future__ import annotations

from prometheus_client import Counter

# result: unsubscribed (a new suppression), already (the address was suppressed before), confirm (the
# GET page), invalid (a token we did not make), bad_request, too_large, rate_limited, vault_unavailable,
# db_unavailable.
REQUESTS = Counter("pot_unsubscribe_requests_total", "Unsubscribe requests by what came of them.", ["result"])
KEY_READS = Counter("pot_unsubscribe_key_reads_total", "Reads of a tenant's unsubscribe key from Vault.")

RESULTS = (
    "unsubscribed",
    "already",
    "confirm",
    "invalid",
    "bad_request",
    "too_large",
    "rate_limited",
    "vault_unavailable",
    "db_unavailable",
)
for _result in RESULTS:
    REQUESTS.labels(result=_result)  # every series exists from the start, at 0
