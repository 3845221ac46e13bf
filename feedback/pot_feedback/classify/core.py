"""classify(): raw RFC 5322 bytes → Verdict, never an exception; the entry point of pot_feedback.classify."""

from __future__ import annotations

from pot_feedback.classify.verdict import UNKNOWN, Verdict


def classify(raw: bytes) -> Verdict:
    """What `raw` (one message as fetched from the inbox) says about an earlier send."""
    return UNKNOWN
