"""The worker's Prometheus metrics (names as in docs/contracts.md); set by the runner, planner, dispatcher
and archive.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SENDS = Counter("pot_sends", "Send attempts by outcome.", ["pool", "mailbox", "outcome"])
SMTP_LATENCY = Histogram(
    "pot_smtp_latency_seconds",
    "Time from MAIL FROM (or connect) to the server's final reply, per message.",
    ["pool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CLAIM_SIZE = Gauge(
    "pot_claim_size", "Jobs the next claim asks for (adapts between the two batch sizes).", ["pool"]
)
QUEUE_LAG = Gauge("pot_queue_lag_seconds", "Age of the oldest due, unclaimed job.", ["pool"])
LIMIT_REFUSALS = Counter(
    "pot_limit_refusals", "Reservations refused, by the refusing level.", ["pool", "level"]
)
CIRCUIT_OPEN = Gauge(
    "pot_circuit_open", "1 while the provider's circuit is open or half-open.", ["pool", "provider"]
)
WORKER_ERRORS = Counter("pot_worker_errors", "Errors the worker recovered from, by kind.", ["pool", "kind"])
TRANSCRIPTS = Counter(
    "pot_transcripts",
    "SMTP transcripts (one per job attempt) by what became of them: written, dropped_full (the store was "
    "slow or away and the queue full), dropped_no_keys (the namespace's store keys are missing and one "
    "batch is already held), dropped_shutdown (not written before the worker exited).",
    ["pool", "result"],
)
TRANSCRIPT_UPLOADS = Counter(
    "pot_transcript_uploads", "Transcript batch uploads by result (ok, failed: retried).", ["pool", "result"]
)
TRANSCRIPTS_UNAVAILABLE = Gauge(
    "pot_transcripts_unavailable",
    "1 while transcripts cannot be written, by reason: keys (the namespace's store keys are not in Vault, "
    "incomplete or refused, or no Vault), vault (Vault did not answer), store (the store refused or is "
    "away). Sends go on either way.",
    ["pool", "reason"],
)
